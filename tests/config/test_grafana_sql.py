"""The dashboard's results-database panels, run against a real PostgreSQL with stored runs.

The database is set up as the compose stack sets it up: config/postgres/initdb's script
creates Grafana's read-only role on the empty database, then driftmon's migrations create the
tables and ``Store`` writes runs and a reference profile. Every panel's and variable's SQL is
expanded as Grafana expands it (``grafana_sql.expand_sql``) and run as that role; the rows
must be exactly what the stored runs say. Another monitor's runs are stored beside them and
must never show, and the monitor's name has a quote in it, as Grafana's ``sqlstring`` format
must escape.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

from driftmon.core.bins import MISSING_LABEL, OTHER_LABEL
from driftmon.core.profile import ReferenceProfile
from driftmon.core.status import Status
from driftmon.results import FeatureResult, RunResult
from driftmon.storage import Store
from tests.ci import require_tool
from tests.render.factories import END, THRESHOLDS, categorical, numeric, profile_of, run_of, scored

from .grafana_queries import REPO, load_dashboard
from .grafana_sql import (
    POSTGRES_TYPE,
    expand_sql,
    panel_sql,
    rfc3339,
    sql_panels,
    sql_variables,
    sqlstring,
)

pytestmark = pytest.mark.postgres

PROVISIONING = REPO / "config" / "grafana" / "provisioning" / "datasources" / "postgres.yml"
READER_SCRIPT = REPO / "config" / "postgres" / "initdb" / "10-grafana-reader.sh"
RUNS = "Recent runs"
BINS = "Reference vs live share per bin: $bins_feature (latest run)"
KL = "KL of $bins_feature over stored runs"

MONITOR = 'shop\'s "eu"'
OTHER = "other"
DEVICE, AMOUNT, AGEE = "device", "amount", "agee"
FAILED = "source unreachable: connection refused"
NO_COLUMN = "column 'agee' not found in reference source parquet"
ALL_TIME = (END - timedelta(days=2), END + timedelta(days=1))


def device_profile() -> Any:
    return categorical(DEVICE, ["mobile"] * 600 + ["desktop"] * 300 + ["tablet"] * 100)


def amount_profile() -> Any:
    return numeric(AMOUNT, [float(i % 50) for i in range(1000)])


def error_feature(name: str, message: str) -> FeatureResult:
    return FeatureResult(feature=name, status=Status.ERROR, thresholds=THRESHOLDS, message=message)


def at(run: RunResult, hours_before_end: float, **changes: Any) -> RunResult:
    end = END - timedelta(hours=hours_before_end)
    return dataclasses.replace(
        run,
        window_start=end - timedelta(hours=1),
        window_end=end,
        started_at=end,
        finished_at=end + timedelta(seconds=2),
        **changes,
    )


@dataclass(frozen=True)
class Stored:
    """What the test stored: runs newest first, and the reference profile."""

    runs: list[RunResult]
    profile: ReferenceProfile


def shop_runs() -> list[RunResult]:
    """Newest first: a failed run; a partial one (device critical, amount warning, agee in
    error); a quiet one (both ok); an older one where device was critical."""
    dev, amt = device_profile(), amount_profile()
    quiet_device = ["mobile"] * 60 + ["desktop"] * 30 + ["tablet"] * 10
    drifted_device = ["mobile"] * 20 + ["desktop"] * 30 + ["tablet"] * 40 + [None] * 5 + ["tv"] * 5
    quiet_amount = [float(i % 50) for i in range(200)]
    moved_amount = [float(i % 50) + 15.0 * (i % 2 == 0) for i in range(200)]
    partial = run_of(
        scored(dev, drifted_device),
        scored(amt, moved_amount),
        error_feature(AGEE, NO_COLUMN),
        monitor=MONITOR,
    )
    assert [f.status for f in partial.features] == [Status.CRITICAL, Status.WARNING, Status.ERROR]
    quiet = run_of(scored(dev, quiet_device), scored(amt, quiet_amount), monitor=MONITOR)
    assert [f.status for f in quiet.features] == [Status.OK, Status.OK]
    return [
        at(
            run_of(monitor=MONITOR, status=Status.ERROR, error=FAILED),
            0,
            live_rows=0,
            reference_rows=0,
        ),
        at(partial, 1, status=Status.CRITICAL),
        at(quiet, 2, status=Status.OK, message="a note on a quiet run"),
        at(partial, 30, status=Status.CRITICAL),
    ]


def other_runs() -> list[RunResult]:
    """Another monitor with the same feature names: none of it may show for MONITOR."""
    dev = device_profile()
    run = run_of(scored(dev, ["tablet"] * 100), monitor=OTHER, status=Status.CRITICAL)
    return [at(run, 0.5, error="other monitor's error"), at(run, 1.5)]


@dataclass(frozen=True)
class Database:
    reader: Engine
    stored: Stored

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with self.reader.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql)).all()]


def create_reader(url: str, reader: str, password: str) -> subprocess.CompletedProcess[str]:
    """Run config/postgres/initdb's script on the database at ``url``, as the image would."""
    psql = require_tool("psql", "postgresql-client")
    server = make_url(url)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PG")},
        "PATH": f"{Path(psql).parent}:{os.environ.get('PATH', '')}",
        "PGHOST": server.host or "127.0.0.1",
        "PGPORT": str(server.port or 5432),
        "POSTGRES_USER": server.username or "postgres",
        "POSTGRES_DB": server.database or "",
        "GRAFANA_DB_USER": reader,
        "GRAFANA_DB_PASSWORD": password,
    }
    if server.password:
        env["PGPASSWORD"] = str(server.password)
    return subprocess.run(
        ["sh", str(READER_SCRIPT)], env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def database(pg_database: str) -> Iterator[Database]:
    reader = f"driftmon_grafana_{secrets.token_hex(4)}"
    password = 'it\'s a "secret" \\ $x'
    done = create_reader(pg_database, reader, password)
    assert done.returncode == 0, done.stdout + done.stderr
    admin = create_engine(pg_database)
    engine: Engine | None = None
    try:
        store = Store(pg_database)
        try:
            store.upgrade()  # after the role, as driftmon migrates a new compose database
            profile = profile_of(device_profile(), amount_profile())
            version = store.save_profile(MONITOR, "fp", profile)
            store.save_profile(OTHER, "fp", profile_of(categorical(DEVICE, ["tv"] * 10)))
            # Each run records the profile version it was scored on, as the runner does.
            runs = [dataclasses.replace(r, profile_version=version) for r in shop_runs()]
            for run in [*runs, *other_runs()]:
                store.save_run(run)
        finally:
            store.dispose()
        reader_url = make_url(pg_database).set(username=reader, password=password)
        engine = create_engine(reader_url)
        yield Database(engine, Stored(runs, profile))
    finally:
        if engine is not None:
            engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP OWNED BY "{reader}"')
            conn.exec_driver_sql(f'DROP ROLE "{reader}"')
        admin.dispose()


# -- provisioning ---------------------------------------------------------------------------


def test_the_results_database_is_provisioned_for_grafana_as_a_reader() -> None:
    (datasource,) = yaml.safe_load(PROVISIONING.read_text(encoding="utf-8"))["datasources"]
    assert datasource["type"] == POSTGRES_TYPE
    assert datasource["url"] == "postgres:5432"
    assert datasource["user"] == "driftmon_grafana"  # the script's default role
    assert "GRAFANA_DB_USER:-driftmon_grafana" in READER_SCRIPT.read_text(encoding="utf-8")
    assert datasource["secureJsonData"]["password"] == "${GRAFANA_DB_PASSWORD}"
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    postgres, grafana = compose["services"]["postgres"], compose["services"]["grafana"]
    assert datasource["jsonData"]["database"] == postgres["environment"]["POSTGRES_DB"]
    password = "${GRAFANA_DB_PASSWORD:-grafana}"
    assert postgres["environment"]["GRAFANA_DB_PASSWORD"] == password
    assert grafana["environment"]["GRAFANA_DB_PASSWORD"] == password
    assert "./config/postgres/initdb:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]
    assert grafana["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert os.access(READER_SCRIPT, os.X_OK)


def test_every_results_panel_and_variable_uses_the_provisioned_datasource() -> None:
    (datasource,) = yaml.safe_load(PROVISIONING.read_text(encoding="utf-8"))["datasources"]
    ref = {"type": POSTGRES_TYPE, "uid": datasource["uid"]}
    dashboard = load_dashboard()
    assert {p["title"] for p in sql_panels(dashboard)} == {RUNS, BINS, KL}
    for panel in sql_panels(dashboard):
        assert panel["datasource"] == ref, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == ref, panel["title"]
            assert target["rawQuery"] is True
            assert target["rawSql"].strip()
    (variable,) = sql_variables(dashboard)
    assert variable["name"] == "bins_feature"
    assert variable["datasource"] == ref
    assert variable["multi"] is False
    assert variable["includeAll"] is False
    assert variable["sort"] == 0  # the query's order: drifted features first


def test_expand_sql_quotes_like_grafana_and_refuses_what_it_does_not_know() -> None:
    assert sqlstring("it's") == "'it''s'"
    start, end = datetime.fromisoformat("2026-03-01T10:00:00+02:00"), END
    sql = "SELECT 1 WHERE a = ${m:sqlstring} AND $__timeFilter(r.window_end)"
    assert expand_sql(sql, {"m": "o'k"}, (start, end)) == (
        "SELECT 1 WHERE a = 'o''k' AND "
        "r.window_end BETWEEN '2026-03-01T08:00:00Z' AND '2026-03-01T12:00:00Z'"
    )
    assert rfc3339(END + timedelta(microseconds=1500)) == "2026-03-01T12:00:00.0015Z"
    with pytest.raises(KeyError, match="not substituted"):
        expand_sql("${x:sqlstring}", {})
    with pytest.raises(KeyError, match="no time range"):
        expand_sql("$__timeFilter(t)", {})
    with pytest.raises(KeyError, match="does not know"):
        expand_sql("$monitor", {"monitor": "m"})


# -- the panels on stored runs ---------------------------------------------------------------


def run_rows(db: Database, time_range: tuple[datetime, datetime]) -> list[tuple[Any, ...]]:
    sql = panel_sql(load_dashboard(), RUNS)
    return db.query(expand_sql(sql, {"monitor": MONITOR}, time_range))


def test_recent_runs_lists_each_stored_run_with_its_reason(database: Database) -> None:
    rows = run_rows(database, ALL_TIME)
    failed, partial, quiet, old = database.stored.runs
    assert rows == [
        (failed.window_end, failed.finished_at, "error", 0, 0, 0, FAILED),
        (partial.window_end, partial.finished_at, "critical", 200, 2, 1, f"{AGEE}: {NO_COLUMN}"),
        (quiet.window_end, quiet.finished_at, "ok", 200, 0, 0, "a note on a quiet run"),
        (old.window_end, old.finished_at, "critical", 200, 2, 1, f"{AGEE}: {NO_COLUMN}"),
    ]


def test_recent_runs_keeps_to_the_time_range(database: Database) -> None:
    failed, partial, _quiet, _old = database.stored.runs
    # Grafana's $__timeFilter is inclusive at both ends.
    rows = run_rows(database, (partial.window_end, failed.window_end - timedelta(seconds=1)))
    assert [r[0] for r in rows] == [partial.window_end]
    assert run_rows(database, (END + timedelta(hours=1), END + timedelta(hours=2))) == []


def feature_choices(db: Database, monitor: str) -> list[str]:
    (variable,) = sql_variables(load_dashboard())
    return [row[0] for row in db.query(expand_sql(variable["query"], {"monitor": monitor}))]


def test_the_feature_choice_lists_the_latest_bins_drifted_first(database: Database) -> None:
    # The latest run failed (no features): the partial one before it is the latest with bins;
    # agee, in error there, has none to draw.
    assert feature_choices(database, MONITOR) == [DEVICE, AMOUNT]
    assert feature_choices(database, OTHER) == [DEVICE]
    assert feature_choices(database, "no such monitor") == []


def shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [c / total for c in counts]


def shown(label: str) -> str:
    return {MISSING_LABEL: "(missing)", OTHER_LABEL: "(other)"}.get(label, label)


@pytest.mark.parametrize("feature", [DEVICE, AMOUNT])
def test_the_bins_panel_draws_the_latest_run_against_the_reference(
    database: Database, feature: str
) -> None:
    sql = panel_sql(load_dashboard(), BINS)
    rows = database.query(expand_sql(sql, {"monitor": MONITOR, "bins_feature": feature}))
    _failed, partial, _quiet, _old = database.stored.runs
    (result,) = [f for f in partial.features if f.feature == feature]
    reference = [int(c) for c in database.stored.profile.feature(feature).reference.counts]
    assert [r[0] for r in rows] == [shown(label) for label in result.bin_labels]
    assert [r[1] for r in rows] == pytest.approx(shares(reference), abs=1e-12)
    assert [r[2] for r in rows] == pytest.approx(shares(result.live_counts), abs=1e-12)
    if feature == DEVICE:  # the categories, then the two special bins
        assert [r[0] for r in rows] == ["mobile", "desktop", "tablet", "(other)", "(missing)"]
        assert rows[3][2] == pytest.approx(0.05)  # "tv" is new: other


def test_the_bins_panel_draws_a_run_against_its_own_profile_after_a_rebuild(
    database: Database, pg_database: str
) -> None:
    """A rebuilt reference becomes current; the run scored before still shows its own."""
    sql = panel_sql(load_dashboard(), BINS)
    query = expand_sql(sql, {"monitor": MONITOR, "bins_feature": DEVICE})
    before = database.query(query)
    rebuilt = profile_of(categorical(DEVICE, ["mobile"] * 90 + ["tablet"] * 10), amount_profile())
    store = Store(pg_database)
    try:
        store.save_profile(MONITOR, "fp-rebuilt", rebuilt)
        current = store.load_profile(MONITOR)
    finally:
        store.dispose()
    assert current is not None
    assert current.profile.feature(DEVICE).reference.counts.tolist() != [
        int(c) for c in database.stored.profile.feature(DEVICE).reference.counts
    ]
    assert database.query(query) == before


def test_the_bins_panel_is_empty_for_a_feature_without_bins(database: Database) -> None:
    sql = panel_sql(load_dashboard(), BINS)
    for feature in (AGEE, "no such feature"):
        assert database.query(expand_sql(sql, {"monitor": MONITOR, "bins_feature": feature})) == []


def test_the_kl_history_has_every_stored_run_with_its_thresholds(database: Database) -> None:
    sql = panel_sql(load_dashboard(), KL)
    rows = database.query(expand_sql(sql, {"monitor": MONITOR, "bins_feature": DEVICE}, ALL_TIME))
    _failed, partial, quiet, old = database.stored.runs
    expected = []
    for run in (old, quiet, partial):  # oldest first; the failed run has no device
        (f,) = [f for f in run.features if f.feature == DEVICE]
        assert f.scores is not None
        expected.append(
            (run.window_end, f.scores.kl_divergence, THRESHOLDS.warning, THRESHOLDS.critical)
        )
    assert rows == expected
    agee = database.query(expand_sql(sql, {"monitor": MONITOR, "bins_feature": AGEE}, ALL_TIME))
    assert [(r[0], r[1]) for r in agee] == [(old.window_end, None), (partial.window_end, None)]


def test_grafana_role_can_read_but_not_write(database: Database) -> None:
    assert database.query("SELECT count(*) FROM runs") == [(6,)]
    for statement in (
        "DELETE FROM runs",
        "UPDATE monitors SET name = 'x'",
        "CREATE TABLE grafana_was_here (x int)",
    ):
        with pytest.raises(DBAPIError, match=r"read-only transaction|permission denied"):
            database.query(statement)
    with database.reader.connect() as conn:
        conn.exec_driver_sql("SET default_transaction_read_only = off")
        conn.commit()  # the next transaction is read-write: only the grants stop the delete
        with pytest.raises(DBAPIError, match="permission denied"):
            conn.exec_driver_sql("DELETE FROM feature_results")
