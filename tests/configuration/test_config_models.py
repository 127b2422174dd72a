"""Schedules, sources and features: parsing, helpers, and specific error messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import BaseModel

from driftmon.config import (
    FileSourceConfig,
    LiveFileSourceConfig,
    LiveSparkSourceConfig,
    LiveSqlSourceConfig,
    ScheduleConfig,
    SparkSourceConfig,
    SqlSourceConfig,
    StaticThresholds,
)
from driftmon.core.profile import FeatureSpec

from .conftest import ALL_MODELS, ErrorLoader, Loader, minimal_config, with_feature, with_monitor

MONITOR = "monitors[0] (name 'example')"
FEATURES = [
    "features[0] (name 'age')",
    "features[1] (name 'amount')",
    "features[2] (name 'country')",
]

# --- schedule -------------------------------------------------------------------------


def test_every_schedule(load: Loader) -> None:
    s = load(with_monitor(schedule={"every": "90s"})).monitors[0].schedule
    assert (s.every, s.cron) == (timedelta(seconds=90), None)
    assert s.interval_seconds() == 90.0
    assert isinstance(s.trigger(), IntervalTrigger)


def test_cron_schedule_interval_is_gap_between_next_two_fires(load: Loader) -> None:
    s = load(with_monitor(schedule={"cron": "*/5 * * * *"})).monitors[0].schedule
    assert s.cron == "*/5 * * * *"
    assert s.interval_seconds() == 300.0
    assert isinstance(s.trigger(), CronTrigger)


def test_cron_interval_depends_on_now_for_irregular_schedules() -> None:
    s = ScheduleConfig(cron="0 9 * * mon-fri")
    friday_noon = datetime(2024, 1, 5, 12, tzinfo=UTC)
    monday_noon = datetime(2024, 1, 8, 12, tzinfo=UTC)
    assert s.interval_seconds(now=friday_noon) == timedelta(days=1).total_seconds()  # Mon->Tue
    assert s.interval_seconds(now=monday_noon) == timedelta(days=1).total_seconds()
    thursday_noon = datetime(2024, 1, 4, 12, tzinfo=UTC)
    assert s.interval_seconds(now=thursday_noon) == timedelta(days=3).total_seconds()  # Fri->Mon


def test_cron_is_evaluated_in_utc() -> None:
    trigger = ScheduleConfig(cron="0 3 * * *").trigger()
    start = datetime(2024, 6, 1, tzinfo=UTC)
    fire = trigger.get_next_fire_time(None, start)
    assert fire is not None
    assert fire.astimezone(UTC) == datetime(2024, 6, 1, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cron", "fragment"),
    [
        ("61 * * * *", "higher than the maximum value (59)"),
        ("* * *", "expected 5 crontab fields"),
        ("@daily", "expected 5 crontab fields"),
        ("every five minutes", "expected a 5-field crontab expression"),
        ("0 0 30 2 *", "never fires"),
    ],
)
def test_invalid_cron(load_error: ErrorLoader, cron: str, fragment: str) -> None:
    message = load_error(with_monitor(schedule={"cron": cron}))
    assert f"{MONITOR}.schedule.cron: " in message
    assert fragment in message


@pytest.mark.parametrize(
    ("given", "word"), [({}, "neither"), ({"every": "5m", "cron": "* * * * *"}, "both")]
)
def test_schedule_needs_exactly_one_of_every_or_cron(
    load_error: ErrorLoader, given: dict[str, str], word: str
) -> None:
    message = load_error(with_monitor(schedule=given))
    assert f"{MONITOR}.schedule: expected exactly one of 'every' or 'cron', got {word}" in message


# --- sources --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fmt"),
    [("r.csv", "csv"), ("r.CSV", "csv"), ("r.parquet", "parquet"), ("r.pq", "parquet"),
     ("dir/*.parquet", "parquet"), ("part-*.csv", "csv")],
)  # fmt: skip
def test_file_format_is_inferred_from_extension(load: Loader, path: str, fmt: str) -> None:
    ref = load(with_monitor(reference={"path": path})).monitors[0].reference
    assert isinstance(ref, FileSourceConfig)
    assert ref.kind == "file"
    assert ref.format == fmt


def test_explicit_format_overrides_extension(load: Loader) -> None:
    ref = load(with_monitor(reference={"path": "dump.txt", "format": "csv"})).monitors[0].reference
    assert isinstance(ref, FileSourceConfig)
    assert ref.format == "csv"


@pytest.mark.parametrize("path", ["data/ref.txt", "data/*", "data/ref"])
def test_unknown_extension_names_the_path(load_error: ErrorLoader, path: str) -> None:
    message = load_error(with_monitor(reference={"path": path}))
    assert f"{MONITOR}.reference: cannot infer the format of {path!r}" in message
    assert "set format: csv or format: parquet" in message


def test_spark_sources_with_table_or_path(load: Loader) -> None:
    remote = "sc://spark.example.com:443/;use_ssl=true;token=s3cr3t"
    cfg = load(
        with_monitor(
            reference={"spark": {"remote": remote, "path": "s3a://b/ref/", "format": "csv",
                                 "options": {"sep": ";"}, "schema": "x DOUBLE"},
                       "pushdown": False, "fingerprint": "definition"},
            live={"spark": {"remote": remote, "table": "sales.events"},
                  "timestamp_column": "ts", "window": "1h"},
        )
    )  # fmt: skip
    ref, live = cfg.monitors[0].reference, cfg.monitors[0].live
    assert isinstance(ref, SparkSourceConfig)
    assert ref.kind == "spark"
    assert (ref.spark.path, ref.spark.format, ref.spark.options) == (
        "s3a://b/ref/",
        "csv",
        {"sep": ";"},
    )
    assert (ref.spark.read_schema, ref.pushdown, ref.fingerprint) == (
        "x DOUBLE",
        False,
        "definition",
    )
    assert ref.spark.masked_remote == "sc://spark.example.com:443/;use_ssl=true;token=***"
    assert "s3cr3t" not in repr(ref)
    assert isinstance(live, LiveSparkSourceConfig)
    assert (live.spark.table, live.timestamp_column, live.pushdown) == ("sales.events", "ts", True)


def test_sql_sources_with_query_or_table(load: Loader) -> None:
    cfg = load(
        with_monitor(
            reference={"url": "postgresql+psycopg://u@h/db", "table": "t", "schema": "s"},
            live={"url": "sqlite://", "query": "SELECT * FROM t WHERE ts >= :start",
                  "timestamp_column": "ts", "window": "1h", "batch_rows": 100},
        )
    )  # fmt: skip
    ref, live = cfg.monitors[0].reference, cfg.monitors[0].live
    assert isinstance(ref, SqlSourceConfig)
    assert ref.kind == "sql"
    assert (ref.table, ref.db_schema, ref.query) == ("t", "s", None)
    assert isinstance(live, LiveSqlSourceConfig)
    assert isinstance(live, SqlSourceConfig)
    assert (live.query, live.table, live.batch_rows) == (
        "SELECT * FROM t WHERE ts >= :start",
        None,
        100,
    )
    assert live.window is not None


def test_live_file_source_is_a_file_source_with_live_options(load: Loader) -> None:
    live = load(minimal_config()).monitors[0].live
    assert isinstance(live, LiveFileSourceConfig)
    assert isinstance(live, FileSourceConfig)
    assert (live.timestamp_column, live.window) == ("ts", timedelta(hours=1))
    assert live.zone.key == "UTC"


def test_live_source_without_window_reads_everything(load: Loader) -> None:
    live = (
        load(with_monitor(live={"path": "live.csv", "min_rows": 50, "timezone": "Europe/Berlin"}))
        .monitors[0]
        .live
    )
    assert (live.window, live.min_rows, live.timezone) == (None, 50, "Europe/Berlin")


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ({"path": "a.csv", "url": "sqlite://"}, "has both 'path' (file source) and 'url'"),
        ({"table": "t"}, "expected 'path' (a CSV/Parquet file or glob), 'url' (an SQLAlchemy"),
        ({"table": "t"}, "'from_live' (a past window of the live source) or 'profile'"),
        (
            {"table": "t"},
            "'profile' (a profile file saved by driftmon.Profile); got keys: 'table'",
        ),
        ({"profile": "p.json", "path": "a.csv"}, "'profile' is the whole reference"),
        ({"profile": "  "}, "expected a non-empty string"),
        ({"profile": 3}, "expected a string"),
        ({"spark": {"remote": "sc://h:1", "table": "t"}, "url": "sqlite://"}, "'spark' (Spark"),
        ({"spark": {"remote": "http://h:1", "table": "t"}}, "expected a Spark Connect URL"),
        ({"spark": {"remote": "sc://h/;token=abc", "table": "t", "query": "q"}}, "got 'table'"),
        ({"spark": {"remote": "sc://h:1"}}, "exactly one of 'table', 'query' or 'path', got none"),
        ({"spark": {"remote": "sc://h:1", "path": "/d"}}, "'path' '/d' needs 'format'"),
        ({"spark": {"remote": "sc://h:1", "table": "t", "format": "csv"}}, "'format' apply only"),
        ({"spark": {"remote": "sc://h:1", "table": "t"}, "window": "1h"}, "unknown key 'window'"),
        ({}, "got keys: none"),
        ("data/ref.csv", "expected a mapping with 'path' (file source), 'url'"),
        ({"url": "sqlite://"}, "expected exactly one of 'query' or 'table', got neither"),
        ({"url": "sqlite://", "query": "SELECT 1", "table": "t"}, "got both"),
        ({"url": "sqlite://", "query": "SELECT 1", "schema": "s"}, "'schema' applies only with"),
        ({"url": "sqlite://", "query": "  "}, "expected a non-empty string"),
        ({"url": "no url here", "table": "t"}, "expected an SQLAlchemy database URL"),
        ({"path": "a.csv", "format": "json"}, "expected 'csv' or 'parquet'"),
        ({"path": "a.csv", "batch_rows": 0}, "expected an integer >= 1"),
        ({"path": "a.csv", "window": "1h"}, "unknown key 'window'; allowed keys: path, format"),
        ({"path": ""}, "expected a non-empty string"),
    ],
)
def test_bad_reference_source(load_error: ErrorLoader, source: Any, fragment: str) -> None:
    message = load_error(with_monitor(reference=source))
    assert f"{MONITOR}.reference" in message
    assert fragment in message


@pytest.mark.parametrize(
    ("live", "fragment"),
    [
        ({"path": "l.csv", "window": "1h"}, "'timestamp_column' is missing"),
        ({"path": "l.csv", "timestamp_column": "ts"}, "'window' is missing"),
        ({"url": "sqlite://", "table": "t", "window": "1h"}, "'timestamp_column' and 'window' go"),
        ({"path": "l.csv", "min_rows": 0}, "live.min_rows: expected an integer >= 1, got 0"),
        ({"path": "l.csv", "timezone": "Mars/Olympus"}, "live.timezone: expected an IANA"),
        ({"path": "l.csv", "timestamp_column": "ts", "window": "0s"},
         "live.window: expected a duration > 0"),
    ],
)  # fmt: skip
def test_bad_live_source(load_error: ErrorLoader, live: dict[str, Any], fragment: str) -> None:
    message = load_error(with_monitor(live=live))
    assert f"{MONITOR}.live" in message
    assert fragment in message


def test_source_files_need_not_exist_at_load_time(load: Loader, tmp_path: Any) -> None:
    cfg = load(with_monitor(reference={"path": "nowhere/ref.parquet"}))
    assert not (tmp_path / "nowhere").exists()
    assert cfg.monitors[0].reference.path.endswith("nowhere/ref.parquet")  # type: ignore[union-attr]


# --- features -------------------------------------------------------------------------


def test_feature_spec_and_column(load: Loader) -> None:
    data = minimal_config()
    data["monitors"][0]["features"] = [
        {"name": "age", "bins": 20, "strategy": "uniform", "column": "age_years"},
        {"name": "amount", "edges": [0, 10.5, 100]},
        {"name": "country", "type": "categorical", "max_categories": 3},
    ]
    m = load(data).monitors[0]
    assert m.features[0].source_column == "age_years"
    assert m.features[1].source_column == "amount"
    assert [f.feature_spec() for f in m.features] == [
        FeatureSpec(name="age", kind="numeric", bins=20, strategy="uniform"),
        FeatureSpec(name="amount", kind="numeric", edges=(0.0, 10.5, 100.0)),
        FeatureSpec(name="country", kind="categorical", max_categories=3),
    ]
    assert m.feature("amount").edges == (0.0, 10.5, 100.0)


def test_unknown_feature_lookup_names_the_monitor(load: Loader) -> None:
    m = load(minimal_config()).monitors[0]
    with pytest.raises(Exception, match=r"monitor 'example' has no feature 'x'; configured: age"):
        m.feature("x")


def test_effective_thresholds_and_smoothing(load: Loader) -> None:
    data = with_monitor(thresholds={"warning": 0.1, "critical": 0.5}, smoothing=1.0)
    data["monitors"][0]["features"][0].update(
        thresholds={"warning": 0.01, "critical": 0.02}, smoothing=0.25
    )
    m = load(data).monitors[0]
    own, inherited = m.features[0], m.features[1]
    assert own.effective_thresholds(m) == StaticThresholds(warning=0.01, critical=0.02)
    assert inherited.effective_thresholds(m) == StaticThresholds(warning=0.1, critical=0.5)
    assert (own.effective_smoothing(m), inherited.effective_smoothing(m)) == (0.25, 1.0)


def test_unicode_and_awkward_names_are_allowed(load: Loader) -> None:
    data = with_monitor(name='Zahlungen "EU" – café ✓')
    data["monitors"][0]["features"][0]["name"] = "montant total (€)"
    m = load(data).monitors[0]
    assert m.name == 'Zahlungen "EU" – café ✓'
    assert m.features[0].name == "montant total (€)"


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("tab\there", "control characters"), ("bell\x07", "control characters"),
     ("", "non-empty name"), ("   ", "non-empty name")],
)  # fmt: skip
def test_bad_names(load_error: ErrorLoader, name: str, fragment: str) -> None:
    assert fragment in load_error(with_monitor(name=name))
    assert fragment in load_error(with_feature(0, name=name))


@pytest.mark.parametrize(
    ("index", "keys", "path", "fragment"),
    [
        (0, {"bins": 0}, ".bins", "expected an integer >= 1, got 0"),
        (0, {"bins": 2.5}, ".bins", "expected an integer, got 2.5"),
        (0, {"bins": True}, ".bins", "expected an integer, got true"),
        (0, {"type": "text"}, ".type", "expected 'numeric' or 'categorical'"),
        (0, {"strategy": "kmeans"}, ".strategy", "expected 'quantile' or 'uniform'"),
        (0, {"max_categories": 5}, "", "'max_categories' applies only to categorical"),
        (0, {"smoothing": -1}, ".smoothing", "expected a number > 0, got -1"),
        (0, {"column": ""}, ".column", "expected a non-empty string"),
        (1, {"edges": []}, ".edges", "expected a non-empty list of edges"),
        (1, {"edges": [1, 1]}, ".edges", "strictly increasing edges, got 1 followed by 1"),
        (1, {"edges": [0, float("inf")]}, ".edges[1]", "expected a finite number"),
        (1, {"edges": [0, "x"]}, ".edges[1]", "expected a number, got 'x'"),
        (1, {"edges": 5}, ".edges", "expected a list, got 5"),
        (1, {"bins": 4}, "", "give either 'bins' or 'edges', not both"),
        (1, {"strategy": "uniform"}, "", "'strategy: uniform' cannot apply"),
        (2, {"bins": 5}, "", "'bins' apply only to numeric features"),
        (2, {"edges": [1, 2]}, "", "'edges' apply only to numeric"),
        (2, {"max_categories": 0}, ".max_categories", "expected an integer >= 1"),
    ],
)  # fmt: skip
def test_bad_features(
    load_error: ErrorLoader, index: int, keys: dict[str, Any], path: str, fragment: str
) -> None:
    message = load_error(with_feature(index, **keys))
    assert f"{MONITOR}.{FEATURES[index]}{path}: " in message
    assert fragment in message


def test_yaml_infinity_in_edges_is_rejected(load_error: ErrorLoader) -> None:
    text = (
        "monitors:\n- name: example\n  schedule: {every: 5m}\n  reference: {path: r.csv}\n"
        "  live: {path: l.csv}\n  features:\n  - {name: amount, edges: [0, .inf]}\n"
    )
    assert (
        f"{MONITOR}.features[0] (name 'amount').edges[1]: expected a finite number"
        in load_error(text)
    )


def test_duplicate_feature_names(load_error: ErrorLoader) -> None:
    message = load_error(with_feature(1, name="age"))
    assert f"{MONITOR}.features: duplicate feature name 'age'" in message


# --- schema hygiene -------------------------------------------------------------------


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_every_field_has_a_description_and_models_are_strict(model: type[BaseModel]) -> None:
    for name, field in model.model_fields.items():
        assert field.description, f"{model.__name__}.{name} has no description"
    assert model.model_config.get("frozen") is True
    assert model.model_config.get("extra") == "forbid"


def test_cron_weekdays_follow_crontab_numbering() -> None:
    """1-5 is Monday to Friday and 0 and 7 are Sunday, as in crontab(5)."""
    from datetime import UTC, datetime

    from driftmon.config.schedule import cron_trigger

    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    weekdays = cron_trigger("0 9 * * 1-5").get_next_fire_time(None, saturday)
    assert weekdays is not None
    assert weekdays.strftime("%a %H:%M") == "Mon 09:00"
    for sunday in ("0", "7"):
        fire = cron_trigger(f"0 9 * * {sunday}").get_next_fire_time(None, saturday)
        assert fire is not None
        assert fire.strftime("%a") == "Sun"


# --- results database ------------------------------------------------------------------


def test_database_timeouts_default_parse_and_null_means_no_statement_limit(load: Loader) -> None:
    db = load(minimal_config()).database
    assert db.connect_timeout == timedelta(seconds=5)
    assert db.statement_timeout == timedelta(seconds=30)
    db = load(
        minimal_config(database={"connect_timeout": "2s", "statement_timeout": "1m"})
    ).database
    assert (db.connect_timeout, db.statement_timeout) == (
        timedelta(seconds=2),
        timedelta(minutes=1),
    )
    db = load(minimal_config(database={"statement_timeout": None})).database
    assert db.statement_timeout is None


@pytest.mark.parametrize("key", ["connect_timeout", "statement_timeout"])
def test_database_timeouts_must_be_positive_durations(load_error: ErrorLoader, key: str) -> None:
    message = load_error(minimal_config(database={key: "0s"}))
    assert f"database.{key}" in message
    assert "expected a duration > 0" in message


# --- engine ------------------------------------------------------------------------------


def test_shutdown_grace_defaults_to_20_s_and_parses(load: Loader) -> None:
    assert load(minimal_config()).engine.shutdown_grace == timedelta(seconds=20)
    cfg = load(minimal_config(engine={"shutdown_grace": "1m30s"}))
    assert cfg.engine.shutdown_grace == timedelta(seconds=90)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0s", "expected a duration > 0"), ("8d", "expected a duration between 1s and 7d")],
)
def test_shutdown_grace_must_be_a_bounded_positive_duration(
    load_error: ErrorLoader, value: str, expected: str
) -> None:
    message = load_error(minimal_config(engine={"shutdown_grace": value}))
    assert "engine.shutdown_grace" in message
    assert expected in message
