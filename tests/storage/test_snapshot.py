"""The snapshot behind /metrics: latest runs, counters and histograms, read fast."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import event

from driftmon.core.profile import FeatureSpec, ReferenceProfile, build_feature_profile
from driftmon.core.status import Status
from driftmon.results import FeatureResult, RunResult
from driftmon.storage import (
    DURATION_BUCKETS,
    DurationHistogram,
    MonitorSnapshot,
    Store,
    outcome_of,
)

MakeRun = Callable[..., RunResult]
MakeFeature = Callable[..., FeatureResult]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_snapshot_of_an_empty_database_is_empty(store: Store) -> None:
    assert store.snapshot() == []


def test_monitor_with_only_a_profile_has_zero_counters(store: Store) -> None:
    ref = ReferenceProfile(
        (build_feature_profile(np.arange(10.0), FeatureSpec("x", bins=2)),), rows=10
    )
    before = datetime.now(UTC)
    store.save_profile("fresh", "fp", ref)
    (snap,) = store.snapshot()
    assert snap.first_seen_at is not None
    assert before <= snap.first_seen_at <= datetime.now(UTC)
    assert store.snapshot() == [
        MonitorSnapshot(
            monitor="fresh",
            latest_run=None,
            latest_scored_run=None,
            last_run_at=None,
            last_success_at=None,
            first_seen_at=snap.first_seen_at,
            runs_success=0,
            runs_partial=0,
            runs_failure=0,
            runs_insufficient_data=0,
            duration=DurationHistogram.empty(),
        )
    ]


def test_status_maps_to_outcome() -> None:
    assert [outcome_of(s) for s in Status] == [
        "success",
        "success",
        "success",
        "insufficient_data",
        "failure",
    ]


def test_a_scored_run_with_a_feature_in_error_is_partial_not_success() -> None:
    """A feature that could not be scored must not hide behind the scored ones."""
    mixed = (Status.OK, Status.ERROR, Status.CRITICAL)
    assert [outcome_of(s, mixed) for s in Status] == [
        "partial",
        "partial",
        "partial",
        "insufficient_data",
        "failure",
    ]
    assert outcome_of(Status.WARNING, (Status.WARNING, Status.INSUFFICIENT_DATA)) == "success"


def test_partial_runs_are_counted_apart_and_count_as_scored(
    store: Store, make_run: MakeRun, make_feature: MakeFeature
) -> None:
    """A scored run with a feature in error: outcome partial, and it moves last_success_at."""
    broken = make_feature("agee", kl=None, status=Status.ERROR, message="column 'agee' not found")
    store.save_run(make_run(window_end=T0, features=(make_feature("age"),)))
    partial = make_run(window_end=T0 + timedelta(hours=1), features=(make_feature("age"), broken))
    store.save_run(partial)
    (snap,) = store.snapshot()
    assert snap.runs_by_outcome == {
        "success": 1,
        "partial": 1,
        "failure": 0,
        "insufficient_data": 0,
    }
    assert snap.last_success_at == partial.finished_at


def test_latest_run_and_latest_scored_run(store: Store, make_run: MakeRun) -> None:
    """An error run is the latest run but not the source of feature values."""
    scored = make_run(window_end=T0, status=Status.CRITICAL)
    failed = make_run(window_end=T0 + timedelta(hours=1), status=Status.ERROR, features=())
    store.save_run(failed)
    store.save_run(scored)  # saved later, but an older window
    store.save_run(make_run(window_end=T0 - timedelta(hours=1)))
    (snap,) = store.snapshot()
    assert snap.monitor == "orders"
    assert snap.latest_run == failed
    assert snap.latest_scored_run == scored


def test_counters_accumulate_per_outcome(store: Store, make_run: MakeRun) -> None:
    durations = {
        Status.OK: 0.01,
        Status.WARNING: 0.3,
        Status.CRITICAL: 7.0,
        Status.INSUFFICIENT_DATA: 0.05,
        Status.ERROR: 1000.0,
    }
    for i, (status, d) in enumerate(durations.items()):
        store.save_run(make_run(window_end=T0 + timedelta(hours=i), status=status, duration=d))
    store.save_run(make_run(window_end=T0 + timedelta(hours=9), status=Status.ERROR, duration=2))
    (snap,) = store.snapshot()
    assert snap.runs_by_outcome == {
        "success": 3,
        "partial": 0,
        "failure": 2,
        "insufficient_data": 1,
    }
    assert snap.duration.count == 6
    assert snap.duration.sum == sum(durations.values()) + 2
    expected = tuple((b, sum(d <= b for d in [*durations.values(), 2.0])) for b in DURATION_BUCKETS)
    assert snap.duration.buckets == expected
    assert snap.duration.buckets[0] == (0.05, 2)  # bounds are inclusive, like Prometheus "le"
    last = T0 + timedelta(hours=9, seconds=3)
    assert snap.last_run_at == last
    assert snap.last_success_at == T0 + timedelta(hours=2, seconds=8)
    assert snap.last_run_at is not None
    assert snap.last_run_at.tzinfo == UTC


def test_last_run_time_never_goes_backwards(store: Store, make_run: MakeRun) -> None:
    """Back-filling an older window counts the run but keeps the latest timestamps."""
    store.save_run(make_run(window_end=T0))
    store.save_run(make_run(window_end=T0 - timedelta(days=1)))
    (snap,) = store.snapshot()
    assert snap.runs_success == 2
    assert snap.last_run_at == snap.last_success_at == T0 + timedelta(seconds=2.5)


def test_counters_survive_a_new_store_on_the_same_database(
    store: Store, db_url: str, make_run: MakeRun
) -> None:
    """What a restarted daemon serves at once: counters and latest runs from the database."""
    store.save_run(make_run())
    before = store.snapshot()
    again = Store(db_url)
    assert again.snapshot() == before
    again.dispose()


def test_snapshot_lists_every_monitor_by_name(store: Store, make_run: MakeRun) -> None:
    for m in ("zeta", "alpha", "mid"):
        store.save_run(make_run(monitor=m))
    assert [s.monitor for s in store.snapshot()] == ["alpha", "mid", "zeta"]


def test_snapshot_of_20_monitors_by_200_features_takes_few_queries(
    store: Store, db_url: str, make_run: MakeRun, make_feature: MakeFeature
) -> None:
    """≈4000 feature rows: a cold snapshot takes 3 queries, a repeated one (nothing new
    stored) a single query. Its speed is measured by benchmarks/, not asserted here."""
    features = tuple(make_feature(f"feature_{i:03d}", n_bins=12) for i in range(200))
    for m in range(20):
        for h in range(3):
            store.save_run(
                make_run(monitor=f"m{m:02d}", window_end=T0 + timedelta(hours=h), features=features)
            )
    selects: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    for _ in range(5):
        fresh = Store(db_url)  # a restarted daemon: nothing cached
        fresh.ping()
        event.listen(fresh.engine, "before_cursor_execute", count)
        selects.clear()
        snaps = fresh.snapshot()
        assert len(selects) == 3
        selects.clear()
        assert fresh.snapshot() == snaps
        assert len(selects) == 1
        fresh.dispose()
    assert len(snaps) == 20
    assert all(s.latest_scored_run is not None for s in snaps)
    assert sum(len(s.latest_run.features) for s in snaps if s.latest_run) == 4000
    assert all(s.latest_run and s.latest_run.window_end == T0 + timedelta(hours=2) for s in snaps)


def test_snapshot_never_serves_a_replaced_run(
    store: Store, make_run: MakeRun, make_feature: MakeFeature
) -> None:
    store.save_run(make_run())
    store.snapshot()
    rerun = make_run(status=Status.WARNING, features=(make_feature("age", kl=0.06),))
    store.save_run(rerun)
    (snap,) = store.snapshot()
    assert snap.latest_run == rerun


def test_snapshot_is_fresh_after_the_database_was_recreated(
    store: Store, db_url: str, make_run: MakeRun
) -> None:
    """Run ids start again in a new database; cached runs must not be mistaken for them."""
    store.save_run(make_run())
    store.snapshot()
    other = Store(db_url)
    with other.engine.begin() as conn:
        for table in ("feature_results", "runs", "monitor_stats", "reference_profiles"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER SEQUENCE runs_id_seq RESTART")
        else:
            conn.exec_driver_sql("DELETE FROM sqlite_sequence")
    other.dispose()
    replacement = make_run(duration=9.0, status=Status.CRITICAL)
    store.save_run(replacement)
    (snap,) = store.snapshot()
    assert snap.latest_run == replacement


def test_empty_histogram_has_every_bucket() -> None:
    h = DurationHistogram.empty()
    assert [b for b, _ in h.buckets] == list(DURATION_BUCKETS)
    assert (h.sum, h.count) == (0.0, 0)
