"""The ``driftmon`` command line: exit codes, ``check --json``, validate, db, reference.

Most tests call ``driftmon.cli.main`` in-process (fast); a few run the console script.
"""

from __future__ import annotations

import json
import logging
import os
import re
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

from driftmon.cli import check_exit_code, main
from driftmon.core.status import Status, Thresholds, worst
from driftmon.results import FeatureResult, RunResult
from driftmon.storage import Store
from driftmon.storage.migrate import SCHEMA_HEAD, alembic_config

from .unprivileged import read_only_folder, run_unprivileged

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
# Beyond issue 3: why a run or feature has no scores, the run's duration, the KL bias, the policy,
# and (issue 9) the p-value after a bonferroni/bh correction (null without one).
EXTRA_RUN_KEYS = {"features", "duration_seconds", "error", "message"}
EXTRA_FEATURE_KEYS = {"expected_kl", "message", "p_value_adjusted"}


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


@pytest.mark.parametrize("live", ["live.parquet", "drifted.parquet"], ids=["others-ok", "critical"])
def test_check_exits_3_when_a_configured_feature_cannot_be_scored(
    workdir: Path, capsys: pytest.CaptureFixture[str], live: str
) -> None:
    """A typo in a feature's name fails the gate, whether the other features are fine or not."""
    features = [{"name": "x", "bins": 8}, {"name": "xx"}]
    code, out, _ = run_main(
        capsys, "check", "-c", config_file(workdir, monitor(live=live, features=features))
    )
    assert code == 3, out


def test_check_exits_3_when_a_live_column_arrives_as_text(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cols = columns(1000, 1)
    cols["x"] = np.array(["1.5", "n/a", "2"] * 333 + ["0"], dtype=object)
    write(workdir / "text.parquet", cols)
    code, out, _ = run_main(
        capsys, "check", "-c", config_file(workdir, monitor(live="text.parquet")), "--json"
    )
    assert code == 3, out
    x, c = json.loads(out)[0]["features"]
    assert (x["status"], c["status"]) == ("error", "ok")
    assert "'x'" in x["message"]


def _run(*statuses: Status, run_status: Status | None = None) -> RunResult:
    thresholds = Thresholds(0.05, 0.2)
    features = tuple(FeatureResult(f"f{i}", s, thresholds) for i, s in enumerate(statuses))
    return RunResult(
        "m", None, END, END, END, run_status or worst(list(statuses)), features=features
    )


@pytest.mark.parametrize(
    ("runs", "expected"),
    [
        ([_run(Status.OK, Status.WARNING)], 0),
        ([_run(Status.OK, Status.INSUFFICIENT_DATA)], 0),
        ([_run(Status.INSUFFICIENT_DATA, run_status=Status.INSUFFICIENT_DATA)], 0),
        ([_run(Status.OK, Status.CRITICAL)], 1),
        ([_run(Status.OK, Status.ERROR)], 3),
        ([_run(Status.CRITICAL, Status.ERROR)], 3),
        ([_run(Status.CRITICAL), _run(Status.OK, Status.ERROR)], 3),
        ([_run(run_status=Status.ERROR), _run(Status.CRITICAL)], 3),
    ],
    ids=[
        "warning",
        "insufficient-feature",
        "insufficient-run",
        "critical",
        "error",
        "error-beside-critical",
        "error-in-another-run",
        "failed-run",
    ],
)
def test_check_exit_code_is_3_before_1_before_0(runs: list[RunResult], expected: int) -> None:
    assert check_exit_code(runs) == expected


@pytest.mark.parametrize("argv", [["--help"], ["check", "--help"]])
def test_help_lists_every_exit_code(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    out = capsys.readouterr().out
    epilog = out[out.index("exit codes") :]
    listed = [line.split()[0] for line in epilog.splitlines() if re.match(r"  \d  \S", line)]
    assert sorted(listed) == ["0", "1", "2", "3"]
    assert "status error" in epilog  # a feature that cannot be scored is what 3 also means
    assert all(len(line) <= 80 for line in epilog.splitlines())  # as written, not re-wrapped


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


# -- check: the table ----------------------------------------------------------------------


def test_check_table_lists_features_in_error_first_with_their_reason(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    features = [{"name": "x", "bins": 8}, {"name": "c", "type": "categorical"}, {"name": "agee"}]
    code, out, _ = run_main(capsys, "check", "-c", config_file(workdir, monitor(features=features)))
    assert code == 3
    header, table_header, first, *rest = out.splitlines()
    assert "status OK, 1 of 3 features could not be scored" in header
    assert table_header.split()[0] == "feature"
    assert first.split()[:2] == ["agee", "error"]
    assert [line.split()[0] for line in rest[:2]] == ["x", "c"]
    assert rest[2] == (
        "  agee: could not be scored: column 'agee' not found in reference source parquet "
        f"{workdir / 'reference.parquet'}; it has x, c, ts"
    )


def test_check_table_of_a_failed_run_shows_the_reference_rows_read(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(
        capsys, "check", "-c", config_file(workdir, monitor(live="gone.parquet"))
    )
    assert code == 3
    assert "status ERROR" in out
    assert "reference rows 2,000" in out


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
    assert code == 3, out  # 'nope' could not be scored: that wins over x being critical
    (run,) = json.loads(out)
    assert set(run) == RUN_KEYS | EXTRA_RUN_KEYS
    assert run["monitor"] == "windowed"
    assert run["status"] == "critical"
    assert run["window_start"] == "2026-03-01T11:00:00+00:00"
    assert run["window_end"] == "2026-03-01T12:00:00+00:00"
    assert run["live_rows"] == 500
    assert run["reference_rows"] == 2000
    assert run["error"] is None
    assert run["message"] is None
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
    assert nope["message"].endswith("; it has x, c, ts")


def test_check_json_of_a_failed_run(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config_file(workdir, monitor(live="gone.parquet"))
    code, out, _ = run_main(capsys, "check", "-c", cfg, "--json")
    assert code == 3
    (run,) = json.loads(out)
    assert run["status"] == "error"
    assert run["features"] == []
    assert "gone.parquet" in run["error"]


def _epoch_ms_live(workdir: Path, end: datetime) -> dict[str, Any]:
    """live.parquet with ts as integer epoch milliseconds over the 2 h before ``end``; the
    monitor reading it as seconds (the default)."""
    cols = columns(1000, 1)
    cols["ts"] = pa.array(
        [
            int((end - timedelta(hours=2) + i * timedelta(seconds=7.2)).timestamp() * 1000)
            for i in range(1000)
        ],
        pa.int64(),
    )
    write(workdir / "live.parquet", cols)
    return monitor(live={"path": "live.parquet", "timestamp_column": "ts", "window": "1h"})


def test_check_shows_why_a_window_is_empty_in_text_and_json(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Epoch milliseconds read as seconds: the note names the window and the far-off range."""
    cfg = config_file(workdir, _epoch_ms_live(workdir, END))
    code, out, _ = run_main(capsys, "check", "-c", cfg, "--window-end", END.isoformat())
    assert code == 0
    assert "status INSUFFICIENT_DATA" in out
    assert (
        "  note: no rows in the window [2026-03-01T11:00:00Z, 2026-03-01T12:00:00Z), but the "
        "source's 1,000 timestamp(s) in column 'ts' span about the year 58,"
    ) in out
    code, out, _ = run_main(capsys, "check", "-c", cfg, "--json", "--window-end", END.isoformat())
    (run,) = json.loads(out)
    assert run["status"] == "insufficient_data"
    assert "set timestamp_unit" in run["message"]


def test_check_shows_a_column_kind_change_of_a_scored_feature_in_text_and_json(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bool reference column arriving as 0/1 integers is scored, and says so (issue 9)."""
    rng = np.random.default_rng(0)
    write(workdir / "reference.parquet", {**columns(2000, 0), "flag": rng.random(2000) < 0.3})
    live_flags = (rng.random(1000) < 0.3).astype(np.int64)
    write(workdir / "live.parquet", {**columns(1000, 1), "flag": live_flags})
    cfg = config_file(workdir, monitor(features=[{"name": "flag", "type": "categorical"}]))
    note = "flag: column kind changed: reference bool, live integer"

    code, out, _ = run_main(capsys, "check", "-c", cfg)
    assert code == 0, out
    assert f"  {note}" in out
    code, out, _ = run_main(capsys, "check", "-c", cfg, "--json")
    (flag,) = json.loads(out)[0]["features"]
    assert flag["status"] == "ok"
    assert isinstance(flag["kl_divergence"], float)
    assert flag["message"].startswith(note.removeprefix("flag: "))


# -- validate, db upgrade, reference rebuild ------------------------------------------------


def test_validate_accepts_a_good_configuration(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(capsys, "validate", "-c", config_file(workdir))
    assert code == 0
    assert "configuration valid; 1 monitor(s); 0 source problem(s)" in out
    assert not (workdir / "results.db").exists(), "validate must not touch the results database"


def test_validate_reports_an_unreachable_source_as_a_source_problem_exit_3(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config_file(workdir, monitor(), monitor("gone", live="gone.parquet"))
    code, out, _ = run_main(capsys, "validate", "-c", cfg)
    assert code == 3
    assert out.startswith("source problem: monitor 'gone': live source")
    assert "gone.parquet" in out
    assert "configuration valid; 2 monitor(s); 1 source problem(s)" in out


def test_validate_reports_a_missing_column_as_a_configuration_problem_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config_file(workdir, monitor(features=[{"name": "x"}, {"name": "age"}]))
    code, out, _ = run_main(capsys, "validate", "-c", cfg)
    assert code == 2
    first, second, summary = out.splitlines()
    for role, line in (("reference", first), ("live", second)):
        assert line == (
            f"configuration problem: column 'age' is not in the {role} source parquet "
            f"{workdir / role}.parquet (feature 'age' of monitor 'm' in {cfg}); it has x, c, ts"
        )
    assert summary == f"{cfg}: configuration invalid; 1 monitor(s); 2 configuration problem(s)"
    assert "configuration valid" not in out


def test_validate_reports_a_missing_timestamp_column_as_a_configuration_problem(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = {"path": "live.parquet", "timestamp_column": "time", "window": "1h"}
    code, out, _ = run_main(capsys, "validate", "-c", config_file(workdir, monitor(live=live)))
    assert code == 2
    assert out.startswith("configuration problem: column 'time' is not in the live source")
    assert "(timestamp_column of monitor 'm' in " in out


def test_validate_reports_a_source_the_configuration_cannot_describe_as_a_configuration_problem(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown bound parameter in a live query is the configuration's fault, not the source's."""
    live = {"url": "sqlite:///results.db", "query": "SELECT * FROM runs WHERE id = :foo"}
    code, out, _ = run_main(capsys, "validate", "-c", config_file(workdir, monitor(live=live)))
    assert code == 2
    assert out.startswith("configuration problem: live source of monitor 'm' in ")
    assert "unknown bound parameter(s) :foo" in out


def test_validate_exits_2_when_it_finds_configuration_and_source_problems(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = monitor(features=[{"name": "x"}, {"name": "age"}])
    cfg = config_file(workdir, bad, monitor("gone", live="gone.parquet"))
    code, out, _ = run_main(capsys, "validate", "-c", cfg)
    assert code == 2
    assert out.splitlines()[-1].endswith(
        "configuration invalid; 2 monitor(s); 2 configuration problem(s); 1 source problem(s)"
    )


def test_validate_reports_a_spool_folder_that_cannot_be_created_exit_3(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`driftmon run` would refuse to start: validate says so before a deploy does."""
    (workdir / "taken").write_text("a file where the spool folder should be")
    cfg = config_file(
        workdir, database={"url": "sqlite:///results.db", "spool": {"path": "taken/spool"}}
    )
    code, out, _ = run_main(capsys, "validate", "-c", cfg)
    assert code == 3
    problem, summary = out.splitlines()
    assert problem == (
        f"spool problem: database.spool.path in {cfg}: the spool directory "
        f"{workdir / 'taken' / 'spool'} cannot be used: {workdir / 'taken'} is not a folder; "
        "`driftmon run` would refuse to start (it keeps runs there while the results database "
        "is unavailable)"
    )
    assert summary == f"{cfg}: configuration valid; 1 monitor(s); 1 spool problem(s)"


def test_validate_reports_a_read_only_spool_folder_exit_3(workdir: Path) -> None:
    """A real process that permissions apply to, even under root (tests/unprivileged.py);
    `driftmon run` refusing the same folder: tests/faults/test_spool.py."""
    folder = read_only_folder(workdir / "spool")
    database = {"url": "sqlite:///results.db", "spool": {"path": "spool"}}
    cfg = config_file(workdir, database=database)
    done = run_unprivileged(["-m", "driftmon.cli", "validate", "-c", cfg], workdir)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == (
        f"spool problem: database.spool.path in {cfg}: the spool directory {folder} cannot be "
        "used: a run cannot be written there (Permission denied); `driftmon run` would refuse "
        "to start (it keeps runs there while the results database is unavailable)"
    )
    assert list(folder.iterdir()) == []


def test_validate_reports_an_empty_latest_window_with_the_sources_range(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Epoch milliseconds read as seconds: validate says the latest window is empty, and
    where the timestamps are; with timestamp_unit: ms the same data validates."""
    now = datetime.now(UTC)
    bad = _epoch_ms_live(workdir, now)
    code, out, _ = run_main(capsys, "validate", "-c", config_file(workdir, bad))
    assert code == 3
    assert "monitor 'm': live source: parquet " in out
    assert "latest scheduled window is empty: no rows in the window [" in out
    assert "span about the year 5" in out
    assert "1 source problem(s)" in out

    good = {**bad, "live": {**bad["live"], "timestamp_unit": "ms"}}
    code, out, _ = run_main(capsys, "validate", "-c", config_file(workdir, good))
    assert code == 0, out
    assert "0 source problem(s)" in out


def test_validate_exits_2_on_a_bad_configuration(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = workdir / "driftmon.yaml"
    path.write_text("monitors: 3\n")
    assert run_main(capsys, "validate", "-c", str(path))[0] == 2


def test_db_upgrade_creates_the_schema_and_says_which_revision_it_applied(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(capsys, "db", "upgrade", "-c", config_file(workdir))
    assert code == 0
    url = f"sqlite:///{workdir / 'results.db'}"
    assert out.startswith(f"upgraded empty database {url} to revision {SCHEMA_HEAD} (")
    assert Store(url).current_revision() == SCHEMA_HEAD
    code, out, _ = run_main(capsys, "db", "upgrade", "-c", config_file(workdir))
    assert code == 0  # idempotent
    assert out.startswith(f"database {url} is already at revision {SCHEMA_HEAD} (")


def test_db_upgrade_of_an_older_schema_names_both_revisions(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database at the first revision is migrated, and the output names where it started."""
    from alembic import command

    url = f"sqlite:///{workdir / 'results.db'}"
    with Store(url).engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
    code, out, _ = run_main(capsys, "db", "upgrade", "-c", config_file(workdir))
    assert code == 0
    assert out.startswith(f"upgraded database {url} from revision 0001 to revision {SCHEMA_HEAD} (")


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


def test_check_says_the_database_refused_a_run_rather_than_that_it_is_unavailable(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from driftmon.errors import PermanentStorageError

    def refuse(*args: Any, **kwargs: Any) -> int:
        raise PermanentStorageError(
            "saving run of monitor 'm' failed on sqlite:///r.db: "
            "StringDataRightTruncation: value too long for type character varying(255)"
        )

    monkeypatch.setattr(Store, "save_run", refuse)
    code, _, err = run_main(capsys, "check", "-c", config_file(workdir))
    assert code == 3
    assert "the results database refused the data: saving run of monitor 'm'" in err
    assert "unavailable" not in err


# -- report ---------------------------------------------------------------------------------

EXAMPLE_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def example_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """config/example.yaml and its data copied to a temp dir, results in a temp SQLite."""
    shutil.copytree(EXAMPLE_ROOT / "config", tmp_path / "config")
    shutil.copytree(EXAMPLE_ROOT / "examples" / "data", tmp_path / "examples" / "data")
    monkeypatch.setenv("DRIFTMON_DATABASE_URL", f"sqlite:///{tmp_path / 'results.db'}")
    return str(tmp_path / "config" / "example.yaml")


def kl_shown(html: str) -> list[float]:
    """The written-out KL of each feature view, at full precision."""
    return [float(v) for v in re.findall(r'<span class="kl" data-value="([^"]+)"', html)]


def test_report_writes_the_latest_stored_run_of_the_example(
    example_copy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(capsys, "check", "-c", example_copy, "--json")
    assert code == 1
    stored = {f["feature"]: f["kl_divergence"] for f in json.loads(out)[0]["features"]}
    target = tmp_path / "report.html"
    code, out, err = run_main(capsys, "report", "-c", example_copy, "-o", str(target))
    assert code == 0, err
    assert "1 of 1 monitor(s) with a run" in out
    html = target.read_text(encoding="utf-8")
    for name in stored:
        assert f">{name}</a>" in html
    # Features by severity then KL: device, income, session_seconds (critical), country, age.
    assert sorted(kl_shown(html), reverse=True)[:3] == kl_shown(html)[:3]
    assert sorted(kl_shown(html)) == pytest.approx(sorted(stored.values()), abs=1e-12)
    assert "(other)" in html
    assert "Reference bars are not shown" not in html


def test_check_html_writes_the_report_of_the_runs_it_made(
    example_copy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "check.html"
    code, out, _ = run_main(capsys, "check", "-c", example_copy, "--html", str(target))
    assert code == 1
    assert "device" in out  # the table is still printed
    html = target.read_text(encoding="utf-8")
    assert "Monitor <code>example</code>" in html
    assert len(kl_shown(html)) == 5


def test_report_window_end_picks_that_run(
    example_copy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for end in ("2026-03-01T10:00:00+00:00", "2026-03-01T11:00:00+00:00"):
        assert run_main(capsys, "check", "-c", example_copy, "--window-end", end)[0] == 1
    target = tmp_path / "r.html"
    argv = ["report", "-c", example_copy, "-o", str(target)]
    code, _, _ = run_main(capsys, *argv, "--window-end", "2026-03-01T10:00:00Z")
    assert code == 0
    assert "up to 2026-03-01T10:00:00+00:00" in target.read_text(encoding="utf-8")
    assert run_main(capsys, *argv)[0] == 0
    assert "up to 2026-03-01T11:00:00+00:00" in target.read_text(encoding="utf-8")


@pytest.mark.parametrize("migrated", [True, False], ids=["migrated", "never-written"])
def test_report_on_a_monitor_without_a_stored_run_exits_3_and_says_so(
    example_copy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], migrated: bool
) -> None:
    if migrated:
        assert main(["db", "upgrade", "-c", example_copy]) == 0
    target = tmp_path / "r.html"
    code, _, err = run_main(capsys, "report", "-c", example_copy, "-o", str(target))
    assert code == 3
    assert "monitor 'example' has no stored run" in err
    assert "No stored run of this monitor yet." in target.read_text(encoding="utf-8")


def test_report_exits_2_on_an_unknown_monitor_or_an_unwritable_file(
    example_copy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(capsys, "check", "-c", example_copy)[0] == 1
    out = str(tmp_path / "r.html")
    code, _, err = run_main(capsys, "report", "-c", example_copy, "--monitor", "nope", "-o", out)
    assert code == 2
    assert "nope" in err
    bad = str(tmp_path / "no-such-dir" / "r.html")
    code, _, err = run_main(capsys, "report", "-c", example_copy, "-o", bad)
    assert code == 2
    assert "cannot write the report" in err


def test_report_exits_3_when_the_results_database_is_unavailable(
    example_copy: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DRIFTMON_DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    target = tmp_path / "r.html"
    code, _, err = run_main(capsys, "report", "-c", example_copy, "-o", str(target))
    assert code == 3
    assert "results database unavailable" in err
    assert not target.exists()


def test_check_html_shows_a_failed_run_with_its_error_beside_a_scored_one(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config_file(workdir, monitor(), monitor("broken", live="gone.parquet"))
    target = workdir / "check.html"
    code, _, _ = run_main(capsys, "check", "-c", cfg, "--html", str(target))
    assert code == 3
    html = target.read_text(encoding="utf-8")
    assert "Monitor <code>broken</code>" in html
    assert "gone.parquet" in html[html.index("Monitor <code>broken</code>") :]
    assert len(kl_shown(html)) == 2  # monitor m's features x and c


def test_report_help_lists_its_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["report", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    epilog = out[out.index("exit codes") :]
    listed = [line.split()[0] for line in epilog.splitlines() if re.match(r"  \d  \S", line)]
    assert listed == ["0", "2", "3"]
    assert "no stored run" in epilog
    assert all(len(line) <= 80 for line in epilog.splitlines())


@pytest.mark.parametrize("when", ["0001-06-01", "1899-12-31T23:00:00+00:00", "9999-12-31"])
def test_check_refuses_a_window_end_no_window_can_end_at(
    workdir: Path, capsys: pytest.CaptureFixture[str], when: str
) -> None:
    """A window end near datetime's limits was an OverflowError ("internal error", exit 3)."""
    live = {"path": "live.parquet", "timestamp_column": "ts", "window": "36500d"}
    cfg = config_file(workdir, monitor(live=live))
    with pytest.raises(SystemExit) as exited:  # a usage error, as argparse reports them
        main(["check", "-c", cfg, "--window-end", when])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "a window end between the years 1900 and 9000 is needed" in err
    assert "internal error" not in err
