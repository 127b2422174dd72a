"""The durable spool with real processes: runs computed while the results database is away
survive SIGTERM and kill -9 (even one in the middle of a spool write); damaged spool files
are reported without stopping the daemon; a full spool drops its oldest windows."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from driftmon.core.status import Status
from driftmon.results import RunResult
from driftmon.spool import Spool
from driftmon.spool.directory import file_name

from ..unprivileged import read_only_folder, run_unprivileged
from .conftest import (
    DaemonProcess,
    FaultProxy,
    data_columns,
    monitor,
    query,
    stored_runs,
    via_proxy,
    wait_until,
    write_config,
    write_parquet,
)

GRID = timedelta(seconds=1)
# Waiting for a restart's catch-up: it scores every window missed while down, the restart's
# own start-up included, while new ones keep ending. At load 15 on 2 cores it scored about
# 1.6 windows a second and was still 20 s behind after 60 s (20 s times LIVENESS_ROOM).
CATCH_UP_S = 60


def windowed_live(path: Path) -> dict[str, Any]:
    """Rows every 10 ms from 10 minutes ago to 10 minutes ahead, 1 s windows on them."""
    now = datetime.now(UTC)
    n = 120_000
    cols = data_columns(n, seed=1, shift=2.0)
    start = now - timedelta(minutes=10)
    cols["ts"] = pa.array([start + i * timedelta(milliseconds=10) for i in range(n)])
    write_parquet(path, cols)
    return {"path": path.name, "timestamp_column": "ts", "window": "1s"}


def assert_every_window_once(ends: list[datetime], since: datetime, until: datetime) -> None:
    """Every 1 s window end in [since, until] is stored, none twice."""
    assert len(ends) == len(set(ends)), "a window was stored twice"
    expected = set()
    t = since
    while t <= until:
        expected.add(t)
        t += GRID
    missing = sorted(expected - set(ends))
    assert not missing, f"{len(missing)} windows never stored, e.g. {missing[:3]}"


def spool_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.run"))


@pytest.mark.postgres
def test_outage_then_sigterm_then_database_back_then_restart_stores_every_window(
    tmp_path: Path,
    pg_url: str,
    proxies: Callable[[str], FaultProxy],
    daemons: Callable[..., DaemonProcess],
) -> None:
    """The runs of the outage are spooled, survive the stop, are stored after the restart;
    the windows while the daemon was down are caught up: no hole, nothing twice."""
    write_parquet(tmp_path / "reference.parquet", data_columns())
    live = windowed_live(tmp_path / "live.parquet")
    proxy = proxies(pg_url)
    config = write_config(
        tmp_path / "driftmon.yaml", via_proxy(pg_url, proxy), [monitor("m", live)]
    )
    first = daemons(config, "first")
    first.wait_log(lambda e: e.get("event") == "run.finished", 20, count=2)
    proxy.cut()
    first.wait_log(lambda e: e.get("event") == "run.not_stored", 20, count=3)
    assert all(e["spooled"] for e in first.logs("run.not_stored"))
    depth = first.sample("driftmon_spool_runs")
    assert depth is not None
    assert depth >= 3
    age = first.sample("driftmon_spool_oldest_run_age_seconds")
    assert age is not None
    assert age > 0
    spool_health = first.health()[1]["spool"]
    assert spool_health["runs"] >= 3
    assert spool_health["in_memory_only"] == 0
    assert first.terminate() == 0
    spooled = first.logs("daemon.pending_runs_spooled")
    assert spooled, first.text()
    assert "daemon.pending_runs_lost" not in {e.get("event") for e in first.logs()}
    kept = {datetime.fromisoformat(e["window_end"]) for e in first.logs("run.not_stored")}
    assert len(spool_files(tmp_path / "driftmon.spool")) == spooled[0]["runs"] >= 3

    proxy.restore()
    time.sleep(3)  # the daemon stays down for three windows
    second = daemons(config, "second")
    opened = second.wait_log(lambda e: e.get("event") == "spool.opened", 10)
    assert opened["runs"] == spooled[0]["runs"]
    started = second.wait_log(lambda e: e.get("event") == "catch_up.started", 20)
    assert started["windows"] >= 3
    wait_until(lambda: second.health()[1]["spool"]["runs"] == 0, 20, "the spool drained")
    assert spool_files(tmp_path / "driftmon.spool") == []
    second.wait_log(lambda e: e.get("event") == "catch_up.finished", CATCH_UP_S)
    restarted = datetime.now(UTC)
    second.wait_log(
        lambda e: (
            e.get("event") == "run.finished" and datetime.fromisoformat(e["window_end"]) > restarted
        ),
        15,
    )
    assert second.sample("driftmon_spool_runs") == 0
    assert second.terminate() == 0

    ends = [r["window_end"] for r in stored_runs(pg_url)]
    assert kept <= set(ends), "a spooled run was lost"
    assert_every_window_once(ends, min(ends), max(ends))


# The third run written to the spool is cut in the middle of its write: half its bytes are
# in the temporary file when the process is killed.
CUT_MID_WRITE = """
import os
import pathlib
import sys
import time

import driftmon.cli as cli
import driftmon.spool.directory as directory

MARKER = pathlib.Path(MARKER_PATH)
writes = []


class _Os:
    def __getattr__(self, name):
        return getattr(os, name)

    def write(self, fd, data):
        writes.append(len(data))
        if len(writes) == 3:
            os.write(fd, bytes(data[: len(data) // 2]))
            MARKER.write_text("cut")
            time.sleep(3600)
        return os.write(fd, data)


directory.os = _Os()
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.postgres
def test_kill_9_in_the_middle_of_a_spool_write_keeps_the_written_runs(
    tmp_path: Path,
    pg_url: str,
    proxies: Callable[[str], FaultProxy],
    daemons: Callable[..., DaemonProcess],
) -> None:
    """The half-written file is removed at the next start, never read as a run; the two
    runs written before are stored, and the cut window is caught up."""
    write_parquet(tmp_path / "reference.parquet", data_columns())
    live = windowed_live(tmp_path / "live.parquet")
    proxy = proxies(pg_url)
    config = write_config(
        tmp_path / "driftmon.yaml", via_proxy(pg_url, proxy), [monitor("m", live)]
    )
    marker = tmp_path / "cut"
    script = CUT_MID_WRITE.replace("MARKER_PATH", repr(str(marker)))
    first = daemons(config, "first", python=("-c", script))
    first.wait_log(lambda e: e.get("event") == "run.finished", 20, count=2)
    proxy.cut()
    wait_until(marker.exists, 30, "a spool write cut in the middle")
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(timeout=10)
    folder = tmp_path / "driftmon.spool"
    assert len(spool_files(folder)) == 2
    assert len(list(folder.glob(".tmp-*"))) == 1
    kept = {datetime.fromisoformat(e["window_end"]) for e in first.logs("run.not_stored")}
    assert len(kept) == 2

    proxy.restore()
    time.sleep(2)
    second = daemons(config, "second")
    opened = second.wait_log(lambda e: e.get("event") == "spool.opened", 10)
    assert (opened["runs"], opened["incomplete_writes_removed"]) == (2, 1)
    assert opened["damaged_files"] == 0
    wait_until(lambda: second.health()[1]["spool"]["runs"] == 0, 20, "the spool drained")
    second.wait_log(lambda e: e.get("event") == "catch_up.finished", CATCH_UP_S)
    assert second.terminate() == 0
    assert list(folder.iterdir()) == []
    ends = [r["window_end"] for r in stored_runs(pg_url)]
    assert kept <= set(ends)
    assert_every_window_once(ends, min(ends), max(ends))


def spooled_run(end: datetime) -> RunResult:
    return RunResult(
        monitor="m",
        window_start=end - GRID,
        window_end=end,
        started_at=end,
        finished_at=end + timedelta(milliseconds=5),
        status=Status.INSUFFICIENT_DATA,
        message="written by the test",
    )


def sqlite_stored_ends(path: Path) -> list[datetime]:
    rows = query(f"sqlite:///{path}", "SELECT window_end FROM runs ORDER BY window_end")
    return [datetime.fromisoformat(str(r["window_end"])).replace(tzinfo=UTC) for r in rows]


def test_a_damaged_spool_file_is_reported_and_the_readable_runs_stored(
    tmp_path: Path, daemons: Callable[..., DaemonProcess]
) -> None:
    """The daemon starts, logs each damaged file, counts it in a metric and /healthz, sets
    it aside in damaged/, and stores the runs it could read."""
    write_parquet(tmp_path / "reference.parquet", data_columns())
    write_parquet(tmp_path / "live.parquet", data_columns(300, seed=1))
    config = write_config(
        tmp_path / "driftmon.yaml",
        "sqlite:///results.db",
        [monitor("m", {"path": "live.parquet"})],
    )
    folder = tmp_path / "driftmon.spool"
    spool = Spool(folder)
    spool.open()
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)  # within max_age
    ends = [base + i * GRID for i in range(4)]
    for end in ends:
        spool.write(spooled_run(end), datetime.now(UTC))
    damaged = folder / file_name("m", ends[1])
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit flipped in the run
    damaged.write_bytes(bytes(data))
    (folder / "00000000000000000001-0000000000000000.run").write_bytes(b"\x00\xff garbage")

    d = daemons(config)
    reports = d.logs("spool.damaged_file")
    assert len(reports) == 2, d.text()
    assert any("checksum mismatch" in r["error"] for r in reports)
    wait_until(lambda: d.health()[1]["spool"]["runs"] == 0, 20, "the readable runs stored")
    assert d.sample("driftmon_spool_damaged_files_total") == 2
    assert d.health()[1]["spool"]["damaged_files"] == 2
    assert d.terminate() == 0
    stored = sqlite_stored_ends(tmp_path / "results.db")
    assert [e for e in ends if e in stored] == [ends[0], ends[2], ends[3]]
    assert (folder / "damaged" / damaged.name).exists()


def test_a_full_spool_drops_the_oldest_windows_with_a_log_line_and_a_counter(
    tmp_path: Path, daemons: Callable[..., DaemonProcess]
) -> None:
    write_parquet(tmp_path / "reference.parquet", data_columns())
    write_parquet(tmp_path / "live.parquet", data_columns(300, seed=1))
    config = write_config(
        tmp_path / "driftmon.yaml",
        "sqlite:///results.db",
        [monitor("m", {"path": "live.parquet"})],
        database={"spool": {"max_runs": 3}},
    )
    spool = Spool(tmp_path / "driftmon.spool")
    spool.open()
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    ends = [base + i * GRID for i in range(5)]
    for end in ends:
        spool.write(spooled_run(end), datetime.now(UTC))

    d = daemons(config)
    dropped = d.logs("run.pending_dropped")
    assert [datetime.fromisoformat(e["window_end"]) for e in dropped] == ends[:2]
    assert {e["reason"] for e in dropped} == {"full"}
    assert d.sample("driftmon_spool_dropped_runs_total", reason="full") == 2
    assert d.health()[1]["spool"]["dropped"] == {"full": 2, "expired": 0}
    wait_until(lambda: d.health()[1]["spool"]["runs"] == 0, 20, "the kept runs stored")
    assert d.terminate() == 0
    stored = sqlite_stored_ends(tmp_path / "results.db")
    assert [e for e in ends if e in stored] == ends[2:]


def test_a_spool_folder_that_cannot_be_created_stops_start_up_with_exit_3(
    tmp_path: Path, daemons: Callable[..., DaemonProcess]
) -> None:
    write_parquet(tmp_path / "reference.parquet", data_columns())
    write_parquet(tmp_path / "live.parquet", data_columns(300, seed=1))
    (tmp_path / "taken").write_text("a file where the spool folder should be")
    config = write_config(
        tmp_path / "driftmon.yaml",
        "sqlite:///results.db",
        [monitor("m", {"path": "live.parquet"})],
        database={"spool": {"path": "taken/spool"}},
    )
    d = daemons(config, wait=False)
    assert d.wait_exit(30) == 3
    assert "database.spool.path" in d.text()
    assert str(tmp_path / "taken" / "spool") in d.text()


def test_a_read_only_spool_folder_stops_start_up_with_exit_3_before_the_database(
    tmp_path: Path,
) -> None:
    """The spool is written only in an outage: finding it read-only then would lose the
    outage's runs. The daemon runs as a process that permissions apply to, even under root
    (tests/unprivileged.py)."""
    write_parquet(tmp_path / "reference.parquet", data_columns())
    write_parquet(tmp_path / "live.parquet", data_columns(300, seed=1))
    folder = read_only_folder(tmp_path / "spool")
    config = write_config(
        tmp_path / "driftmon.yaml",
        "sqlite:///results.db",
        [monitor("m", {"path": "live.parquet"})],
        database={"spool": {"path": "spool"}},
    )
    done = run_unprivileged(["-m", "driftmon.cli", "run", "-c", str(config)], tmp_path, 30)
    assert done.returncode == 3, done.stdout + done.stderr
    assert (
        f"driftmon: database.spool.path: the spool directory {folder} cannot be used: "
        "a run cannot be written there (Permission denied)"
    ) in done.stderr
    assert list(folder.iterdir()) == []
    assert not (tmp_path / "results.db").exists(), "refused before touching the database"
