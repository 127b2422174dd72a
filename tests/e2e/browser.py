"""Debian's headless Chromium, driven through Debian's chromedriver by selenium.

Nothing is downloaded: the chromedriver path is given to selenium (so Selenium Manager, which
would fetch a driver or a browser, is never run; ``SE_MANAGER_PATH`` points at nothing, so a
call to it would fail loudly rather than reach the network), and Chromium starts with its
background networking, component updates and sync off, on a fresh profile directory.

``Browser`` keeps the browser's console log and its network log (chromedriver's performance
log of DevTools ``Network.*`` events), read per page load by ``load``.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)
# A laptop screen.
WIDTH, HEIGHT = 1366, 900


@dataclass(frozen=True)
class Loaded:
    """What one page load left in the browser's logs."""

    url: str
    console: list[dict[str, Any]]
    requests: list[str]
    """URL of every request the page made (the page's own first), from the network log."""

    @property
    def console_errors(self) -> list[str]:
        return [e["message"] for e in self.console if e["level"] == "SEVERE"]


class Browser:
    """One headless Chromium for many page loads."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self.driver = driver

    def load(self, url: str) -> Loaded:
        """Open ``url``, wait for it to load, and return its console and network logs."""
        self.driver.get("about:blank")  # nothing of the page before is left to log
        self._drain()
        self.driver.get(url)
        console = self._log("browser")
        requests = [
            event["params"]["request"]["url"]
            for event in self._events()
            if event["method"] == "Network.requestWillBeSent"
        ]
        return Loaded(url=url, console=console, requests=requests)

    def click_link(self, text: str) -> Loaded:
        """Follow the first link whose text is ``text``, like a reader would."""
        from selenium.webdriver.common.by import By

        href = self.driver.find_element(By.LINK_TEXT, text).get_attribute("href")
        assert href is not None, f"link {text!r} has no href"
        return self.load(href)

    def alert_text(self) -> str | None:
        """The text of an open alert dialog; None when there is none."""
        try:
            return self.driver.switch_to.alert.text
        except NoAlertPresentException:
            return None

    def script(self, source: str, *args: Any) -> Any:
        return self.driver.execute_script(source, *args)

    def dark(self, on: bool) -> None:
        """Emulate ``prefers-color-scheme: dark`` (or light) for the pages loaded next."""
        value = "dark" if on else "light"
        self.driver.execute_cdp_cmd(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": value}]},
        )

    def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        """A PNG of the page: its whole height, or only the laptop-sized viewport."""
        if not full_page:
            assert self.driver.save_screenshot(str(path)), f"no screenshot written to {path}"
            return path
        height = int(self.script("return document.documentElement.scrollHeight"))
        width = int(self.script("return document.documentElement.scrollWidth"))
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def _log(self, kind: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.driver.get_log(kind)  # type: ignore[no-untyped-call]
        return entries

    def _drain(self) -> None:
        self._log("browser")
        self._log("performance")

    def _events(self) -> Iterator[dict[str, Any]]:
        for entry in self._log("performance"):
            message: dict[str, Any] = json.loads(entry["message"])["message"]
            yield message


@contextmanager
def chromium(chromium_binary: str, chromedriver: str, profile_dir: Path) -> Iterator[Browser]:
    """A headless Chromium on a fresh profile in ``profile_dir``, quit at the end."""
    options = webdriver.ChromeOptions()
    options.binary_location = chromium_binary
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir / 'profile'}")
    options.add_argument(f"--window-size={WIDTH},{HEIGHT}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    service = Service(
        executable_path=chromedriver, log_output=str(profile_dir / "chromedriver.log")
    )
    saved = {k: os.environ.get(k) for k in ("SE_MANAGER_PATH", "SE_OFFLINE")}
    os.environ["SE_MANAGER_PATH"] = str(profile_dir / "no-selenium-manager")
    os.environ["SE_OFFLINE"] = "true"
    try:
        driver = webdriver.Chrome(options=options, service=service)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        driver.set_page_load_timeout(30)
        yield Browser(driver)
    finally:
        driver.quit()
