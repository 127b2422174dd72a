"""Reading history: run summaries, one feature's KL over runs, sampled KL trends, a run by id."""

from __future__ import annotations

from datetime import timedelta

from driftmon.core.status import Status
from driftmon.storage import Store

from .conftest import T0, feature, run


def _store_hours(store: Store, hours: int) -> list[int]:
    """``hours`` hourly runs of "orders": KL of "age" is the hour's number / 100."""
    ids = []
    for h in range(hours):
        status = Status.ERROR if h == 2 else Status.OK
        features = () if h == 2 else (feature("age", kl=h / 100), feature("amount", kl=None))
        ids.append(
            store.save_run(
                run(window_end=T0 + timedelta(hours=h), status=status, features=features)
            )
        )
    return ids


def test_run_summaries_are_newest_first_with_feature_counts(store: Store) -> None:
    store.save_run(run(window_end=T0))  # age ok, amount critical
    store.save_run(
        run(
            window_end=T0 + timedelta(hours=1),
            features=(feature("age", kl=None, status=Status.ERROR), feature("amount")),
            message="partly scored",
        )
    )
    store.save_run(run(window_end=T0 + timedelta(hours=2), status=Status.ERROR, features=()))
    store.save_run(run(monitor="other", window_end=T0 + timedelta(hours=5)))
    newest, middle, oldest = store.run_summaries("orders")
    assert [s.window_end for s in (newest, middle, oldest)] == [
        T0 + timedelta(hours=h) for h in (2, 1, 0)
    ]
    assert (newest.status, newest.error, newest.drifted, newest.failed) == (
        Status.ERROR,
        "source unreachable",
        0,
        0,
    )
    assert (middle.message, middle.drifted, middle.failed) == ("partly scored", 0, 1)
    assert (oldest.drifted, oldest.failed) == (1, 0)
    assert len(store.run_summaries("orders", limit=2)) == 2
    assert store.run_summaries("nobody") == []


def test_feature_history_has_every_recent_run_oldest_first(store: Store) -> None:
    ids = _store_hours(store, 5)
    points = store.feature_history("orders", "age")
    assert [p.run_id for p in points] == ids
    assert [p.kl for p in points] == [0.0, 0.01, None, 0.03, 0.04]
    assert points[2].status == Status.ERROR  # the error run, which has no row for "age"
    assert (points[0].warning, points[0].critical) == (0.05, 0.2)
    assert [p.run_id for p in store.feature_history("orders", "age", limit=2)] == ids[-2:]
    unscored = store.feature_history("orders", "amount")
    assert {p.kl for p in unscored} == {None}


def test_kl_trends_sample_the_history_evenly_and_keep_the_latest_run(store: Store) -> None:
    ids = _store_hours(store, 10)
    trends = store.kl_trends("orders", points=4)
    # Runs 0, 3, 6 and 9 of ten; run 2 (an error run, no feature rows) is not among them.
    assert [p.run_id for p in trends["age"]] == [ids[0], ids[3], ids[6], ids[9]]
    assert [p.kl for p in trends["age"]] == [0.0, 0.03, 0.06, 0.09]
    assert set(trends) == {"age", "amount"}
    only = store.kl_trends("orders", ["amount"], points=100)
    assert set(only) == {"amount"}
    assert len(only["amount"]) == 9  # every run but the error run
    assert store.kl_trends("nobody") == {}


def test_run_by_id_reads_that_run_of_that_monitor_only(store: Store) -> None:
    first = store.save_run(run(window_end=T0))
    store.save_run(run(window_end=T0 + timedelta(hours=1)))
    got = store.run_by_id("orders", first)
    assert got is not None
    assert got.window_end == T0
    assert [f.feature for f in got.features] == ["age", "amount"]
    assert store.run_by_id("users", first) is None
    assert store.run_by_id("orders", 10**9) is None
