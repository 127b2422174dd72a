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


def test_validate_loads_neither_scipy_nor_alembic_nor_apscheduler() -> None:
    loaded = loaded_by("validate", "-c", str(EXAMPLE))
    assert loaded.isdisjoint({"scipy", "alembic", "apscheduler", "prometheus_client"})
