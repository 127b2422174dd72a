"""Import boundaries of the ``driftmon`` command: each command loads only what it uses.

Each case runs in a fresh interpreter and reports which of the heavy libraries ended up in
``sys.modules``. The timings these boundaries buy are in benchmarks/README.md ("Start-up").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "example.yaml"

HEAVY = (
    "alembic",
    "apscheduler",
    "jinja2",
    "numpy",
    "pandas",
    "prometheus_client",
    "psycopg",
    "pyarrow",
    "pyarrow.dataset",
    "pydantic",
    "scipy",
    "scipy.special",
    "scipy.stats",
    "sqlalchemy",
    "sqlalchemy.orm",
    "yaml",
)

_PROBE = """
import json, sys
from driftmon.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # argparse's --version and --help
    code = exc.code
heavy = sorted(m for m in json.loads({heavy!r}) if m in sys.modules)
print(json.dumps({{"code": code, "loaded": heavy}}), file=sys.stderr)
"""


def loaded_by(*argv: str, db: Path | None = None) -> set[str]:
    """The HEAVY modules a fresh ``driftmon <argv>`` process has imported when it ends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTMON_")}
    if db is not None:
        env["DRIFTMON_DATABASE_URL"] = f"sqlite:///{db}"
    probe = _PROBE.format(heavy=json.dumps(HEAVY))
    proc = subprocess.run(
        [sys.executable, "-c", probe, *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, 1), proc.stdout + proc.stderr
    return set(report["loaded"])


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code = "import json, sys, driftmon.cli; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert set(json.loads(out)) & set(HEAVY) == set()


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_load_no_heavy_library(flag: str) -> None:
    assert loaded_by(flag) == set()


def test_subcommand_help_loads_no_heavy_library() -> None:
    assert loaded_by("check", "--help") == set()


def test_check_on_a_migrated_database_loads_neither_alembic_nor_apscheduler(
    tmp_path: Path,
) -> None:
    """Everyday ``check``: no Alembic (schema at head), no APScheduler, no scipy.stats."""
    db = tmp_path / "results.db"
    first = loaded_by("check", "-c", str(EXAMPLE), db=db)
    assert "alembic" in first  # the first run migrated the empty database
    loaded = loaded_by("check", "-c", str(EXAMPLE), db=db)
    assert {"pandas", "pyarrow", "sqlalchemy", "scipy.special"} <= loaded
    assert loaded.isdisjoint(
        {"alembic", "apscheduler", "scipy.stats", "prometheus_client", "jinja2"}
    )


def test_check_does_not_import_the_sqlalchemy_orm(tmp_path: Path) -> None:
    """The results tables are Core ``Table``s: neither a first nor an everyday ``check``
    (nor ``validate``) imports ``sqlalchemy.orm`` (~0.1 s)."""
    db = tmp_path / "results.db"
    for _ in range(2):  # migrating an empty database, then at head
        assert "sqlalchemy.orm" not in loaded_by("check", "-c", str(EXAMPLE), db=db)
    assert "sqlalchemy.orm" not in loaded_by("validate", "-c", str(EXAMPLE))


def test_validate_loads_neither_scipy_nor_alembic_nor_apscheduler() -> None:
    loaded = loaded_by("validate", "-c", str(EXAMPLE))
    assert loaded.isdisjoint({"scipy", "alembic", "apscheduler", "prometheus_client"})


_GC_PROBE = """
import gc, json, sys
from driftmon import cli
from driftmon.service.runner import MonitorRunner
seen = {{}}
score = MonitorRunner.score
def watched(self, *args, **kwargs):  # the collector as a run finds it
    seen["frozen_in_run"] = gc.get_freeze_count()
    seen["enabled_in_run"] = gc.isenabled()
    return score(self, *args, **kwargs)
MonitorRunner.score = watched
def report():
    seen["frozen_at_exit"] = gc.get_freeze_count()
    seen["enabled_at_exit"] = gc.isenabled()
    print(json.dumps(seen), file=sys.stderr)
import atexit
atexit.register(report)  # runs after console_main's sys.exit, before interpreter shutdown
if {program!r}:
    sys.argv[1:] = {argv!r}
    cli.console_main()
else:
    code = cli.main({argv!r})
    seen["code"] = code
"""


def gc_state_after(program: bool, *argv: str, db: Path) -> dict[str, object]:
    """Collector state at exit of a fresh process running ``driftmon <argv>``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTMON_")}
    env["DRIFTMON_DATABASE_URL"] = f"sqlite:///{db}"
    probe = _GC_PROBE.format(program=program, argv=list(argv))
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    state: dict[str, object] = json.loads(proc.stderr.strip().splitlines()[-1])
    return state


def test_the_program_freezes_its_start_up_objects_and_keeps_collecting(tmp_path: Path) -> None:
    """``console_main``: the run finds the collector on and start-up's objects (well over
    50,000: modules, pandas, SQLAlchemy, pydantic) frozen; at exit even more are frozen, so
    interpreter shutdown scans nothing."""
    state = gc_state_after(True, "check", "-c", str(EXAMPLE), db=tmp_path / "r.db")
    assert state["enabled_in_run"] is True
    assert state["enabled_at_exit"] is True
    frozen_in_run, frozen_at_exit = state["frozen_in_run"], state["frozen_at_exit"]
    assert isinstance(frozen_in_run, int)
    assert isinstance(frozen_at_exit, int)
    assert 50_000 < frozen_in_run < frozen_at_exit


def test_main_called_in_a_process_leaves_its_collector_alone(tmp_path: Path) -> None:
    """Code that calls ``main`` itself (the tests do) gets no frozen objects."""
    state = gc_state_after(False, "check", "-c", str(EXAMPLE), db=tmp_path / "r.db")
    assert state == {
        "frozen_in_run": 0,
        "enabled_in_run": True,
        "frozen_at_exit": 0,
        "enabled_at_exit": True,
        "code": 1,
    }


def test_every_command_names_the_modules_it_loads_with_its_configuration() -> None:
    """A command missing from cli._COMMAND_MODULES would crash before it ran (KeyError)."""
    import argparse

    from driftmon import cli

    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(sub.choices) == set(cli._COMMAND_MODULES)
