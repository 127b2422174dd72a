"""Migrations: from an empty database to head on every backend, matching the ORM tables."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

import driftmon
from driftmon.storage import Store
from driftmon.storage.migrate import alembic_config, head_revision, migrations_dir
from driftmon.storage.models import Base

T = datetime(2026, 3, 1, tzinfo=UTC)
TABLES = {"monitors", "reference_profiles", "runs", "feature_results", "monitor_stats"}


def test_upgrade_from_empty_database_reaches_head(empty_store: Store) -> None:
    assert empty_store.current_revision() is None
    assert empty_store.needs_upgrade()
    empty_store.upgrade()
    assert empty_store.current_revision() == head_revision() == "0002"
    assert not empty_store.needs_upgrade()
    assert TABLES | {"alembic_version"} <= set(inspect(empty_store.engine).get_table_names())


def test_upgrade_from_0001_keeps_stored_results_and_adds_a_null_adjusted_p_value(
    empty_store: Store,
) -> None:
    """0002 adds feature_results.p_value_adjusted; rows stored under 0001 read back with None."""
    with empty_store.engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(
            text("INSERT INTO monitors (id, name, created_at) VALUES (1, 'm', :t)"), {"t": T}
        )
        conn.execute(
            text(
                "INSERT INTO runs (id, monitor_id, window_end, started_at, finished_at, status, "
                "live_rows, reference_rows) VALUES (1, 1, :t, :t, :t, 'ok', 10, 20)"
            ),
            {"t": T},
        )
        conn.execute(
            text(
                "INSERT INTO feature_results (run_id, position, feature, status, p_value, "
                "live_rows, missing_rows, threshold_policy, threshold_warning, "
                "threshold_critical, live_counts, bin_labels) "
                "VALUES (1, 0, 'age', 'ok', 0.5, 10, 0, 'static', 0.05, 0.2, '[10]', '[\"a\"]')"
            )
        )
    empty_store.upgrade()
    assert empty_store.current_revision() == "0002"
    (run,) = empty_store.runs("m")
    (feature,) = run.features
    assert feature.p_value_adjusted is None
    assert feature.feature == "age"


def test_upgrade_twice_is_a_no_op(store: Store) -> None:
    store.upgrade()
    assert store.current_revision() == head_revision()


def test_orm_tables_match_the_migrated_schema(store: Store) -> None:
    """Alembic autogenerate finds nothing to change: models and migrations agree."""
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, Base.metadata)
    assert diffs == []


def test_migrated_schema_has_the_constraints_and_indexes(store: Store) -> None:
    insp = inspect(store.engine)
    uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("runs")}
    assert ("monitor_id", "window_end") in uniques
    uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("feature_results")}
    assert ("run_id", "feature") in uniques
    assert any(i["column_names"] == ["window_end"] for i in insp.get_indexes("runs"))
    fks = insp.get_foreign_keys("feature_results")
    assert [(fk["referred_table"], fk["options"].get("ondelete")) for fk in fks] == [
        ("runs", "CASCADE")
    ]


def test_downgrade_to_base_removes_every_table(store: Store) -> None:
    with store.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert not TABLES & set(inspect(store.engine).get_table_names())


def test_migrations_come_from_the_checkout_in_a_source_tree() -> None:
    checkout = Path(driftmon.__file__).resolve().parent.parent
    assert migrations_dir() == checkout / "migrations"
    assert (migrations_dir() / "versions" / "0001_initial.py").is_file()
