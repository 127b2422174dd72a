"""The spool on disk: exact round trips, atomic files, damaged and unfinished files, and a
folder that cannot be written found out when the spool is opened (or checked), not later."""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from driftmon.core.drift import DriftScores
from driftmon.core.status import Status, Thresholds
from driftmon.results import FeatureResult, RunResult
from driftmon.spool import Spool, SpoolError, SpoolFormatError
from driftmon.spool.codec import decode, encode
from driftmon.spool.directory import file_name

from ..unprivileged import read_only_folder, run_unprivileged

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SPOOLED = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)


def a_run(monitor: str = "m", hours: int = 0) -> RunResult:
    """A run with a scored feature, one not scored (infinite thresholds) and odd text."""
    end = END + timedelta(hours=hours)
    scores = DriftScores(
        kl_divergence=0.1 + 1e-17,
        entropy=1.2345678901234567,
        cross_entropy=1.3,
        js_divergence=0.02,
        psi=0.3,
        g_statistic=12.5,
        degrees_of_freedom=7,
        p_value=1e-300,
        expected_kl=0.0035,
        live_rows=600,
        reference_rows=1000,
    )
    return RunResult(
        monitor=monitor,
        window_start=end - timedelta(hours=1),
        window_end=end,
        started_at=end + timedelta(seconds=1),
        finished_at=end + timedelta(seconds=1, microseconds=250),
        status=Status.CRITICAL,
        live_rows=600,
        reference_rows=1000,
        features=(
            FeatureResult(
                feature="x",
                status=Status.CRITICAL,
                thresholds=Thresholds(0.01, 0.05, "significance"),
                live_rows=600,
                missing_rows=3,
                scores=scores,
                live_counts=(100, 200, 297, 3),
                bin_labels=("[-inf, 0)", "[0, 1)", "[1, inf)", "(missing)"),
                message="a note\nwith a newline and \u2028 and 🙂",
                p_value_adjusted=2e-300,
            ),
            FeatureResult(
                feature='c"; DROP TABLE runs; --',
                status=Status.ERROR,
                thresholds=Thresholds(math.inf, math.inf, "significance"),
                live_rows=600,
                message="column 'c' missing",
            ),
        ),
        message=None,
        profile_version=42,
    )


def test_a_run_comes_back_exactly_as_it_was_written() -> None:
    run = a_run()
    header, back = decode(encode(run, SPOOLED))
    assert back == run
    assert (header.monitor, header.window_end, header.spooled_at) == ("m", END, SPOOLED)


def test_a_run_spooled_without_a_profile_version_reads_as_unknown() -> None:
    """Files written before runs recorded their profile version still replay."""
    header_line, body = encode(a_run(), SPOOLED).split(b"\n", 1)
    raw = json.loads(body)
    del raw["profile_version"]
    new_body = json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode()
    header = json.loads(header_line)
    header["sha256"] = hashlib.sha256(new_body).hexdigest()
    _, back = decode(json.dumps(header).encode() + b"\n" + new_body + b"\n")
    assert back.profile_version is None
    assert back == replace(a_run(), profile_version=None)


def test_a_flipped_digit_is_caught_by_the_checksum() -> None:
    data = bytearray(encode(a_run(), SPOOLED))
    i = data.index(b"1.2345678901234567")
    data[i + 3] = ord("9")
    with pytest.raises(SpoolFormatError, match="checksum mismatch"):
        decode(bytes(data))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "no header line"),
        (b"not json\n{}\n", "unreadable header"),
        (b'{"format": 99}\n{}\n', "format 99, expected 1"),
    ],
)
def test_damaged_content_says_what_is_wrong(data: bytes, reason: str) -> None:
    with pytest.raises(SpoolFormatError, match=reason):
        decode(data)


def test_a_run_cut_short_is_refused() -> None:
    data = encode(a_run(), SPOOLED)
    with pytest.raises(SpoolFormatError, match=r"cut short|checksum"):
        decode(data[: len(data) // 2])


def test_written_runs_are_listed_oldest_window_first_and_read_back(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    assert spool.open().entries == []
    for monitor, hours in [("b", 2), ("a", 0), ("b", 1)]:
        spool.write(a_run(monitor, hours), SPOOLED)
    opened = Spool(tmp_path / "spool").open()
    assert [(e.monitor, e.window_end) for e in opened.entries] == [
        ("a", END),
        ("b", END + timedelta(hours=1)),
        ("b", END + timedelta(hours=2)),
    ]
    assert spool.read(opened.entries[0]) == a_run("a", 0)
    assert (opened.damaged, opened.incomplete) == ([], 0)


def test_writing_a_window_again_replaces_its_file(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.write(a_run(), SPOOLED)
    later = SPOOLED + timedelta(minutes=1)
    spool.write(a_run(), later)
    (entry,) = Spool(tmp_path).open().entries
    assert entry.spooled_at == later
    assert len(list(tmp_path.iterdir())) == 1


def test_a_file_name_is_fixed_by_monitor_and_window_whatever_the_name() -> None:
    assert file_name("a/../b", END) == file_name("a/../b", END)
    assert file_name("a/../b", END) != file_name("a/../c", END)
    assert "/" not in file_name("a/../b", END)


def test_damaged_files_are_set_aside_and_the_readable_runs_kept(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    good = spool.write(a_run("m", 0), SPOOLED)
    bad = spool.write(a_run("m", 1), SPOOLED)
    bad.path.write_bytes(bad.path.read_bytes()[:100])
    (tmp_path / "garbage.run").write_bytes(os.urandom(64))
    (tmp_path / "notes.txt").write_text("not a spool file")
    opened = spool.open()
    assert [e.path for e in opened.entries] == [good.path]
    assert sorted(d.name for d in opened.damaged) == sorted([bad.path.name, "garbage.run"])
    assert all(d.moved_to is not None and d.moved_to.exists() for d in opened.damaged)
    assert not bad.path.exists()
    assert (tmp_path / "notes.txt").exists(), "only spool files are touched"


def test_unfinished_writes_are_removed_on_open(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.write(a_run(), SPOOLED)
    (tmp_path / ".tmp-00000000000000000001-abc.run-1234").write_bytes(b'{"format": 1')
    opened = spool.open()
    assert (len(opened.entries), opened.incomplete) == (1, 1)
    assert [p.name for p in tmp_path.iterdir()] == [opened.entries[0].path.name]


def test_a_file_removed_meanwhile_reads_as_gone(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    entry = spool.write(a_run(), SPOOLED)
    spool.remove(entry)
    spool.remove(entry)  # twice: fine
    assert spool.read(entry) is None


def test_a_spool_that_cannot_be_written_says_where_and_leaves_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.open()
    (tmp_path / "spool").rmdir()
    (tmp_path / "spool").write_text("")  # the folder became a file: every write fails
    with pytest.raises(SpoolError, match=r"monitor 'm' ending .* could not be written"):
        spool.write(a_run(), SPOOLED)
    assert [p.name for p in tmp_path.iterdir()] == ["spool"]


def test_a_spool_folder_that_cannot_be_created_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(SpoolError, match="cannot be used"):
        Spool(tmp_path / "file" / "spool").open()


# -- a folder that cannot be used -------------------------------------------------------------

CHECK_THEN_OPEN = """
import sys
from pathlib import Path

from driftmon.spool import Spool, SpoolError

spool = Spool(Path(sys.argv[1]))
print(spool.check())
try:
    spool.open()
except SpoolError as exc:
    print(exc)
else:
    print("opened")
"""
DENIED = "a run cannot be written there (Permission denied)"


def test_a_read_only_spool_folder_is_refused_at_open_and_by_check(tmp_path: Path) -> None:
    """The spool is written only in an outage: a folder that cannot take a run then would
    lose it, so opening it at start-up refuses it, naming the folder and why."""
    folder = read_only_folder(tmp_path / "spool")
    done = run_unprivileged(["-c", CHECK_THEN_OPEN, str(folder)], tmp_path)
    assert done.returncode == 0, done.stderr
    refusal = f"the spool directory {folder} cannot be used: {DENIED}"
    assert done.stdout.splitlines() == [refusal, refusal]
    assert list(folder.iterdir()) == []


def test_a_spool_folder_to_create_in_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    parent = read_only_folder(tmp_path / "ro")
    folder = parent / "a" / "spool"
    done = run_unprivileged(["-c", CHECK_THEN_OPEN, str(folder)], tmp_path)
    assert done.returncode == 0, done.stderr
    checked, opened = done.stdout.splitlines()
    unusable = f"the spool directory {folder} cannot be used"
    assert checked == f"{unusable}: it cannot be created in {parent}: {DENIED}"
    assert opened.startswith(f"{unusable}: [Errno 13] Permission denied")


def test_check_says_why_a_spool_folder_cannot_be_used_without_creating_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "file").write_text("")
    under_a_file = tmp_path / "file" / "spool"
    assert Spool(under_a_file).check() == (
        f"the spool directory {under_a_file} cannot be used: {tmp_path / 'file'} is not a folder"
    )
    assert Spool(tmp_path / "file").check() == (
        f"the spool directory {tmp_path / 'file'} cannot be used: it is not a folder"
    )
    assert Spool(tmp_path / "new" / "spool").check() is None
    assert Spool(tmp_path).check() is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"], "check created or left files"


def test_opening_probes_the_folder_and_leaves_nothing_behind(tmp_path: Path) -> None:
    opened = Spool(tmp_path / "spool").open()
    assert (opened.entries, opened.incomplete) == ([], 0)
    assert list((tmp_path / "spool").iterdir()) == []
