"""Saving and reading runs and profiles: exact round trips, replacement, atomicity, pruning."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Table, delete, event, false, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

import driftmon.storage.store as store_module
from driftmon.core.profile import FeatureSpec, ReferenceProfile, build_feature_profile
from driftmon.core.status import Status, Thresholds
from driftmon.errors import StorageError
from driftmon.results import FeatureResult, RunResult
from driftmon.storage import Store
from driftmon.storage.models import (
    feature_results_table,
    monitors_table,
    profile_versions_table,
    reference_profiles_table,
    runs_table,
)
from driftmon.storage.records import run_values

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # the default window end of make_run

MakeRun = Callable[..., RunResult]
MakeFeature = Callable[..., FeatureResult]


def count(store: Store, table: Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def profile() -> ReferenceProfile:
    rng = np.random.default_rng(0)
    return ReferenceProfile(
        features=(
            build_feature_profile(rng.normal(size=500), FeatureSpec("age", bins=8)),
            build_feature_profile(
                np.array(["DE", "FR", "it's", "ünï"] * 50, dtype=object),
                FeatureSpec("country", kind="categorical"),
            ),
        ),
        rows=500,
        metadata={"source": "reference.parquet"},
    )


def test_run_round_trips_exactly(
    store: Store, make_run: MakeRun, make_feature: MakeFeature
) -> None:
    """Every field of the run, its features, scores and thresholds comes back equal."""
    original = make_run(
        features=(
            make_feature("age", kl=0.1 + 0.2),
            make_feature("amount", kl=5e-324, status=Status.WARNING, p_value_adjusted=0.1 + 0.2),
            make_feature("no data", kl=None, status=Status.ERROR, live_counts=(), bin_labels=()),
            make_feature(
                'quote "x" \\ ünïcødé',
                kl=2.5,
                status=Status.CRITICAL,
                thresholds=Thresholds(warning=0.0, critical=math.inf, policy="null-calibrated"),
                bin_labels=("<script>", "a\nb", "__other__", "__missing__"),
            ),
        ),
    )
    run_id = store.save_run(original)
    assert isinstance(run_id, int)
    assert store.runs("orders") == [original]


def test_run_without_window_start_or_features_round_trips(store: Store, make_run: MakeRun) -> None:
    original = make_run(status=Status.ERROR, window_start=None, features=())
    store.save_run(original)
    assert store.runs("orders") == [original]


def test_a_runs_note_round_trips(store: Store, make_run: MakeRun) -> None:
    """The note of an empty window (runs.message, revision 0002) is stored and read back."""
    original = make_run(
        status=Status.INSUFFICIENT_DATA, live_rows=0, features=(), message="no rows in the window"
    )
    store.save_run(original)
    (stored,) = store.runs("orders")
    assert stored.message == "no rows in the window"
    assert stored == original


def test_datetimes_come_back_timezone_aware_utc(store: Store, make_run: MakeRun) -> None:
    """Offsets are converted to UTC; naive datetimes are taken as UTC."""
    plus2 = timezone(timedelta(hours=2))
    end = datetime(2026, 3, 1, 14, 0, tzinfo=plus2)
    store.save_run(
        make_run(
            window_end=end,
            window_start=datetime(2026, 3, 1, 11, 0),  # naive: UTC
        )
    )
    (back,) = store.runs("orders")
    assert back.window_end == end
    assert back.window_end.tzinfo == UTC
    assert back.window_end.hour == 12
    assert back.window_start == datetime(2026, 3, 1, 11, 0, tzinfo=UTC)
    for t in (back.window_start, back.started_at, back.finished_at):
        assert t is not None
        assert t.tzinfo == UTC


def test_same_window_in_another_offset_is_the_same_window(store: Store, make_run: MakeRun) -> None:
    store.save_run(make_run(window_end=T0))
    store.save_run(make_run(window_end=T0.astimezone(timezone(timedelta(hours=-5)))))
    assert count(store, runs_table) == 1


def test_resaving_a_window_replaces_it(
    store: Store, make_run: MakeRun, make_feature: MakeFeature
) -> None:
    first = make_run()
    second = make_run(
        status=Status.WARNING,
        features=(make_feature("age", kl=0.07, status=Status.WARNING),),
        live_rows=42,
    )
    store.save_run(first)
    store.save_run(first)
    store.save_run(second)
    assert count(store, runs_table) == 1
    assert count(store, feature_results_table) == 1
    assert store.runs("orders") == [second]


def test_runs_lists_newest_window_first_up_to_limit(store: Store, make_run: MakeRun) -> None:
    for i in range(5):
        store.save_run(make_run(window_end=T0 + timedelta(hours=i)))
    store.save_run(make_run(monitor="other"))
    got = store.runs("orders", limit=3)
    assert [r.window_end for r in got] == [T0 + timedelta(hours=i) for i in (4, 3, 2)]
    assert store.runs("nobody") == []


def test_latest_window_ends_are_newest_first_aware_utc_and_per_monitor(
    store: Store, make_run: MakeRun
) -> None:
    for i in (0, 3, 1, 2):
        store.save_run(make_run(window_end=T0 + timedelta(hours=i), status=Status.ERROR))
    store.save_run(make_run(monitor="other", window_end=T0 + timedelta(days=1)))
    ends = store.latest_window_ends("orders", 3)
    assert ends == [T0 + timedelta(hours=i) for i in (3, 2, 1)]
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in ends)
    assert store.latest_window_ends("nobody", 3) == []


def test_run_ending_reads_the_run_of_that_window_with_its_features(
    store: Store, make_run: MakeRun, make_feature: MakeFeature
) -> None:
    for i in range(3):
        store.save_run(
            make_run(window_end=T0 + timedelta(hours=i), features=(make_feature("age", kl=i),))
        )
    store.save_run(make_run(monitor="other", window_end=T0))
    got = store.run_ending("orders", T0 + timedelta(hours=1))
    assert got is not None
    assert got == store.runs("orders")[1]
    assert [f.feature for f in got.features] == ["age"]
    assert store.run_ending("orders", T0 + timedelta(minutes=30)) is None
    assert store.run_ending("nobody", T0) is None


def test_unique_constraint_rejects_a_raw_duplicate_window(store: Store, make_run: MakeRun) -> None:
    """The database itself refuses two runs of one monitor for one window."""
    run_id = store.save_run(make_run())
    with store.engine.connect() as conn:
        row = conn.execute(select(runs_table).where(runs_table.c.id == run_id)).one()._asdict()
        row.pop("id")
        with pytest.raises(IntegrityError):
            conn.execute(insert(runs_table).values(row))
        conn.rollback()
    assert count(store, runs_table) == 1


def test_unique_constraint_rejects_a_feature_twice_in_one_run(
    store: Store, make_run: MakeRun
) -> None:
    run_id = store.save_run(make_run())
    with store.engine.connect() as conn:
        row = (
            conn.execute(
                select(feature_results_table)
                .where(feature_results_table.c.run_id == run_id)
                .limit(1)
            )
            .one()
            ._asdict()
        )
        row.pop("id")
        with pytest.raises(IntegrityError):
            conn.execute(insert(feature_results_table).values(row))
        conn.rollback()


def test_failed_save_stores_nothing_and_keeps_the_previous_run(
    store: Store, make_run: MakeRun, make_feature: MakeFeature
) -> None:
    """A feature violating a constraint aborts the whole run, the replaced one survives."""
    previous = make_run()
    store.save_run(previous)
    before = store.snapshot()
    broken = make_run(
        status=Status.CRITICAL,
        features=(make_feature("dup"), make_feature("dup")),
    )
    with pytest.raises(StorageError, match="saving run of monitor 'orders'"):
        store.save_run(broken)
    assert store.runs("orders") == [previous]
    assert count(store, feature_results_table) == len(previous.features)
    assert store.snapshot() == before


def test_database_failure_after_the_run_insert_stores_nothing(
    store: Store, make_run: MakeRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save_run(make_run(window_end=T0))
    before = store.snapshot()

    def die(*_args: object) -> None:
        raise OperationalError("UPDATE monitor_stats", {}, Exception("server closed connection"))

    monkeypatch.setattr(store_module, "_count_run", die)
    with pytest.raises(StorageError, match="server closed connection"):
        store.save_run(make_run(window_end=T0 + timedelta(hours=1)))
    with pytest.raises(StorageError):
        store.save_run(make_run(window_end=T0, status=Status.CRITICAL))
    monkeypatch.undo()
    assert count(store, runs_table) == 1
    assert count(store, feature_results_table) == 2
    assert store.snapshot() == before


def test_losing_a_race_for_a_window_returns_the_winner_and_stores_nothing(
    store: Store, make_run: MakeRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the insert hits the window's unique constraint, the stored run is kept."""
    winner = make_run()
    winner_id = store.save_run(winner)
    # As if the other writer committed between our delete and our insert.
    monkeypatch.setattr(store_module, "delete", lambda t: delete(t).where(false()))
    loser = make_run(status=Status.WARNING, live_rows=1)
    assert store.save_run(loser) == winner_id
    monkeypatch.undo()
    assert store.runs("orders") == [winner]
    (snap,) = store.snapshot()
    assert snap.runs_success == 1


def test_concurrent_writers_never_duplicate_a_window(db_url: str, make_run: MakeRun) -> None:
    """Eight stores (as if eight daemons) saving the same window leave one run."""
    Store(db_url).upgrade()
    stores = [Store(db_url) for _ in range(8)]
    stores[0].save_run(make_run(window_end=T0 - timedelta(hours=1)))  # monitor row exists
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def write(s: Store, i: int) -> None:
        barrier.wait()
        try:
            s.save_run(make_run(live_rows=i))
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, i)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with stores[0].engine.connect() as conn:
        windows = conn.execute(
            select(runs_table.c.window_end, func.count()).group_by(runs_table.c.window_end)
        ).all()
    assert sorted(n for _, n in windows) == [1, 1]
    assert count(stores[0], feature_results_table) == 4
    for s in stores:
        s.dispose()


def test_profile_round_trips_and_rebuild_replaces_it(store: Store) -> None:
    assert store.load_profile("orders") is None
    p = profile()
    store.save_profile("orders", "fp-1", p)
    got = store.load_profile("orders")
    assert got is not None
    assert got.fingerprint == "fp-1"
    assert got.created_at.tzinfo == UTC
    assert abs(datetime.now(UTC) - got.created_at) < timedelta(minutes=1)
    assert got.profile.to_dict() == p.to_dict()
    assert got.profile.rows == 500

    store.save_profile("orders", "fp-2", ReferenceProfile(p.features[:1], rows=499))
    got = store.load_profile("orders")
    assert got is not None
    assert (got.fingerprint, got.profile.rows, len(got.profile.features)) == ("fp-2", 499, 1)
    assert count(store, reference_profiles_table) == 1


def test_a_rebuild_keeps_the_old_version_for_the_runs_scored_on_it(
    store: Store, make_run: MakeRun
) -> None:
    """Each run records the version it was scored on; a rebuild adds one, rewriting none."""
    p = profile()
    first = store.save_profile("orders", "fp-1", p)
    store.save_run(replace(make_run(window_end=T0), profile_version=first))
    rebuilt = ReferenceProfile(p.features[:1], rows=499)
    second = store.save_profile("orders", "fp-2", rebuilt)
    store.save_run(replace(make_run(window_end=T0 + timedelta(hours=1)), profile_version=second))
    assert second != first
    new, old = store.runs("orders")
    assert (new.profile_version, old.profile_version) == (second, first)
    got_old = store.load_profile_version("orders", first)
    assert got_old is not None
    assert got_old.profile.to_dict() == p.to_dict()
    assert got_old.fingerprint == "fp-1"
    current = store.load_profile("orders")
    assert current is not None
    assert current.version == second
    assert current.profile.rows == 499
    assert store.load_profile_version("users", first) is None  # another monitor's id


def test_a_metadata_change_updates_the_current_version_in_place(store: Store) -> None:
    """Calibrations stored with the profile change no bins: no new version."""
    p = profile()
    first = store.save_profile("orders", "fp", p)
    calibrated = ReferenceProfile(p.features, rows=p.rows, metadata={"calibrations": {"a": 1}})
    assert store.save_profile("orders", "fp", calibrated) == first
    assert count(store, profile_versions_table) == 1
    got = store.load_profile("orders")
    assert got is not None
    assert got.profile.metadata == {"calibrations": {"a": 1}}


def test_a_run_naming_a_version_that_is_gone_is_stored_without_one(
    store: Store, make_run: MakeRun
) -> None:
    store.save_profile("orders", "fp", profile())
    store.save_run(replace(make_run(window_end=T0), profile_version=987654))
    (run,) = store.runs("orders")
    assert run.profile_version is None


def test_prune_deletes_versions_no_run_refers_to_but_keeps_the_current_one(
    store: Store, make_run: MakeRun
) -> None:
    p = profile()
    old = store.save_profile("orders", "fp-1", p)
    store.save_run(replace(make_run(window_end=T0), profile_version=old))
    unused = store.save_profile("orders", "fp-2", ReferenceProfile(p.features[:1], rows=9))
    current = store.save_profile("orders", "fp-3", ReferenceProfile(p.features[:1], rows=8))
    store.save_run(replace(make_run(window_end=T0 + timedelta(days=2)), profile_version=current))
    assert count(store, profile_versions_table) == 3
    store.prune(T0 - timedelta(days=1))  # no run is old enough: only the unused version goes
    assert store.load_profile_version("orders", unused) is None
    assert store.load_profile_version("orders", old) is not None
    assert store.prune(T0 + timedelta(days=1)) == 1  # the run on ``old`` goes, then ``old``
    assert store.load_profile_version("orders", old) is None
    got = store.load_profile("orders")
    assert got is not None
    assert got.version == current


def test_profile_with_numpy_metadata_is_stored(store: Store) -> None:
    p = ReferenceProfile(profile().features, rows=500, metadata={"n": np.int64(3)})
    store.save_profile("orders", "fp", p)
    got = store.load_profile("orders")
    assert got is not None
    assert got.profile.metadata == {"n": 3}


def test_unreadable_stored_profile_is_a_storage_error(store: Store) -> None:
    store.save_profile("orders", "fp", profile())
    with store.engine.begin() as conn:
        conn.execute(update(profile_versions_table).values(profile={"format": 999}))
    with pytest.raises(StorageError, match="reference rebuild"):
        store.load_profile("orders")


def test_prune_deletes_old_runs_and_their_features_only(store: Store, make_run: MakeRun) -> None:
    for m in ("orders", "users"):
        for i in range(5):
            store.save_run(make_run(monitor=m, window_end=T0 + timedelta(hours=i)))
    store.save_profile("orders", "fp", profile())
    before = {s.monitor: s for s in store.snapshot()}

    assert store.prune(T0 + timedelta(hours=2)) == 4
    assert count(store, runs_table) == 6
    assert count(store, feature_results_table) == 12
    with store.engine.connect() as conn:
        orphans = conn.execute(
            select(func.count())
            .select_from(feature_results_table)
            .where(feature_results_table.c.run_id.not_in(select(runs_table.c.id)))
        ).scalar_one()
    assert orphans == 0
    assert [r.window_end for r in store.runs("orders")] == [
        T0 + timedelta(hours=i) for i in (4, 3, 2)
    ]
    after = {s.monitor: s for s in store.snapshot()}
    for m in ("orders", "users"):
        assert after[m].runs_success == before[m].runs_success == 5
        assert after[m].duration == before[m].duration
        assert after[m].last_run_at == before[m].last_run_at
    assert store.load_profile("orders") is not None
    assert count(store, monitors_table) == 2
    assert store.prune(T0) == 0


def test_prune_works_in_batches(
    store: Store, make_run: MakeRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "_PRUNE_BATCH", 2)
    for i in range(5):
        store.save_run(make_run(window_end=T0 + timedelta(hours=i)))
    assert store.prune(T0 + timedelta(days=1)) == 5
    assert count(store, runs_table) == 0
    assert count(store, feature_results_table) == 0


def test_nul_characters_are_stored_as_replacement_characters(
    store: Store, make_run: MakeRun, make_feature: MakeFeature
) -> None:
    """PostgreSQL text cannot hold NUL; it becomes U+FFFD on every backend alike."""
    store.save_run(
        make_run(
            monitor="m\x00",
            features=(make_feature("f\x00", kl=None, message="bad \x00 value"),),
            status=Status.ERROR,
            error="e\x00",
        )
    )
    (back,) = store.runs("m\x00")
    assert back.monitor == "m\ufffd"
    assert back.error == "e\ufffd"
    assert back.features[0].feature == "f\ufffd"
    assert back.features[0].message == "bad \ufffd value"


def test_ping_succeeds_on_a_live_database(store: Store) -> None:
    store.ping()


def test_second_daemon_committing_the_window_mid_save_wins(
    db_url: str, make_run: MakeRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real interleaving on PostgreSQL: the other writer commits between our delete and
    insert; our insert hits the constraint, we roll back and return the winner's id."""
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite writers are serialised (BEGIN IMMEDIATE); no interleaving")
    ours, theirs = Store(db_url), Store(db_url)
    ours.upgrade()
    ours.save_run(make_run(window_end=T0 - timedelta(hours=1)))
    winner = make_run(live_rows=2)
    ids: list[int] = []

    def interleave(run: RunResult, monitor_id: int) -> dict[str, object]:
        if not ids:
            ids.append(-1)
            ids.append(theirs.save_run(winner))
        return run_values(run, monitor_id)

    monkeypatch.setattr(store_module, "run_values", interleave)
    assert ours.save_run(make_run(live_rows=1)) == ids[1]
    monkeypatch.undo()
    assert ours.runs("orders")[0] == winner
    assert ours.snapshot()[0].runs_success == 2  # the loser's run is not counted
    ours.dispose()
    theirs.dispose()


def test_a_runs_features_reach_sqlite_as_multi_row_inserts_and_round_trip(
    tmp_path: Path, make_run: MakeRun, make_feature: MakeFeature
) -> None:
    """SQLite gets the feature rows as multi-row INSERT statements, not sqlite3's
    executemany, which gives the GIL up and back at every row (with the HTTP server's
    threads busy, 1.6 s for a run of 200 features); 2,000 features take more than one
    statement (SQLite's parameter limit) and all come back, in order."""
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    store.upgrade()
    inserts: list[tuple[str, bool]] = []

    def seen(*args: object) -> None:
        statement, executemany = str(args[2]), bool(args[5])
        if statement.startswith("INSERT INTO feature_results"):
            inserts.append((statement, executemany))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        features = tuple(make_feature(f"f{i:04d}", kl=i / 1000) for i in range(2000))
        original = make_run(features=features)
        store.save_run(original)
        # A page of rows per statement (SQLite's parameter limit: 2 pages), not 2,000.
        assert 1 < len(inserts) <= 4
        assert all(stmt.count("), (") > 100 for stmt, _ in inserts)
        assert store.runs("orders") == [original]
    finally:
        store.dispose()
