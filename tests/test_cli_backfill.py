"""``driftmon check --from --to``: a backfill in one process, on real files and SQLite."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml

from driftmon.cli import _WindowProgress, main

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
FROM, TO = "2026-03-01T03:00:00Z", "2026-03-01T12:00:00Z"  # ten hourly window ends


@pytest.fixture(autouse=True)
def _restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """main() points driftmon's log handler at this test's captured stderr; undo that."""
    monkeypatch.delenv("DRIFTMON_CONFIG", raising=False)
    saved = {n: logging.getLogger(n).handlers[:] for n in ("driftmon", "apscheduler", "alembic")}
    yield
    for name, handlers in saved.items():
        logging.getLogger(name).handlers[:] = handlers


def rows(end: datetime, hours: int, shifted_hours: int = 0, seed: int = 0) -> pa.Table:
    """One row a minute over the ``hours`` before ``end``, x shifted by 3 in the last
    ``shifted_hours``."""
    n = hours * 60
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, n)
    if shifted_hours:
        x[n - shifted_hours * 60 :] += 3.0
    return pa.table(
        {
            "ts": pa.array([end - hours * HOUR + i * timedelta(minutes=1) for i in range(n)]),
            "x": x,
            "c": rng.choice(["a", "b", "c"], n).astype(object),
        }
    )


def monitor(name: str = "m", **kw: Any) -> dict[str, Any]:
    return {
        "name": name,
        "schedule": {"every": "1h"},
        "reference": {"path": "reference.parquet"},
        "live": {"path": "live.parquet", "timestamp_column": "ts", "window": "1h"},
        "features": [{"name": "x", "bins": 8}, {"name": "c", "type": "categorical"}],
        **kw,
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """reference.parquet (no drift); live.parquet: 48 h up to END, x shifted in the last hour."""
    pq.write_table(rows(END - 3 * 24 * HOUR, 24, seed=1), tmp_path / "reference.parquet")
    pq.write_table(rows(END, 48, shifted_hours=1), tmp_path / "live.parquet")
    return tmp_path


def config_file(workdir: Path, *monitors: dict[str, Any]) -> str:
    data = {"database": {"url": "sqlite:///results.db"}, "monitors": list(monitors) or [monitor()]}
    path = workdir / "driftmon.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return str(path)


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def stored(workdir: Path) -> list[tuple[datetime, str, datetime]]:
    """(window_end, status, started_at) of every stored run, oldest window first."""
    engine = sa.create_engine(f"sqlite:///{workdir / 'results.db'}")
    try:
        with engine.connect() as conn:
            found = conn.exec_driver_sql(
                "SELECT window_end, status, started_at FROM runs ORDER BY window_end"
            ).all()
    finally:
        engine.dispose()
    return [(_utc(r[0]), r[1], _utc(r[2])) for r in found]


def _utc(value: Any) -> datetime:
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def test_backfill_scores_and_stores_every_window_in_the_range_with_check_exit_codes(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config_file(workdir)
    code, out, err = run_main(capsys, "check", "-c", cfg, "--from", FROM, "--to", TO, "--json")
    assert code == 1  # the last window drifts: critical, as `check` exits on it
    runs = json.loads(out)
    ends = [END - i * HOUR for i in range(9, -1, -1)]
    assert [datetime.fromisoformat(r["window_end"]) for r in runs] == ends
    assert [datetime.fromisoformat(r["window_start"]) for r in runs] == [t - HOUR for t in ends]
    assert all(r["live_rows"] == 60 for r in runs)
    assert [r["status"] for r in runs] == ["ok"] * 9 + ["critical"]
    statuses = [(datetime.fromisoformat(r["window_end"]), r["status"]) for r in runs]
    assert [(t, s) for t, s, _ in stored(workdir)] == statuses
    assert "backfill: monitor 'm': 10 window(s) scored from 2026-03-01T03:00:00+00:00" in err
    assert "\r" not in err, "no progress bar when stderr is not a terminal"


def test_backfill_gives_the_numbers_of_one_check_per_window(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One process over the range scores each window as `check --window-end` does."""
    cfg = config_file(workdir, monitor(), monitor("again"))
    code, out, _ = run_main(
        capsys, "check", "-c", cfg, "--monitor", "m", "--from", FROM, "--to", TO, "--json"
    )
    assert code == 1
    backfilled = {r["window_end"]: r for r in json.loads(out)}
    for hours_before in (0, 4):
        end = (END - hours_before * HOUR).isoformat()
        _, one, _ = run_main(
            capsys, "check", "-c", cfg, "--monitor", "again", "--window-end", end, "--json"
        )
        single = json.loads(one)[0]
        for a, b in zip(backfilled[end]["features"], single["features"], strict=True):
            assert a["kl_divergence"] == b["kl_divergence"]
            assert a["p_value"] == b["p_value"]
            assert a["status"] == b["status"]


def test_stored_windows_are_skipped_unless_replace(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config_file(workdir)
    first_half = "2026-03-01T07:00:00Z"
    assert run_main(capsys, "check", "-c", cfg, "--from", FROM, "--to", first_half)[0] == 0
    before = stored(workdir)
    code, out, err = run_main(capsys, "check", "-c", cfg, "--from", FROM, "--to", TO, "--json")
    assert code == 1
    assert len(json.loads(out)) == 5  # only the five windows not stored yet
    assert "5 window(s) scored" in err
    assert "5 already stored (skipped; --replace scores them again)" in err
    after = stored(workdir)
    assert after[:5] == before, "a stored window was scored again"

    code, out, err = run_main(
        capsys, "check", "-c", cfg, "--from", FROM, "--to", first_half, "--replace", "--json"
    )
    assert code == 0
    assert len(json.loads(out)) == 5
    replaced = stored(workdir)
    assert len(replaced) == 10
    assert all(new[2] > old[2] for new, old in zip(replaced[:5], before, strict=True))

    # All stored: nothing to do, exit 0, an empty array.
    code, out, err = run_main(capsys, "check", "-c", cfg, "--from", FROM, "--to", TO, "--json")
    assert (code, json.loads(out)) == (0, [])
    assert "0 window(s) scored" in err
    assert "10 already stored" in err


def test_a_window_stored_as_an_error_is_scored_again(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config_file(workdir)
    live = workdir / "live.parquet"
    live.rename(workdir / "away.parquet")
    code, out, _ = run_main(capsys, "check", "-c", cfg, "--from", FROM, "--to", FROM, "--json")
    assert code == 3
    assert json.loads(out)[0]["status"] == "error"
    (workdir / "away.parquet").rename(live)
    code, out, err = run_main(capsys, "check", "-c", cfg, "--from", FROM, "--to", FROM, "--json")
    assert code == 0
    assert json.loads(out)[0]["status"] == "ok"
    assert "1 window(s) scored" in err
    assert "already stored" not in err
    assert [s for _, s, _ in stored(workdir)] == ["ok"]


def test_backfill_with_a_rolling_reference_scores_each_window_against_its_own(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each window against the same hour a day before: the first has no reference rows yet
    (the data start 48 h before END), so it is insufficient_data and says why."""
    rolling = monitor(reference={"from_live": {"offset": "1d", "window": "1h"}})
    cfg = config_file(workdir, rolling)
    start = "2026-02-28T12:00:00Z"  # its reference window [02-27T11:00, 02-27T12:00) is empty
    code, out, _ = run_main(capsys, "check", "-c", cfg, "--from", start, "--to", TO, "--json")
    runs = json.loads(out)
    assert code == 1
    assert len(runs) == 25
    first, middle, last = runs[0], runs[1:-1], runs[-1]
    assert first["status"] == "insufficient_data"
    assert first["reference_rows"] == 0
    assert "rolling reference: no rows in the window [2026-02-27T11:00:00Z," in first["message"]
    assert all(r["reference_rows"] == 60 for r in [*middle, last])
    assert "critical" not in {r["status"] for r in middle}
    assert last["status"] == "critical"


def test_backfill_writes_the_html_report_of_its_runs(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config_file(workdir)
    html = workdir / "report.html"
    code, _, _ = run_main(
        capsys, "check", "-c", cfg, "--from", "2026-03-01T11:00Z", "--to", TO, "--html", str(html)
    )
    assert code == 1
    text = html.read_text()
    assert "2026-03-01T11:00:00+00:00" in text
    assert "2026-03-01T12:00:00+00:00" in text


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--from", TO, "--to", FROM], "--from 2026-03-01T12:00:00+00:00 is after --to"),
        (["--from", FROM], "a backfill needs both --from and --to"),
        (["--to", TO], "a backfill needs both --from and --to"),
        (["--replace"], "--replace applies to a backfill: give --from and --to"),
        (["--from", FROM, "--to", TO, "--window-end", TO], "--window-end scores one window"),
        (["--from", "yesterday", "--to", TO], "argument --from: not an ISO 8601 time"),
        (["--from", FROM, "--to", "2026-13-01"], "argument --to: not an ISO 8601 time"),
    ],
)
def test_bad_backfill_arguments_are_usage_errors(
    workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    cfg = config_file(workdir)
    with pytest.raises(SystemExit) as exited:
        main(["check", "-c", cfg, *argv])
    assert exited.value.code == 2
    assert fragment in capsys.readouterr().err
    assert not (workdir / "results.db").exists(), "nothing may run"


def test_a_monitor_without_a_time_window_cannot_be_backfilled(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = monitor("batch", live={"path": "live.parquet"})
    cfg = config_file(workdir, monitor(), batch)
    code, out, err = run_main(capsys, "check", "-c", cfg, "--from", FROM, "--to", TO)
    assert code == 2
    assert "monitor 'batch' cannot be backfilled: its live source reads the whole source" in err
    assert out == ""
    code, _, _ = run_main(capsys, "check", "-c", cfg, "--monitor", "m", "--from", FROM, "--to", TO)
    assert code == 1


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_counts_windows_on_a_terminal() -> None:
    screen = _Terminal()
    bar = _WindowProgress(4, screen)
    bar.start("m", END)
    bar("m: live", 1234)
    bar.window_done()
    bar.start("m", END + HOUR)
    text = screen.getvalue()
    assert "[------------------------] 0/4 windows  m 2026-03-01T12:00:00+00:00" in text
    assert "[######------------------] 1/4 windows  m 2026-03-01T13:00:00+00:00" in text
    bar.done()
    assert screen.getvalue().endswith("\r\033[K")
    quiet = io.StringIO()
    silent = _WindowProgress(4, quiet)
    silent.start("m", END)
    silent.window_done()
    silent.done()
    assert quiet.getvalue() == ""
