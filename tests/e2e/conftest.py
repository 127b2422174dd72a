"""The driftmon daemon on the example config, shared by the end-to-end tests.

A failed test in this folder gets the tail of every server's log in its report.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .servers import (
    HOST,
    REPO,
    STARTED,
    Daemon,
    ManagedProcess,
    driftmon_command,
    free_port,
    http_get,
    wait_for,
)

EXAMPLE_CONFIG = REPO / "config" / "example.yaml"
SCHEDULE = "2s"
# Added to the example monitor: a feature whose column exists in neither data set (a typo in
# the config), so every run of "example" is partial and that feature is in error.
MISSING_FEATURE = "agee"
# A second monitor on the same data that never has enough live rows: always insufficient_data,
# never a scored window. Its live source is time-windowed, so it catches up (the example's, a
# batch source, does not) and exports the catch-up metrics the dashboard's catch-up panels read.
STARVED_MONITOR = "starved"


def example_config(tmp: Path, port: int) -> dict[str, Any]:
    """config/example.yaml with absolute data paths, SQLite in ``tmp``, ``port``, a 2 s schedule,
    static thresholds, the feature ``MISSING_FEATURE`` added to its monitor and the monitor
    ``STARVED_MONITOR`` (time-windowed, so it catches up)."""
    config: dict[str, Any] = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    config["database"]["url"] = f"sqlite:///{tmp / 'driftmon.db'}"
    config["server"].update(host=HOST, port=port, external_url=f"http://{HOST}:{port}")
    (example,) = config["monitors"]
    example["features"].append({"name": MISSING_FEATURE, "type": "numeric"})
    starved = copy.deepcopy(example)
    starved.update(name=STARVED_MONITOR, features=starved["features"][:1])
    starved["live"].update(min_rows=1_000_000, timestamp_column="ts", window="1h")
    config["monitors"].append(starved)
    for monitor in config["monitors"]:
        monitor["schedule"] = {"every": SCHEDULE}
        # Fixed KL thresholds, so that the example has a warning-level feature (income, KL
        # 0.17) beside a critical one (device) for the alert routing tests; under the default
        # significance policy all three drifting features are critical.
        monitor["thresholds"] = {"policy": "static", "warning": 0.05, "critical": 0.2}
        for side in ("reference", "live"):
            source = monitor[side]
            if "path" in source:
                source["path"] = str((EXAMPLE_CONFIG.parent / source["path"]).resolve())
    return config


@pytest.fixture(scope="session")
def driftmon_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """``driftmon run`` on the example config, healthy and with a first run stored."""
    tmp = tmp_path_factory.mktemp("driftmon")
    port = free_port()
    config_path = tmp / "driftmon.yaml"
    config_path.write_text(yaml.safe_dump(example_config(tmp, port)), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTMON_")}
    process = ManagedProcess(
        "driftmon",
        driftmon_command("run", "-c", str(config_path)),
        tmp / "driftmon.log",
        cwd=tmp,
    ).start(env=env)
    daemon = Daemon(process, port)
    try:
        wait_for(
            lambda: http_get(f"{daemon.url}/healthz")[0] == 200,
            timeout=30,
            what="driftmon /healthz to answer 200",
            processes=[process],
        )
        wait_for(
            lambda: b"driftmon_feature_kl_divergence{" in http_get(f"{daemon.url}/metrics")[1],
            timeout=30,
            what="driftmon's first stored run on /metrics",
            processes=[process],
        )
        yield daemon
    finally:
        process.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for process in STARTED:
            report.sections.append((f"{process.name} log (tail)", process.tail()))
    return report
