"""Migrations: from an empty database to head on every backend, matching the table definitions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

import driftmon
from driftmon.core.profile import FeatureSpec, ReferenceProfile, build_feature_profile
from driftmon.errors import StorageError
from driftmon.storage import DURATION_BUCKETS, Store
from driftmon.storage.migrate import (
    SCHEMA_HEAD,
    alembic_config,
    describe_revision,
    migrations_dir,
)
from driftmon.storage.models import metadata

T = datetime(2026, 1, 1, tzinfo=UTC)
CATEGORICAL = FeatureSpec(name="c", kind="categorical")
TABLES = {
    "monitors",
    "reference_profiles",
    "reference_profile_versions",
    "runs",
    "feature_results",
    "monitor_stats",
}


def head_revision() -> str | None:
    """The newest revision, as Alembic reads it from migrations/versions."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_upgrade_from_empty_database_reaches_head(empty_store: Store) -> None:
    assert empty_store.current_revision() is None
    assert empty_store.upgrade() == (None, head_revision())  # the revisions before and after
    assert empty_store.current_revision() == head_revision() == "0005"
    assert TABLES | {"alembic_version"} <= set(inspect(empty_store.engine).get_table_names())


def test_upgrade_from_0001_keeps_stored_results_and_adds_a_null_adjusted_p_value(
    empty_store: Store,
) -> None:
    """0004 adds feature_results.p_value_adjusted; rows stored under 0001 read back with None."""
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
    assert empty_store.current_revision() == head_revision()
    (run,) = empty_store.runs("m")
    (feature,) = run.features
    assert feature.p_value_adjusted is None
    assert feature.feature == "age"


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
    assert store.upgrade() == (head_revision(), head_revision())
    assert store.current_revision() == head_revision()


def test_a_revision_is_described_by_its_id_and_docstring() -> None:
    assert describe_revision("0001") == (
        "revision 0001 (Initial schema: monitors, reference profiles, runs, feature results, "
        "monitor stats)"
    )
    assert describe_revision(None) == "no revision (empty database)"


def test_tables_match_the_migrated_schema(store: Store) -> None:
    """Alembic autogenerate finds nothing to change: the tables and migrations agree."""
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, metadata)
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


def test_upgrade_from_0001_keeps_runs_and_adds_an_empty_message(empty_store: Store) -> None:
    """A database at the first schema with runs in it gains runs.message as NULL."""
    with empty_store.engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(
            text("INSERT INTO monitors (id, name, created_at) VALUES (1, 'm', :t)"), {"t": T}
        )
        conn.execute(
            text(
                "INSERT INTO runs (monitor_id, window_end, started_at, finished_at, status, "
                "live_rows, reference_rows) VALUES (1, :t, :t, :t, 'ok', 5, 7)"
            ),
            {"t": T},
        )
    empty_store.upgrade()
    assert empty_store.current_revision() == head_revision()
    (run,) = empty_store.runs("m")
    assert (run.live_rows, run.reference_rows, run.message) == (5, 7, None)


def test_downgrade_to_base_removes_every_table(store: Store) -> None:
    with store.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert not TABLES & set(inspect(store.engine).get_table_names())


def test_migrations_come_from_the_checkout_in_a_source_tree() -> None:
    checkout = Path(driftmon.__file__).resolve().parent.parent
    assert migrations_dir() == checkout / "migrations"
    assert (migrations_dir() / "versions" / "0001_initial.py").is_file()


def test_upgrading_from_0001_keeps_the_counters_and_adds_partial_as_zero(
    empty_store: Store,
) -> None:
    """0002 adds runs_partial to a database that already counted runs; nothing is lost."""
    with empty_store.engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.exec_driver_sql(
            "INSERT INTO monitors (id, name, created_at) VALUES (1, 'm', '2026-01-01 00:00:00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO monitor_stats (monitor_id, runs_success, runs_failure, "
            "runs_insufficient_data, duration_sum, duration_count, duration_buckets) "
            f"VALUES (1, 5, 2, 1, 0.0, 8, '{json.dumps([8] * len(DURATION_BUCKETS))}')"
        )
    empty_store.upgrade()
    assert empty_store.current_revision() == head_revision()
    (snap,) = empty_store.snapshot()
    assert snap.runs_by_outcome == {
        "success": 5,
        "partial": 0,
        "failure": 2,
        "insufficient_data": 1,
    }


def test_upgrade_to_0005_makes_each_stored_profile_a_version_that_its_runs_point_at(
    empty_store: Store,
) -> None:
    """Existing runs are drawn against the profile known when they were migrated; a monitor
    without a profile keeps NULL; the profile still loads as the current one."""
    ref = ReferenceProfile(
        (build_feature_profile(np.array(["a", "b", "b"], dtype=object), CATEGORICAL),), rows=3
    )
    with empty_store.engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0004")
        for monitor_id, name in ((1, "m"), (2, "bare")):
            conn.execute(
                text("INSERT INTO monitors (id, name, created_at) VALUES (:i, :n, :t)"),
                {"i": monitor_id, "n": name, "t": T},
            )
            conn.execute(
                text(
                    "INSERT INTO runs (monitor_id, window_end, started_at, finished_at, status, "
                    "live_rows, reference_rows) VALUES (:i, :t, :t, :t, 'ok', 5, 7)"
                ),
                {"i": monitor_id, "t": T},
            )
        conn.execute(
            text(
                "INSERT INTO reference_profiles (monitor_id, fingerprint, created_at, rows, "
                "profile) VALUES (1, 'fp', :t, 3, :p)"
            ),
            {"t": T, "p": json.dumps(ref.to_dict())},
        )
    empty_store.upgrade()
    assert empty_store.current_revision() == head_revision()
    current = empty_store.load_profile("m")
    assert current is not None
    assert (current.fingerprint, current.created_at) == ("fp", T)
    assert current.profile.to_dict() == ref.to_dict()
    (run,) = empty_store.runs("m")
    assert run.profile_version == current.version
    (bare,) = empty_store.runs("bare")
    assert bare.profile_version is None
    assert empty_store.load_profile("bare") is None


def test_downgrade_from_0005_keeps_the_current_profile(store: Store) -> None:
    ref = ReferenceProfile(
        (build_feature_profile(np.array(["a", "b"], dtype=object), CATEGORICAL),), rows=2
    )
    store.save_profile("m", "old", ReferenceProfile(ref.features, rows=1))
    store.save_profile("m", "new", ref)
    with store.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0004")
        rows = conn.execute(text("SELECT fingerprint, rows FROM reference_profiles")).all()
    assert [tuple(r) for r in rows] == [("new", 2)]
    assert "reference_profile_versions" not in inspect(store.engine).get_table_names()
