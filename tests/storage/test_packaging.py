"""A regular (non-editable) install, as in the Docker image, still finds its migrations and
its report templates, and builds the compiled text count."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pip

import driftmon
from driftmon.storage.migrate import SCHEMA_HEAD

CHECKOUT = Path(driftmon.__file__).resolve().parent.parent
PIP_FOLDER = str(Path(pip.__file__).parent)


def test_wheel_install_migrates_from_its_installed_copy(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(CHECKOUT / "pyproject.toml", src)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so")  # the wheel builds its own
    for folder in ("driftmon", "migrations"):
        shutil.copytree(CHECKOUT / folder, src / folder, ignore=ignore)
    for name in ("README.md", "LICENSE"):
        if (CHECKOUT / name).exists():
            shutil.copy(CHECKOUT / name, src)
        else:
            (src / name).write_text("")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(src)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("driftmon-*.whl")
    # A throw-away virtualenv, so the developer's own (editable) install is left alone. It
    # gets no pip of its own (ensurepip took 5 s of this test): its interpreter runs the test
    # environment's pip, from pip's folder, so the wheel is installed into the venv as before.
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True
    )
    python = str(venv / "bin" / "python")
    subprocess.run(
        [python, PIP_FOLDER, "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Dependencies come from the test run's environment, after the new venv's own packages.
    Path(site, "driftmon_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    db = tmp_path / "results.db"
    script = (
        "import driftmon\n"
        "from driftmon.storage import Store\n"
        "from driftmon.storage.migrate import migrations_dir\n"
        "print(driftmon.__file__)\n"
        "print(migrations_dir())\n"
        f"s = Store({f'sqlite:///{db}'!r})\n"
        "s.upgrade()\n"
        "print(s.current_revision())\n"
        "from driftmon.render import MonitorReport, render_report\n"
        "print('No stored run' in render_report([MonitorReport('m', None)]))\n"
        "from driftmon.core import textmatch\n"
        "print(textmatch.available())\n"
    )
    out = subprocess.run(
        [python, "-c", script], check=True, capture_output=True, text=True, cwd=tmp_path
    ).stdout.splitlines()
    assert out[0].startswith(str(venv))  # the installed copy, not the checkout
    assert Path(out[1]) == (venv / "share" / "driftmon" / "migrations").resolve()
    assert out[2] == SCHEMA_HEAD  # every revision was packaged
    assert out[3] == "True"  # the templates of driftmon/render were packaged
    assert out[4] == "True"  # the wheel carries the compiled text count
