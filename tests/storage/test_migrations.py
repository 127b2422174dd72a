"""Migrations: from an empty database to head on every backend, matching the ORM tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

import driftmon
from driftmon.errors import StorageError
from driftmon.storage import Store
from driftmon.storage.migrate import SCHEMA_HEAD, alembic_config, migrations_dir
from driftmon.storage.models import Base

TABLES = {"monitors", "reference_profiles", "runs", "feature_results", "monitor_stats"}


def head_revision() -> str | None:
    """The newest revision, as Alembic reads it from migrations/versions."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_upgrade_from_empty_database_reaches_head(empty_store: Store) -> None:
    assert empty_store.current_revision() is None
    empty_store.upgrade()
    assert empty_store.current_revision() == head_revision() == "0001"
    assert TABLES | {"alembic_version"} <= set(inspect(empty_store.engine).get_table_names())


def test_schema_head_constant_is_alembics_head() -> None:
    """SCHEMA_HEAD (the no-Alembic fast path of upgrade) names the newest migration."""
    assert head_revision() == SCHEMA_HEAD


def test_upgrade_runs_the_migrations_below_head(store: Store) -> None:
    """A database one step behind SCHEMA_HEAD is migrated, not skipped by the fast path."""
    with store.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    store.upgrade()
    assert store.current_revision() == SCHEMA_HEAD
    assert set(inspect(store.engine).get_table_names()) >= TABLES


def test_two_revisions_in_the_version_table_are_a_clear_storage_error(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('9999')"))
    with pytest.raises(StorageError, match="holds 2 revisions"):
        store.current_revision()


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
