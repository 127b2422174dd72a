"""The Prometheus collector: every exported family, read back from a fresh registry per test."""

from __future__ import annotations

import subprocess
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client.parser import text_string_to_metric_families

from driftmon import __version__
from driftmon.config import Config
from driftmon.core.drift import DriftScores
from driftmon.core.status import Status, Thresholds
from driftmon.errors import ConfigError, StorageError
from driftmon.results import FeatureResult, RunResult
from driftmon.service.daemon import Daemon
from driftmon.service.http import MetricsEndpoint, make_app
from driftmon.service.http_server import HttpServer
from driftmon.service.metrics import DriftCollector, SnapshotCache, _Families
from driftmon.storage import DURATION_BUCKETS, Store
from tests.ci import require_tool

from .conftest import END, TcpProxy, make_config, monitor_dict

FEATURE_FAMILIES = {
    "driftmon_feature_kl_divergence": "kl_divergence",
    "driftmon_feature_entropy": "entropy",
    "driftmon_feature_cross_entropy": "cross_entropy",
    "driftmon_feature_js_divergence": "js_divergence",
    "driftmon_feature_psi": "psi",
    "driftmon_feature_p_value": "p_value",
    "driftmon_feature_expected_kl": "expected_kl",
}
# Every family the collector exports; a new one needs a test here.
ALL_FAMILIES = {
    *FEATURE_FAMILIES,
    "driftmon_feature_p_value_adjusted",
    "driftmon_feature_kl_threshold",
    "driftmon_feature_threshold_policy_info",
    "driftmon_feature_drift_status",
    "driftmon_feature_status",
    "driftmon_feature_live_rows",
    "driftmon_feature_missing_ratio",
    "driftmon_monitor_last_run_timestamp_seconds",
    "driftmon_monitor_last_success_timestamp_seconds",
    "driftmon_monitor_first_seen_timestamp_seconds",
    "driftmon_monitor_feature_errors",
    "driftmon_monitor_runs",
    "driftmon_monitor_run_duration_seconds",
    "driftmon_monitor_drifted_features",
    "driftmon_monitor_status",
    "driftmon_monitor_schedule_interval_seconds",
    "driftmon_scrape_errors",
    "driftmon_build_info",
    "driftmon_server_info",
}
STATIC = Thresholds(warning=0.05, critical=0.2)


def scores(kl: float, seed: float = 0.0) -> DriftScores:
    """Scores with distinct, recognisable values per field."""
    return DriftScores(
        kl_divergence=kl,
        entropy=1.25 + seed,
        cross_entropy=1.25 + seed + kl,
        js_divergence=kl / 4,
        psi=kl * 2,
        g_statistic=17.5,
        degrees_of_freedom=7,
        p_value=0.0125 + seed,
        expected_kl=0.003 + seed,
        live_rows=800,
        reference_rows=2000,
    )


def feature(
    name: str, status: Status, kl: float | None, thresholds: Thresholds = STATIC, **kw: Any
) -> FeatureResult:
    args: dict[str, Any] = {
        "feature": name,
        "status": status,
        "thresholds": thresholds,
        "live_rows": 800,
        "missing_rows": 200,
        "scores": scores(kl) if kl is not None else None,
        "live_counts": (100, 500, 200),
        "bin_labels": ("a", "b", "__missing__"),
    }
    args.update(kw)
    return FeatureResult(**args)


def run(
    status: Status,
    features: tuple[FeatureResult, ...] = (),
    *,
    hours_before: int = 0,
    duration: float = 0.3,
    monitor: str = "m",
) -> RunResult:
    end = END - timedelta(hours=hours_before)
    return RunResult(
        monitor=monitor,
        window_start=end - timedelta(hours=1),
        window_end=end,
        started_at=end,
        finished_at=end + timedelta(seconds=duration),
        status=status,
        live_rows=800,
        reference_rows=2000,
        features=features,
        error="source unreachable" if status == Status.ERROR else None,
    )


def scored_run(**kw: Any) -> RunResult:
    """x ok, y warning (with its own thresholds), c critical."""
    y_thr = Thresholds(warning=0.08, critical=0.3)
    return run(
        Status.CRITICAL,
        (
            feature("x", Status.OK, 0.01),
            feature("y", Status.WARNING, 0.1, thresholds=y_thr),
            feature("c", Status.CRITICAL, 0.5),
        ),
        **kw,
    )


def collector_registry(config: Config, store: Store) -> tuple[CollectorRegistry, SnapshotCache]:
    """A fresh registry whose collector re-reads the database on every scrape."""
    cache = SnapshotCache(store, max_age=0.0)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(DriftCollector(config, cache))
    return registry, cache


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """Monitor m: x, y (own thresholds), c; its database URL is not used by the collector."""
    y = {"name": "y", "thresholds": {"warning": 0.08, "critical": 0.3}}
    features: list[dict[str, Any]] = [{"name": "x"}, y, {"name": "c"}]
    return make_config(tmp_path, "sqlite:///unused.db", monitor_dict(features=features))


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


# -- values -------------------------------------------------------------------------------


def test_registering_the_collector_does_not_touch_the_database(config: Config) -> None:
    """describe() answers without a query, so a daemon starts even with the database down."""
    store = Store("postgresql+psycopg://u:pw@127.0.0.1:1/x")
    cache = SnapshotCache(store)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(DriftCollector(config, cache))
    assert cache.errors_total == 0
    assert cache.age_seconds() is None  # never read
    # The first scrape then serves what it can: config-derived series and the error count.
    assert value(registry, "driftmon_scrape_errors_total") == 1
    threshold = value(
        registry, "driftmon_feature_kl_threshold", monitor="m", feature="x", severity="warning"
    )
    assert threshold == 0.05
    assert value(registry, "driftmon_feature_kl_divergence", monitor="m", feature="x") is None


def test_the_collector_exports_exactly_the_known_families(config: Config, store: Store) -> None:
    registry, _ = collector_registry(config, store)
    assert {m.name for m in _Families().all()} == ALL_FAMILIES
    assert {m.name for m in registry.collect()} == ALL_FAMILIES


def test_every_feature_family_holds_the_latest_scored_values(config: Config, store: Store) -> None:
    r = scored_run()
    store.save_run(r)
    registry, _ = collector_registry(config, store)
    for f in r.features:
        assert f.scores is not None
        for family, field in FEATURE_FAMILIES.items():
            got = value(registry, family, monitor="m", feature=f.feature)
            assert got == getattr(f.scores, field), (family, f.feature)
        assert value(registry, "driftmon_feature_live_rows", monitor="m", feature=f.feature) == 800
        ratio = value(registry, "driftmon_feature_missing_ratio", monitor="m", feature=f.feature)
        assert ratio == 0.25
        assert (
            value(
                registry,
                "driftmon_feature_threshold_policy_info",
                monitor="m",
                feature=f.feature,
                policy="static",
            )
            == 1.0
        )


def test_the_adjusted_p_value_is_exported_only_for_features_that_have_one(
    config: Config, store: Store
) -> None:
    """driftmon_feature_p_value_adjusted: set under a bonferroni/bh correction, else absent."""
    store.save_run(
        run(
            Status.WARNING,
            (
                feature("x", Status.WARNING, 0.1, p_value_adjusted=0.0375),
                feature("y", Status.OK, 0.01),
            ),
        )
    )
    registry, _ = collector_registry(config, store)
    name = "driftmon_feature_p_value_adjusted"
    assert value(registry, name, monitor="m", feature="x") == 0.0375
    assert value(registry, name, monitor="m", feature="y") is None
    assert value(registry, "driftmon_feature_p_value", monitor="m", feature="x") == 0.0125


def test_thresholds_are_exported_per_severity_with_feature_overrides(
    config: Config, store: Store
) -> None:
    """Before any run they come from the config; after one, from the stored result."""
    registry, _ = collector_registry(config, store)
    expected = {"x": (0.05, 0.2), "y": (0.08, 0.3), "c": (0.05, 0.2)}

    def exported() -> dict[str, tuple[float | None, float | None]]:
        return {
            f: tuple(  # type: ignore[misc]
                value(registry, "driftmon_feature_kl_threshold", monitor="m", feature=f, severity=s)
                for s in ("warning", "critical")
            )
            for f in expected
        }

    assert exported() == expected
    store.save_run(scored_run())
    assert exported() == expected


def test_drift_status_maps_ok_warning_critical_to_0_1_2(config: Config, store: Store) -> None:
    store.save_run(scored_run())
    registry, _ = collector_registry(config, store)
    got = {
        f: value(registry, "driftmon_feature_drift_status", monitor="m", feature=f)
        for f in ("x", "y", "c")
    }
    assert got == {"x": 0.0, "y": 1.0, "c": 2.0}
    for f, status in (("x", "ok"), ("y", "warning"), ("c", "critical")):
        for s in Status:
            one_hot = value(registry, "driftmon_feature_status", monitor="m", feature=f, status=s)
            assert one_hot == float(s == status), (f, s)
    drifted = {
        s: value(registry, "driftmon_monitor_drifted_features", monitor="m", severity=s)
        for s in ("warning", "critical")
    }
    assert drifted == {"warning": 1.0, "critical": 1.0}
    for s in Status:
        assert value(registry, "driftmon_monitor_status", monitor="m", status=s) == float(
            s == Status.CRITICAL
        )


def test_insufficient_data_features_export_no_scores(config: Config, store: Store) -> None:
    features = tuple(
        feature(n, Status.INSUFFICIENT_DATA, None, message="too few rows") for n in ("x", "y", "c")
    )
    store.save_run(run(Status.INSUFFICIENT_DATA, features))
    registry, _ = collector_registry(config, store)
    for f in ("x", "y", "c"):
        for family in (*FEATURE_FAMILIES, "driftmon_feature_drift_status"):
            assert value(registry, family, monitor="m", feature=f) is None, family
        status = value(
            registry, "driftmon_feature_status", monitor="m", feature=f, status="insufficient_data"
        )
        assert status == 1.0
        assert value(registry, "driftmon_feature_live_rows", monitor="m", feature=f) == 800
    assert value(registry, "driftmon_monitor_status", monitor="m", status="insufficient_data") == 1
    assert value(registry, "driftmon_monitor_last_success_timestamp_seconds", monitor="m") is None


def test_an_error_run_keeps_the_previous_scores_and_sets_the_run_status(
    config: Config, store: Store
) -> None:
    good = scored_run(hours_before=1)
    store.save_run(good)
    store.save_run(run(Status.ERROR))
    registry, _ = collector_registry(config, store)
    assert value(registry, "driftmon_feature_kl_divergence", monitor="m", feature="c") == 0.5
    assert value(registry, "driftmon_monitor_status", monitor="m", status="error") == 1.0
    assert value(registry, "driftmon_monitor_status", monitor="m", status="critical") == 0.0
    last_success = value(registry, "driftmon_monitor_last_success_timestamp_seconds", monitor="m")
    last_run = value(registry, "driftmon_monitor_last_run_timestamp_seconds", monitor="m")
    assert last_success == good.finished_at.timestamp()
    assert last_run == (END + timedelta(seconds=0.3)).timestamp()


def test_runs_total_counts_runs_by_outcome(config: Config, store: Store) -> None:
    store.save_run(scored_run(hours_before=5))
    store.save_run(run(Status.OK, (feature("x", Status.OK, 0.01),), hours_before=4))
    store.save_run(run(Status.OK, (feature("x", Status.OK, 0.01), broken("y")), hours_before=3))
    store.save_run(run(Status.ERROR, hours_before=2))
    store.save_run(run(Status.INSUFFICIENT_DATA, hours_before=1))
    store.save_run(run(Status.ERROR, hours_before=0))
    registry, _ = collector_registry(config, store)
    counts = {
        o: value(registry, "driftmon_monitor_runs_total", monitor="m", outcome=o)
        for o in ("success", "partial", "failure", "insufficient_data")
    }
    assert counts == {"success": 2.0, "partial": 1.0, "failure": 2.0, "insufficient_data": 1.0}


def broken(name: str) -> FeatureResult:
    """A feature that could not be scored (a column missing from the live data)."""
    return feature(
        name, Status.ERROR, None, live_counts=(), bin_labels=(), message="column not found"
    )


def feature_errors(registry: CollectorRegistry) -> dict[str, float | None]:
    """driftmon_feature_status{status="error"} of x, y, c, and the monitor's error count."""
    got = {
        f: value(registry, "driftmon_feature_status", monitor="m", feature=f, status="error")
        for f in ("x", "y", "c")
    }
    got["count"] = value(registry, "driftmon_monitor_feature_errors", monitor="m")
    return got


def test_a_feature_in_error_in_a_scored_run_is_flagged_counted_and_the_run_partial(
    config: Config, store: Store
) -> None:
    """y cannot be scored while x and c are: y shows as error, counts, and the run is partial."""
    store.save_run(
        run(
            Status.CRITICAL,
            (feature("x", Status.OK, 0.01), broken("y"), feature("c", Status.CRITICAL, 0.5)),
        )
    )
    registry, _ = collector_registry(config, store)
    assert feature_errors(registry) == {"x": 0.0, "y": 1.0, "c": 0.0, "count": 1.0}
    # No number for y that could pass for data: no scores, no row count, no missing ratio.
    for family in (
        *FEATURE_FAMILIES,
        "driftmon_feature_live_rows",
        "driftmon_feature_missing_ratio",
    ):
        assert value(registry, family, monitor="m", feature="y") is None, family
    assert value(registry, "driftmon_feature_live_rows", monitor="m", feature="x") == 800
    assert value(registry, "driftmon_monitor_runs_total", monitor="m", outcome="partial") == 1
    assert value(registry, "driftmon_monitor_runs_total", monitor="m", outcome="success") == 0
    assert (
        value(registry, "driftmon_monitor_last_success_timestamp_seconds", monitor="m")
        == (END + timedelta(seconds=0.3)).timestamp()
    )


def test_a_run_with_every_feature_in_error_does_not_show_the_older_ok(
    config: Config, store: Store
) -> None:
    """Every feature in error makes an error run; its features show error, not the last ok."""
    store.save_run(scored_run(hours_before=1))
    store.save_run(run(Status.ERROR, (broken("x"), broken("y"), broken("c"))))
    registry, _ = collector_registry(config, store)
    assert feature_errors(registry) == {"x": 1.0, "y": 1.0, "c": 1.0, "count": 3.0}
    assert value(registry, "driftmon_feature_status", monitor="m", feature="x", status="ok") == 0
    # The scores stay those of the latest scored window, as for any error run.
    assert value(registry, "driftmon_feature_kl_divergence", monitor="m", feature="c") == 0.5


def test_a_run_that_failed_before_its_features_keeps_their_last_status(
    config: Config, store: Store
) -> None:
    """A source that cannot be read fails the run as a whole: that shows at monitor level."""
    store.save_run(run(Status.OK, (feature("x", Status.OK, 0.01), broken("y")), hours_before=1))
    store.save_run(run(Status.ERROR))
    registry, _ = collector_registry(config, store)
    assert feature_errors(registry) == {"x": 0.0, "y": 1.0, "c": None, "count": 1.0}
    assert value(registry, "driftmon_monitor_status", monitor="m", status="error") == 1.0
    assert value(registry, "driftmon_monitor_runs_total", monitor="m", outcome="failure") == 1


def test_first_seen_is_when_the_database_first_recorded_the_monitor(
    config: Config, store: Store
) -> None:
    """Absent before any run; then fixed, whatever runs follow (for the no-scored-window alert)."""
    registry, _ = collector_registry(config, store)
    assert value(registry, "driftmon_monitor_first_seen_timestamp_seconds", monitor="m") is None
    before = time.time()
    store.save_run(run(Status.INSUFFICIENT_DATA, hours_before=1))
    first = value(registry, "driftmon_monitor_first_seen_timestamp_seconds", monitor="m")
    assert first is not None
    assert before - 1 <= first <= time.time() + 1
    store.save_run(scored_run())
    assert value(registry, "driftmon_monitor_first_seen_timestamp_seconds", monitor="m") == first
    assert value(registry, "driftmon_monitor_feature_errors", monitor="m") == 0.0


def test_the_duration_histogram_has_cumulative_buckets_sum_and_count(
    config: Config, store: Store
) -> None:
    durations = [0.03, 0.3, 3.0, 700.0]
    for i, d in enumerate(durations):
        store.save_run(scored_run(hours_before=i, duration=d))
    registry, _ = collector_registry(config, store)
    name = "driftmon_monitor_run_duration_seconds"
    for bound in DURATION_BUCKETS:
        got = value(registry, f"{name}_bucket", monitor="m", le=repr(float(bound)))
        assert got == sum(d <= bound for d in durations), bound
    assert value(registry, f"{name}_bucket", monitor="m", le="+Inf") == 4
    assert value(registry, f"{name}_count", monitor="m") == 4
    assert value(registry, f"{name}_sum", monitor="m") == pytest.approx(sum(durations))


def test_monitor_and_process_gauges(config: Config, store: Store) -> None:
    registry, _ = collector_registry(config, store)
    assert value(registry, "driftmon_monitor_schedule_interval_seconds", monitor="m") == 3600
    assert value(registry, "driftmon_build_info", version=__version__) == 1.0
    assert value(registry, "driftmon_server_info", external_url="") == 1.0  # not configured
    assert value(registry, "driftmon_scrape_errors_total") == 0.0
    # A monitor that never ran has zero counters and an empty histogram, no timestamps.
    assert value(registry, "driftmon_monitor_runs_total", monitor="m", outcome="success") == 0
    assert value(registry, "driftmon_monitor_run_duration_seconds_count", monitor="m") == 0
    assert value(registry, "driftmon_monitor_last_run_timestamp_seconds", monitor="m") is None
    assert value(registry, "driftmon_monitor_feature_errors", monitor="m") == 0


# -- restarts and outages -----------------------------------------------------------------


def test_a_restarted_collector_serves_the_stored_values_at_once(
    config: Config, store: Store, db_url: str
) -> None:
    store.save_run(scored_run())
    restarted = Store(db_url)
    try:
        registry, cache = collector_registry(config, restarted)
        assert value(registry, "driftmon_feature_kl_divergence", monitor="m", feature="c") == 0.5
        assert value(registry, "driftmon_monitor_runs_total", monitor="m", outcome="success") == 1
        assert cache.errors_total == 0
    finally:
        restarted.dispose()


def _serves_last_snapshot_while_down(registry: CollectorRegistry, cache: SnapshotCache) -> None:
    for scrape in (1, 2):
        text = generate_latest(registry).decode()  # the scrape itself succeeds
        assert "driftmon_feature_kl_divergence" in text
        assert value(registry, "driftmon_feature_kl_divergence", monitor="m", feature="c") == 0.5
        assert value(registry, "driftmon_scrape_errors_total") >= scrape  # type: ignore[operator]
    assert not cache.healthy


def test_sqlite_unreadable_during_a_scrape_serves_the_last_snapshot(
    tmp_path: Path, config: Config
) -> None:
    db = tmp_path / "results.db"
    store = Store(f"sqlite:///{db}")
    store.upgrade()
    store.save_run(scored_run())
    registry, cache = collector_registry(config, store)
    assert value(registry, "driftmon_feature_kl_divergence", monitor="m", feature="c") == 0.5

    moved = tmp_path / "moved"
    moved.mkdir()
    for f in tmp_path.glob(db.name + "*"):
        f.rename(moved / f.name)
    db.mkdir()  # a directory where the database was: SQLite cannot open it
    store.dispose()  # pooled connections would still hold the moved file open
    _serves_last_snapshot_while_down(registry, cache)
    errors = value(registry, "driftmon_scrape_errors_total")

    db.rmdir()
    for f in moved.iterdir():
        f.rename(tmp_path / f.name)
    assert value(registry, "driftmon_scrape_errors_total") == errors  # recovered: no new error
    assert cache.healthy
    store.dispose()


@pytest.mark.postgres
def test_postgresql_unreachable_during_a_scrape_serves_the_last_snapshot(
    pg_database: str, config: Config
) -> None:
    """The database is reached through a proxy that is then shut: connections refused."""
    from sqlalchemy.engine import make_url

    url = make_url(pg_database)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    store = Store(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    try:
        store.upgrade()
        store.save_run(scored_run())
        registry, cache = collector_registry(config, store)
        assert value(registry, "driftmon_feature_kl_divergence", monitor="m", feature="c") == 0.5
        proxy.stop()
        _serves_last_snapshot_while_down(registry, cache)
        assert cache.last_error is not None
        assert f"127.0.0.1:{proxy.port}" in cache.last_error
    finally:
        proxy.stop()
        store.dispose()


# -- exposition ---------------------------------------------------------------------------

AWKWARD_MONITOR = 'orders "EU" \\ prod ü'
AWKWARD_FEATURES = ["amount in €", 'say "hi"', "back\\slash", "naïve 日本"]


def test_awkward_names_are_escaped_in_the_text_exposition(
    tmp_path: Path, store: Store, db_url: str
) -> None:
    features = [{"name": n, "column": f"col{i}"} for i, n in enumerate(AWKWARD_FEATURES)]
    config = make_config(tmp_path, db_url, monitor_dict(AWKWARD_MONITOR, features=features))
    store.save_run(
        run(
            Status.OK,
            tuple(feature(n, Status.OK, 0.01 * (i + 1)) for i, n in enumerate(AWKWARD_FEATURES)),
            monitor=AWKWARD_MONITOR,
        )
    )
    registry, _ = collector_registry(config, store)
    text = generate_latest(registry).decode()
    parsed = {m.name: m for m in text_string_to_metric_families(text)}
    kl = {
        s.labels["feature"]: s.value
        for s in parsed["driftmon_feature_kl_divergence"].samples
        if s.labels["monitor"] == AWKWARD_MONITOR
    }
    assert kl == {n: pytest.approx(0.01 * (i + 1)) for i, n in enumerate(AWKWARD_FEATURES)}
    assert '\\"EU\\" \\\\ prod' in text  # quotes and backslashes escaped in label values


def test_a_newline_cannot_reach_a_label_because_config_names_reject_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="control"):
        make_config(tmp_path, "sqlite:///unused.db", monitor_dict("two\nlines"))


def test_promtool_check_metrics_finds_nothing_to_complain_about(
    tmp_path: Path, store: Store, db_url: str
) -> None:
    promtool = require_tool("promtool", "prometheus")
    features = [{"name": n, "column": f"col{i}"} for i, n in enumerate(AWKWARD_FEATURES)]
    config = make_config(
        tmp_path,
        db_url,
        monitor_dict(AWKWARD_MONITOR, features=features),
        monitor_dict("plain"),
    )
    store.save_run(
        run(
            Status.CRITICAL,
            tuple(feature(n, Status.CRITICAL, 0.5) for n in AWKWARD_FEATURES),
            monitor=AWKWARD_MONITOR,
        )
    )
    store.save_run(run(Status.ERROR, monitor="plain"))
    registry, _ = collector_registry(config, store)
    exposition = generate_latest(registry)
    done = subprocess.run(
        [promtool, "check", "metrics"],
        input=exposition,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.decode().strip() == ""
    assert done.stderr.decode().strip() == ""


class _HangingStore:
    """A results store whose snapshot blocks until released, like a database that never answers."""

    def __init__(self, first: list[Any]) -> None:
        self.release = threading.Event()
        self.calls = 0
        self._first = first

    def snapshot(self) -> list[Any]:
        self.calls += 1
        if self.calls > 1:
            self.release.wait(30)
        return self._first


def test_a_results_database_that_never_answers_cannot_hang_a_scrape() -> None:
    """The scrape waits at most refresh_timeout, serves the last snapshot, counts one error."""
    store = _HangingStore(first=["snapshot-1"])
    cache = SnapshotCache(store, max_age=0.0, refresh_timeout=0.2)  # type: ignore[arg-type]
    assert list[Any](cache.get()) == ["snapshot-1"]
    try:
        for _ in range(3):  # three scrapes while the refresh hangs
            started = time.monotonic()
            assert list[Any](cache.get()) == ["snapshot-1"]
            assert time.monotonic() - started < 5
        assert cache.errors_total == 1
        assert cache.last_error is not None
        assert "did not answer within 0.2 s" in cache.last_error
        assert store.calls == 2  # one refresh in flight, not one per scrape
    finally:
        store.release.set()
    deadline = time.monotonic() + 5
    while cache.last_error is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache.healthy


def test_a_second_wait_for_the_same_hung_refresh_returns_at_once() -> None:
    """Scrapers wait for a refresh until its deadline, once: not refresh_timeout per call."""
    first: list[Any] = ["snapshot-1"]
    store = _HangingStore(first=first)
    cache = SnapshotCache(store, max_age=0.0, refresh_timeout=2.0)  # type: ignore[arg-type]
    assert cache.get() is first
    try:
        late: list[float] = []

        def late_scraper() -> None:
            time.sleep(1.5)
            t0 = time.monotonic()
            cache.get()
            late.append(time.monotonic() - t0)

        scraper = threading.Thread(target=late_scraper)
        scraper.start()
        cache.get()  # starts the refresh, waits for it 2 s
        scraper.join(10)
        # Its own wait: what is left of the first one's 2 s (about 0.5 s, nothing if load
        # delayed it past the deadline), not 2 s: 1.5 s tells them apart with room for load
        # (1.4 s counted from the first call, with a 1 s timeout, left 0.4 s).
        assert late[0] < 1.5, "the late scraper waited a refresh_timeout of its own"
        again = time.monotonic()
        assert cache.get() is first
        assert time.monotonic() - again < 1.0  # waiting for the hung refresh again: 2 s
        assert store.calls == 2
        assert cache.errors_total == 1
    finally:
        store.release.set()


def test_ten_concurrent_scrapes_of_a_database_that_never_answers_each_end_within_3_s(
    config: Config,
) -> None:
    """The daemon's registry and endpoint: scrapers wait side by side, never in a queue."""
    store = _HangingStore(first=[])
    daemon = Daemon(config, store)  # type: ignore[arg-type]  # not started
    app = make_app(daemon.registry, dict, daemon._exposition_version, daemon.process_registry)
    server = HttpServer("127.0.0.1", 0, app)
    server.start()
    url = f"http://127.0.0.1:{server.port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=10) as first:  # the last good snapshot
            assert b"driftmon_monitor_schedule_interval_seconds" in first.read()
        daemon.cache.invalidate()  # a run was stored: the next scrape refreshes, and hangs
        took: list[float] = []
        bodies: list[bytes] = []

        def scrape() -> None:
            t0 = time.monotonic()
            with urllib.request.urlopen(url, timeout=30) as resp:
                bodies.append(resp.read())
            took.append(time.monotonic() - t0)

        scrapers = [threading.Thread(target=scrape) for _ in range(10)]
        for s in scrapers:
            s.start()
        for s in scrapers:
            s.join(40)
        assert len(took) == 10
        assert max(took) < 3.0 + 0.8, sorted(took)
        assert all(b"driftmon_monitor_schedule_interval_seconds" in b for b in bodies)
        assert all(b"process_resident_memory_bytes" in b for b in bodies)  # the daemon's own
        assert daemon.cache.errors_total == 1
        assert store.calls == 2  # one refresh in flight, not one per scraper
    finally:
        store.release.set()
        server.stop()


class _FailingStore:
    """A results store whose snapshot fails after ``delay`` seconds, every time."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0

    def snapshot(self) -> list[Any]:
        self.calls += 1
        time.sleep(self.delay)
        raise StorageError("reading the snapshot failed on postgresql://db/results: refused")


def test_a_failed_refresh_is_retried_after_max_age_or_a_stored_run_not_on_every_call() -> None:
    """Otherwise one scrape (version, then collect) waited for one failing refresh after
    another: three connect timeouts in a row."""
    store = _FailingStore(delay=0.3)
    cache = SnapshotCache(store, max_age=60.0, refresh_timeout=3.0)  # type: ignore[arg-type]
    assert list(cache.get()) == []
    assert store.calls == 1
    started = time.monotonic()
    for _ in range(3):
        assert list(cache.get()) == []
    assert time.monotonic() - started < 0.6  # a retry on each call: 3 x 0.3 s at least
    assert store.calls == 1
    assert cache.errors_total == 1
    cache.invalidate()  # a run was stored: worth another try
    cache.get()
    assert store.calls == 2


def test_the_openmetrics_exposition_of_every_family_parses_with_awkward_names(
    tmp_path: Path, store: Store, db_url: str
) -> None:
    """What Prometheus now negotiates: the strict OpenMetrics parser reads every family."""
    features = [{"name": n, "column": f"col{i}"} for i, n in enumerate(AWKWARD_FEATURES)]
    config = make_config(tmp_path, db_url, monitor_dict(AWKWARD_MONITOR, features=features))
    store.save_run(
        run(
            Status.CRITICAL,
            tuple(feature(n, Status.CRITICAL, 0.5) for n in AWKWARD_FEATURES),
            monitor=AWKWARD_MONITOR,
        )
    )
    registry, _ = collector_registry(config, store)
    endpoint = MetricsEndpoint(registry, lambda: 1)
    text = endpoint.body(gzip_ok=False, openmetrics=True).decode()
    parsed = {
        m.name: m
        for m in openmetrics_parser.text_string_to_metric_families(text)  # type: ignore[no-untyped-call]
    }
    assert set(parsed) == ALL_FAMILIES
    kl = {s.labels["feature"]: s.value for s in parsed["driftmon_feature_kl_divergence"].samples}
    assert kl == dict.fromkeys(AWKWARD_FEATURES, 0.5)
    assert text.endswith("# EOF\n")


def test_server_info_carries_the_configured_external_url(config: Config, store: Store) -> None:
    """The alert rules build their page links from this label."""
    server = config.server.model_copy(update={"external_url": "https://ops.example.com/drift"})
    registry, _ = collector_registry(config.model_copy(update={"server": server}), store)
    url = "https://ops.example.com/drift"
    assert value(registry, "driftmon_server_info", external_url=url) == 1.0
