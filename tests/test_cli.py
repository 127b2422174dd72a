"""The ``driftmon`` command line: exit codes, ``check --json``, validate, db, reference.

Most tests call ``driftmon.cli.main`` in-process (fast); a few run the console script.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from driftmon.cli import main
from driftmon.storage import Store
from driftmon.storage.migrate import SCHEMA_HEAD

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PASSWORD = "s3cret"
# issue 3: the keys of `check --json`, per run and per feature.
RUN_KEYS = {"monitor", "status", "window_start", "window_end", "live_rows", "reference_rows"}
FEATURE_KEYS = {
    "feature",
    "kl_divergence",
    "entropy",
    "cross_entropy",
    "js_divergence",
    "psi",
    "p_value",
    "status",
    "live_rows",
    "missing_ratio",
    "thresholds",
}
# Beyond issue 3: why a run or feature has no scores, the run's duration, the KL bias, the policy.
EXTRA_RUN_KEYS = {"features", "duration_seconds", "error"}
EXTRA_FEATURE_KEYS = {"expected_kl", "message"}


def columns(n: int, seed: int, shift: float = 0.0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    step = timedelta(hours=2) / n
    return {
        "x": rng.normal(shift, 1.0, n),
        "c": rng.choice(["a", "b", "c"], n).astype(object),
        "ts": pa.array([END - timedelta(hours=2) + i * step for i in range(n)]),
    }


def write(path: Path, cols: dict[str, Any]) -> Path:
    pq.write_table(pa.table(cols), path)
    return path


def monitor(
    name: str = "m", live: str | dict[str, Any] = "live.parquet", **kw: Any
) -> dict[str, Any]:
    """A monitor of x and c; ``live`` is a file name or a whole live source section."""
    return {
        "name": name,
        "schedule": {"every": "1h"},
        "reference": {"path": "reference.parquet"},
        "live": {"path": live} if isinstance(live, str) else live,
        "features": [{"name": "x", "bins": 8}, {"name": "c", "type": "categorical"}],
        "thresholds": {"warning": 0.05, "critical": 0.2},
        **kw,
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """reference.parquet, live.parquet (no drift) and drifted.parquet (x shifted by 3)."""
    write(tmp_path / "reference.parquet", columns(2000, 0))
    write(tmp_path / "live.parquet", columns(1000, 1))
    write(tmp_path / "drifted.parquet", columns(1000, 2, shift=3.0))
    return tmp_path


def config_file(workdir: Path, *monitors: dict[str, Any], **top: Any) -> str:
    data = {
        "database": {"url": "sqlite:///results.db"},
        "monitors": list(monitors) or [monitor()],
        **top,
    }
    path = workdir / "driftmon.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return str(path)


@pytest.fixture(autouse=True)
def _restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """main() points driftmon's log handler at this test's captured stderr; undo that."""
    monkeypatch.delenv("DRIFTMON_CONFIG", raising=False)
    saved = {n: logging.getLogger(n).handlers[:] for n in ("driftmon", "apscheduler", "alembic")}
    yield
    for name, handlers in saved.items():
        logging.getLogger(name).handlers[:] = handlers


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- check: exit codes ----------------------------------------------------------------------


def test_check_exits_0_when_nothing_is_critical_and_prints_a_table(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(capsys, "check", "-c", config_file(workdir))
    assert code == 0
    assert "monitor 'm'" in out
    assert "status OK" in out
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith("  ")}
    assert lines["x"] == "ok"
    assert lines["c"] == "ok"
    assert Store(f"sqlite:///{workdir / 'results.db'}").runs("m")[0].live_rows == 1000


def test_check_exits_1_when_a_feature_is_critical(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config_file(workdir, monitor(), monitor("drifting", live="drifted.parquet"))
    code, out, _ = run_main(capsys, "check", "-c", cfg)
    assert code == 1, out
    assert "monitor 'drifting'" in out
    assert "status CRITICAL" in out
    # --monitor selects: the quiet monitor alone passes the gate.
    assert run_main(capsys, "check", "-c", cfg, "--monitor", "m")[0] == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("monitors: [\n  - name: m\n    schedule: {every: 1h\n", "driftmon.yaml"),
        (yaml.safe_dump({"monitors": [monitor(colour="blue")]}), "colour"),
        (yaml.safe_dump({"monitors": [monitor(features=[{"name": "x", "bins": "ten"}])]}), "bins"),
        (yaml.safe_dump({"monitors": [monitor()], "server": {"port": "http"}}), "port"),
    ],
    ids=["malformed-yaml", "unknown-key", "wrong-type-bins", "wrong-type-port"],
)
def test_check_exits_2_on_a_bad_configuration_naming_the_problem(
    workdir: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = workdir / "driftmon.yaml"
    path.write_text(text)
    code, out, err = run_main(capsys, "check", "-c", str(path))
    assert code == 2
    assert out == ""
    assert "configuration error" in err
    assert expected in err
    assert "Traceback" not in err


def test_check_exits_2_on_an_unknown_monitor_naming_the_known_ones(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(capsys, "check", "-c", config_file(workdir), "--monitor", "nope")
    assert code == 2
    assert "unknown monitor 'nope'" in err
    assert "configured: m" in err


def test_check_exits_2_without_a_configuration(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "check")
    assert code == 2
    assert "-c CONFIG" in err
    assert "DRIFTMON_CONFIG" in err


@pytest.mark.parametrize("argv", [["frobnicate"], ["check", "--bogus"], ["db"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "usage: driftmon" in capsys.readouterr().err


def test_a_missing_configuration_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(capsys, "check", "-c", str(tmp_path / "missing.yaml"))
    assert code == 2
    assert "missing.yaml: file not found" in err


def test_check_reads_the_configuration_from_the_environment(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTMON_CONFIG", config_file(workdir))
    assert run_main(capsys, "check")[0] == 0


def test_check_exits_3_when_a_source_file_is_missing(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config_file(workdir, monitor(), monitor("broken", live="gone.parquet"))
    code, out, _ = run_main(capsys, "check", "-c", cfg)
    assert code == 3
    assert "status ERROR" in out
    assert "gone.parquet" in out
    assert "monitor 'm'" in out  # the other monitor still ran


def test_check_exits_3_when_a_source_database_is_unreachable(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = {"url": f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:1/src", "table": "events"}
    code, out, err = run_main(capsys, "check", "-c", config_file(workdir, monitor(live=live)))
    assert code == 3
    assert "status ERROR" in out
    assert "127.0.0.1" in out
    assert PASSWORD not in out + err
    (stored,) = Store(f"sqlite:///{workdir / 'results.db'}").runs("m")
    assert stored.error is not None
    assert PASSWORD not in stored.error


def test_check_exits_3_when_the_results_database_is_unreachable_without_leaking_the_password(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = {"url": f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:1/x"}
    code, out, err = run_main(capsys, "check", "-c", config_file(workdir, database=database))
    assert code == 3
    assert "results database unavailable" in err
    assert "127.0.0.1:1/x" in err
    assert PASSWORD not in out + err


# -- check --json ---------------------------------------------------------------------------


def test_check_json_has_the_documented_shape(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    windowed = monitor(
        "windowed",
        live={"path": "drifted.parquet", "timestamp_column": "ts", "window": "1h"},
        features=[
            {"name": "x", "bins": 8, "thresholds": {"warning": 0.5, "critical": 1.0}},
            {"name": "c", "type": "categorical"},
            {"name": "nope"},
        ],
    )
    cfg = config_file(workdir, windowed)
    code, out, _ = run_main(capsys, "check", "-c", cfg, "--json", "--window-end", END.isoformat())
    assert code == 1, out
    (run,) = json.loads(out)
    assert set(run) == RUN_KEYS | EXTRA_RUN_KEYS
    assert run["monitor"] == "windowed"
    assert run["status"] == "critical"
    assert run["window_start"] == "2026-03-01T11:00:00+00:00"
    assert run["window_end"] == "2026-03-01T12:00:00+00:00"
    assert run["live_rows"] == 500
    assert run["reference_rows"] == 2000
    assert run["error"] is None
    x, c, nope = run["features"]
    for f in (x, c, nope):
        assert set(f) == FEATURE_KEYS | EXTRA_FEATURE_KEYS
        assert set(f["thresholds"]) == {"warning", "critical", "policy"}
        assert f["live_rows"] == 500
    assert x["feature"] == "x"
    assert x["status"] == "critical"
    assert x["thresholds"] == {"warning": 0.5, "critical": 1.0, "policy": "static"}
    for key in ("kl_divergence", "entropy", "cross_entropy", "js_divergence", "psi", "p_value"):
        assert isinstance(x[key], float), key
    assert x["cross_entropy"] == pytest.approx(x["entropy"] + x["kl_divergence"])
    assert x["missing_ratio"] == 0.0
    assert c["thresholds"] == {"warning": 0.05, "critical": 0.2, "policy": "static"}
    assert nope["status"] == "error"
    assert nope["kl_divergence"] is None
    assert "'nope'" in nope["message"]


def test_check_json_of_a_failed_run(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config_file(workdir, monitor(live="gone.parquet"))
    code, out, _ = run_main(capsys, "check", "-c", cfg, "--json")
    assert code == 3
    (run,) = json.loads(out)
    assert run["status"] == "error"
    assert run["features"] == []
    assert "gone.parquet" in run["error"]


# -- validate, db upgrade, reference rebuild ------------------------------------------------


def test_validate_accepts_a_good_configuration(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(capsys, "validate", "-c", config_file(workdir))
    assert code == 0
    assert "configuration valid; 1 monitor(s); 0 source problem(s)" in out
    assert not (workdir / "results.db").exists(), "validate must not touch the results database"


def test_validate_reports_missing_files_and_columns(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = monitor(features=[{"name": "x"}, {"name": "age"}])
    cfg = config_file(workdir, bad, monitor("gone", live="gone.parquet"))
    code, out, _ = run_main(capsys, "validate", "-c", cfg)
    assert code == 3
    assert "feature 'age': column 'age' not in reference source" in out
    assert "monitor 'gone': live source" in out
    assert "gone.parquet" in out


def test_validate_exits_2_on_a_bad_configuration(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = workdir / "driftmon.yaml"
    path.write_text("monitors: 3\n")
    assert run_main(capsys, "validate", "-c", str(path))[0] == 2


def test_db_upgrade_creates_the_schema_and_masks_the_url(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(capsys, "db", "upgrade", "-c", config_file(workdir))
    assert code == 0
    assert "is at the latest schema" in out
    store = Store(f"sqlite:///{workdir / 'results.db'}")
    assert store.current_revision() == SCHEMA_HEAD
    assert run_main(capsys, "db", "upgrade", "-c", config_file(workdir))[0] == 0  # idempotent


def test_db_upgrade_exits_3_when_the_database_is_unreachable(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = {"url": f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:1/x"}
    code, out, err = run_main(
        capsys, "db", "upgrade", "-c", config_file(workdir, database=database)
    )
    assert code == 3
    assert "127.0.0.1:1/x" in err
    assert PASSWORD not in out + err


def test_reference_rebuild_rebuilds_and_stores_the_profile(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config_file(workdir)
    assert run_main(capsys, "check", "-c", cfg)[0] == 0
    store = Store(f"sqlite:///{workdir / 'results.db'}")
    before = store.load_profile("m")
    code, out, _ = run_main(capsys, "reference", "rebuild", "-c", cfg)
    assert code == 0
    assert "monitor 'm': reference profile rebuilt from 2,000 rows, 2 feature(s)" in out
    after = store.load_profile("m")
    assert before is not None
    assert after is not None
    assert after.created_at > before.created_at
    assert after.fingerprint == before.fingerprint


def test_reference_rebuild_exits_3_when_the_reference_is_missing(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "reference.parquet").unlink()
    code, _, err = run_main(capsys, "reference", "rebuild", "-c", config_file(workdir))
    assert code == 3
    assert "reference.parquet" in err


def test_reference_rebuild_reports_a_missing_column(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config_file(workdir, monitor(features=[{"name": "x"}, {"name": "age"}]))
    code, out, _ = run_main(capsys, "reference", "rebuild", "-c", cfg)
    assert code == 0
    assert "age: column 'age' not found in reference source" in out


# -- the console script ---------------------------------------------------------------------


def console_script() -> str:
    script = Path(sys.executable).parent / "driftmon"
    if script.exists():
        return str(script)
    found = shutil.which("driftmon")
    if found is None:
        pytest.fail("the driftmon console script is not installed (pip install -e .)")
    return found


def test_the_console_script_gates_on_critical_drift_with_json(workdir: Path) -> None:
    cfg = config_file(workdir, monitor(live="drifted.parquet"))
    env = {k: v for k, v in os.environ.items() if k != "DRIFTMON_CONFIG"}
    done = subprocess.run(
        [console_script(), "check", "-c", cfg, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    (run,) = json.loads(done.stdout)
    assert run["status"] == "critical"


def test_the_console_script_exits_2_without_a_configuration() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DRIFTMON_CONFIG"}
    done = subprocess.run(
        [console_script(), "check"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "no configuration" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def _keep_signal_handlers() -> Iterator[None]:
    """``driftmon run`` installs SIGTERM/SIGINT handlers; give pytest its own back."""
    import signal

    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for s, h in handlers.items():
        signal.signal(s, h)


@pytest.mark.usefixtures("_keep_signal_handlers")
def test_run_exits_3_when_its_port_is_taken(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In-process: the daemon cannot listen, so it says where and exits before scheduling."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        cfg = config_file(workdir, server={"host": "127.0.0.1", "port": port})
        code, _, err = run_main(capsys, "run", "-c", cfg)
    assert code == 3
    assert f"cannot listen on 127.0.0.1:{port}" in err


@pytest.mark.usefixtures("_keep_signal_handlers")
def test_run_exits_3_when_the_results_database_is_unreachable(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = {"url": f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:1/x"}
    cfg = config_file(workdir, database=database, server={"port": 0})
    code, out, err = run_main(capsys, "run", "-c", cfg)
    assert code == 3
    assert "results database unavailable" in err
    assert PASSWORD not in out + err


def test_an_internal_error_exits_3_not_1_so_a_gate_never_mistakes_a_crash_for_drift(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from driftmon.service.runner import MonitorRunner

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"boom at postgresql://u:{PASSWORD}@db/x")

    monkeypatch.setattr(MonitorRunner, "run", crash)
    code, _, err = run_main(capsys, "check", "-c", config_file(workdir))
    assert code == 3
    assert "internal error" in err
    assert "RuntimeError: boom" in err
    assert PASSWORD not in err
