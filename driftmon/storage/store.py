"""The results database: runs, feature results, reference profiles and run counters.

Every public method is one short transaction and raises only ``StorageError`` (with the
operation and the masked URL) for database failures. A run is stored whole or not at all.

Saving a window that is already stored replaces it (a re-run wins), unless the caller
passes ``replace=False`` (the daemon): then only an error run is replaced. When two writers
(two daemons by mistake) race on the same monitor and window, the UNIQUE(monitor_id,
window_end) constraint lets exactly one insert through: the first to commit wins, the
other rolls back its whole run (counters included) and gets the winner's run id back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Table, delete, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from driftmon.clock import as_utc
from driftmon.core.profile import ReferenceProfile
from driftmon.core.status import Status
from driftmon.errors import StorageError
from driftmon.history import HISTORY_RUNS, KLPoint, RunSummary
from driftmon.results import RunResult
from driftmon.secrets import mask_url
from driftmon.storage import bulk, history
from driftmon.storage.engine import (
    CONNECT_TIMEOUT_SECONDS,
    SQLITE_BEGIN,
    STATEMENT_TIMEOUT_SECONDS,
    make_engine,
    storage_error,
)
from driftmon.storage.migrate import SCHEMA_HEAD, alembic_config, current_revision
from driftmon.storage.models import (
    monitor_stats_table,
    monitors_table,
    profile_versions_table,
    reference_profiles_table,
    runs_table,
)
from driftmon.storage.records import (
    features_by_run,
    run_from_row,
    run_values,
    select_features,
    select_runs,
)
from driftmon.storage.snapshot import (
    DURATION_BUCKETS,
    SCORED_OUTCOMES,
    DurationHistogram,
    MonitorSnapshot,
    StoredProfile,
    outcome_of,
)

# Key of the PostgreSQL advisory lock that serialises concurrent schema upgrades.
_MIGRATION_LOCK_KEY = 0x6472_6966_746D_6F6E  # "driftmon"
_PRUNE_BATCH = 500


class _WindowTakenError(Exception):
    """Another writer committed a run for the same monitor and window first."""


class Store:
    """Stores and reads driftmon results in any SQLAlchemy database (SQLite, PostgreSQL)."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        statement_timeout: float | None = STATEMENT_TIMEOUT_SECONDS,
    ) -> None:
        self._url = url
        self._options: dict[str, Any] = {
            "echo": echo,
            "connect_timeout": connect_timeout,
            "statement_timeout": statement_timeout,
        }
        self.display_url = mask_url(url)
        """The URL with its password masked: safe for logs and messages."""
        try:
            self._engine = make_engine(
                url,
                echo=echo,
                connect_timeout=connect_timeout,
                statement_timeout=statement_timeout,
            )
        except (SQLAlchemyError, ImportError) as exc:
            raise storage_error("opening the results database", url, exc) from exc
        self._run_cache: dict[int, RunResult] = {}

    @property
    def engine(self) -> Engine:
        return self._engine

    def __repr__(self) -> str:
        return f"Store({self.display_url!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled, a store is its URL and options: unpickled (in a scoring process) it opens
        its own engine on the same database. Connections are never shared."""
        return (_reopened, (self._url, dict(self._options)))

    @property
    def shareable(self) -> bool:
        """Whether another process opening the same URL reaches the same database (not so
        for an in-memory SQLite database)."""
        url = self._engine.url
        return not (url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"))

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _guard(self, operation: str) -> Iterator[None]:
        try:
            yield
        except StorageError:
            raise
        except SQLAlchemyError as exc:
            raise storage_error(operation, self._url, exc) from exc

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            if write:
                conn.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
            elif conn.dialect.name == "postgresql":
                # Several reads that must agree (run ids, then their features).
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    # -- schema -----------------------------------------------------------------------------

    def upgrade(self) -> tuple[str | None, str | None]:
        """Migrate the schema to the newest revision (idempotent; safe from two processes).

        Returns the revisions before and after (None: an empty database).
        """
        with self._guard("upgrading the database schema"), self._transaction(write=True) as conn:
            if conn.dialect.name == "postgresql":
                # A migration may rewrite big tables, and waits here for another process's:
                # neither is bounded by the statement timeout that guards everything else.
                conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            before = current_revision(conn)
            if before == SCHEMA_HEAD:
                return before, before  # the everyday case, without importing Alembic
            from alembic import command
            from alembic.util.exc import CommandError

            try:
                command.upgrade(alembic_config(conn), "head")
            except CommandError as exc:
                raise storage_error("upgrading the database schema", self._url, exc) from exc
            return before, current_revision(conn)

    def current_revision(self) -> str | None:
        """The schema revision of the database; None when it was never migrated."""
        with self._guard("reading the schema revision"), self._transaction(write=False) as conn:
            return current_revision(conn)

    # -- writing ----------------------------------------------------------------------------

    def save_run(self, run: RunResult, *, replace: bool = True) -> int:
        """Store a run and its features in one transaction; returns the run id.

        An earlier run of the same monitor and window is replaced (with ``replace=False``
        only an error run). If a concurrent writer inserts that window first, or a run is
        kept, nothing of this run is stored (counters included) and the stored id returned.
        """
        operation = f"saving run of monitor {run.monitor!r} ending {run.window_end.isoformat()}"
        with self._guard(operation):
            try:
                with self._transaction(write=True) as conn:
                    return self._save_run(conn, run, replace)
            except _WindowTakenError as taken:
                with self._transaction(write=False) as conn:
                    existing = conn.execute(
                        select(runs_table.c.id)
                        .join(monitors_table, monitors_table.c.id == runs_table.c.monitor_id)
                        .where(
                            monitors_table.c.name == run.monitor,
                            runs_table.c.window_end == run.window_end,
                        )
                    ).scalar_one_or_none()
                if existing is None:  # the winner is gone again (pruned): try again later
                    cause = taken.__cause__ or taken
                    raise storage_error(operation, self._url, cause, permanent=False) from cause
                return int(existing)

    def _save_run(self, conn: Connection, run: RunResult, replace: bool) -> int:
        monitor_id = _ensure_monitor(conn, run.monitor)
        stale = delete(runs_table).where(
            runs_table.c.monitor_id == monitor_id, runs_table.c.window_end == run.window_end
        )
        if not replace:
            # A scored run kept by another daemon stays; the insert below then finds the
            # window taken. Without this, a daemon that began its run before the other
            # committed replaced that run and counted the window a second time.
            stale = stale.where(runs_table.c.status == Status.ERROR.value)
        conn.execute(stale)
        values = run_values(run, monitor_id)
        if run.profile_version is not None and not _version_exists(
            conn, monitor_id, run.profile_version
        ):
            # Pruned while the run waited to be stored: the run stays, its profile is unknown.
            values["profile_version_id"] = None
        try:
            run_id = int(
                conn.execute(
                    insert(runs_table).values(values).returning(runs_table.c.id)
                ).scalar_one()
            )
        except IntegrityError as exc:
            if _is_unique_violation(exc):
                raise _WindowTakenError() from exc
            raise
        bulk.insert_features(conn, run_id, run.features)
        _count_run(conn, monitor_id, run)
        return run_id

    def save_profile(self, monitor: str, fingerprint: str, profile: ReferenceProfile) -> int:
        """Make ``profile`` the monitor's current reference profile; returns its version id.

        A profile with other bins or counts (a rebuild) is a new version, and the old one
        stays for the runs scored on it. One that differs from the current version only in
        its metadata (calibrations stored with it), or not at all (a rebuild from the same
        data), updates that version in place, its ``created_at`` included.
        """
        data = profile.to_dict()
        with (
            self._guard(f"saving the reference profile of monitor {monitor!r}"),
            self._transaction(write=True) as conn,
        ):
            monitor_id = _ensure_monitor(conn, monitor)
            current = conn.execute(
                select(
                    profile_versions_table.c.id,
                    profile_versions_table.c.fingerprint,
                    profile_versions_table.c.profile,
                )
                .join(
                    reference_profiles_table,
                    reference_profiles_table.c.version_id == profile_versions_table.c.id,
                )
                .where(reference_profiles_table.c.monitor_id == monitor_id)
            ).one_or_none()
            if (
                current is not None
                and current.fingerprint == fingerprint
                and _without_metadata(current.profile) == _without_metadata(json_copy(data))
            ):
                conn.execute(
                    update(profile_versions_table)
                    .where(profile_versions_table.c.id == current.id)
                    .values(profile=data, created_at=datetime.now(UTC))
                )
                return int(current.id)
            version = int(
                conn.execute(
                    insert(profile_versions_table)
                    .values(
                        monitor_id=monitor_id,
                        fingerprint=fingerprint,
                        created_at=datetime.now(UTC),
                        rows=int(profile.rows),
                        profile=data,
                    )
                    .returning(profile_versions_table.c.id)
                ).scalar_one()
            )
            _upsert(
                conn, reference_profiles_table, {"monitor_id": monitor_id, "version_id": version}
            )
            return version

    def prune(self, older_than: datetime) -> int:
        """Delete runs whose window ended before ``older_than``, with their features.

        Counters and profiles are kept. Deletes in batches, each its own transaction.
        """
        deleted = 0
        with self._guard("pruning old runs"):
            while True:
                with self._transaction(write=True) as conn:
                    ids = (
                        conn.execute(
                            select(runs_table.c.id)
                            .where(runs_table.c.window_end < older_than)
                            .limit(_PRUNE_BATCH)
                        )
                        .scalars()
                        .all()
                    )
                    if not ids:
                        break
                    conn.execute(delete(runs_table).where(runs_table.c.id.in_(ids)))
                deleted += len(ids)
            with self._transaction(write=True) as conn:
                conn.execute(_UNUSED_VERSIONS)
        return deleted

    # -- reading ----------------------------------------------------------------------------

    def load_profile(self, monitor: str) -> StoredProfile | None:
        """The monitor's current reference profile, or None if none was saved."""
        return self._load_version(
            monitor,
            reference_profiles_table.c.version_id == profile_versions_table.c.id,
            f"loading the reference profile of monitor {monitor!r}",
            current=True,
        )

    def load_profile_version(self, monitor: str, version: int) -> StoredProfile | None:
        """Version ``version`` of the monitor's reference profile; None if there is none
        (pruned, or the id belongs to another monitor)."""
        return self._load_version(
            monitor,
            profile_versions_table.c.id == version,
            f"loading version {version} of the reference profile of monitor {monitor!r}",
            current=False,
        )

    def _load_version(
        self, monitor: str, which: Any, operation: str, *, current: bool
    ) -> StoredProfile | None:
        query = (
            select(
                profile_versions_table.c.id,
                profile_versions_table.c.fingerprint,
                profile_versions_table.c.created_at,
                profile_versions_table.c.profile,
            )
            .join(monitors_table, monitors_table.c.id == profile_versions_table.c.monitor_id)
            .where(monitors_table.c.name == monitor, which)
        )
        if current:
            query = query.join(
                reference_profiles_table,
                reference_profiles_table.c.monitor_id == monitors_table.c.id,
            )
        with self._guard(operation), self._transaction(write=False) as conn:
            row = conn.execute(query).one_or_none()
        if row is None:
            return None
        try:
            profile = ReferenceProfile.from_dict(row.profile)
        except (KeyError, TypeError, ValueError) as exc:
            raise StorageError(
                f"the stored reference profile (version {row.id}) of monitor {monitor!r} on "
                f"{self.display_url} is unreadable ({type(exc).__name__}: {exc}); rebuild it "
                "with `driftmon reference rebuild`"
            ) from exc
        return StoredProfile(
            fingerprint=row.fingerprint,
            created_at=row.created_at,
            profile=profile,
            version=int(row.id),
        )

    def runs(self, monitor: str, limit: int = 50) -> list[RunResult]:
        """The monitor's latest ``limit`` runs, newest window first."""
        with (
            self._guard(f"reading runs of monitor {monitor!r}"),
            self._transaction(write=False) as conn,
        ):
            rows = conn.execute(
                select_runs()
                .where(monitors_table.c.name == monitor)
                .order_by(runs_table.c.window_end.desc())
                .limit(limit)
            ).all()
            ids = [r[0] for r in rows]
            features = features_by_run(conn.execute(select_features(ids)).all()) if ids else {}
        return [run_from_row(r, features) for r in rows]

    def run_ending(self, monitor: str, window_end: datetime) -> RunResult | None:
        """The monitor's stored run whose window ends at ``window_end``; None if none."""
        with (
            self._guard(f"reading the run of monitor {monitor!r} ending {window_end.isoformat()}"),
            self._transaction(write=False) as conn,
        ):
            row = conn.execute(
                select_runs().where(
                    monitors_table.c.name == monitor, runs_table.c.window_end == window_end
                )
            ).one_or_none()
            if row is None:
                return None
            features = features_by_run(conn.execute(select_features([row[0]])).all())
        return run_from_row(row, features)

    def run_by_id(self, monitor: str, run_id: int) -> RunResult | None:
        """The monitor's stored run with id ``run_id``; None if none (pruned, or another's)."""
        with (
            self._guard(f"reading run {run_id} of monitor {monitor!r}"),
            self._transaction(write=False) as conn,
        ):
            row = conn.execute(
                select_runs().where(monitors_table.c.name == monitor, runs_table.c.id == run_id)
            ).one_or_none()
            if row is None:
                return None
            features = features_by_run(conn.execute(select_features([row[0]])).all())
        return run_from_row(row, features)

    def run_summaries(self, monitor: str, limit: int = 20) -> list[RunSummary]:
        """The monitor's latest ``limit`` runs without their bins, newest first."""
        with (
            self._guard(f"reading the recent runs of monitor {monitor!r}"),
            self._transaction(write=False) as conn,
        ):
            return history.run_summaries(conn, monitor, limit)

    def feature_history(
        self, monitor: str, feature: str, limit: int = HISTORY_RUNS
    ) -> list[KLPoint]:
        """One feature's KL over the monitor's latest ``limit`` runs, oldest first."""
        with (
            self._guard(f"reading the history of feature {feature!r} of monitor {monitor!r}"),
            self._transaction(write=False) as conn,
        ):
            return history.feature_history(conn, monitor, feature, limit)

    def kl_trends(
        self,
        monitor: str,
        features: Sequence[str] | None = None,
        points: int = 48,
        limit: int = HISTORY_RUNS,
    ) -> dict[str, list[KLPoint]]:
        """KL per feature (all, or only ``features``) in up to ``points`` runs spread evenly
        over the monitor's latest ``limit`` runs, oldest first: a sparkline's points."""
        with (
            self._guard(f"reading the KL trends of monitor {monitor!r}"),
            self._transaction(write=False) as conn,
        ):
            run_ids = history.sampled_runs(conn, monitor, points, limit)
            return history.kl_trends(conn, run_ids, features)

    def stored_status(self, monitor: str, window_end: datetime) -> Status | None:
        """Status of the stored run of ``monitor`` ending at ``window_end``; None if none."""
        with (
            self._guard(f"looking up a run of monitor {monitor!r}"),
            self._transaction(write=False) as conn,
        ):
            status = conn.execute(
                select(runs_table.c.status)
                .join(monitors_table, monitors_table.c.id == runs_table.c.monitor_id)
                .where(monitors_table.c.name == monitor, runs_table.c.window_end == window_end)
            ).scalar()
        return Status(status) if status is not None else None

    def latest_window_ends(self, monitor: str, limit: int) -> list[datetime]:
        """The ends of the monitor's latest ``limit`` stored windows, any status, newest
        first (one index range scan)."""
        with (
            self._guard(f"looking up the latest runs of monitor {monitor!r}"),
            self._transaction(write=False) as conn,
        ):
            ends = (
                conn.execute(
                    select(runs_table.c.window_end)
                    .join(monitors_table, monitors_table.c.id == runs_table.c.monitor_id)
                    .where(monitors_table.c.name == monitor)
                    .order_by(runs_table.c.window_end.desc())
                    .limit(limit)
                )
                .scalars()
                .all()
            )
        return [as_utc(t) for t in ends]

    def scored_window_ends(self, monitor: str, first: datetime, last: datetime) -> set[datetime]:
        """Window ends in ``[first, last]`` of the monitor's stored runs that are not errors
        (a backfill skips them; a run stored as an error is scored again)."""
        with (
            self._guard(f"listing the stored runs of monitor {monitor!r}"),
            self._transaction(write=False) as conn,
        ):
            ends = conn.execute(
                select(runs_table.c.window_end)
                .join(monitors_table, monitors_table.c.id == runs_table.c.monitor_id)
                .where(
                    monitors_table.c.name == monitor,
                    runs_table.c.window_end >= first,
                    runs_table.c.window_end <= last,
                    runs_table.c.status != Status.ERROR.value,
                )
            ).scalars()
            return set(ends)

    def snapshot(self) -> list[MonitorSnapshot]:
        """The latest state of every monitor, by name, in at most three queries.

        ``latest_run`` is the run with the latest window end (unique per monitor);
        ``latest_scored_run`` the latest whose status is not ``error``. A stored run never
        changes under its id (a re-run gets a new id), so runs returned by the previous
        snapshot are reused when id and finish time still match, and only new ones are
        read: a scrape between two runs costs one query.
        """
        with self._guard("reading the results snapshot"), self._transaction(write=False) as conn:
            monitors = conn.execute(_SNAPSHOT_QUERY).all()
            cached = self._run_cache
            keep: dict[int, RunResult] = {}
            missing: set[int] = set()
            for m in monitors:
                for run_id, finished in (
                    (m.latest_id, m.latest_finished_at),
                    (m.scored_id, m.scored_finished_at),
                ):
                    if run_id is None:
                        continue
                    hit = cached.get(run_id)
                    if hit is not None and hit.monitor == m.name and hit.finished_at == finished:
                        keep[run_id] = hit
                    else:
                        missing.add(run_id)
            if missing:
                ids = sorted(missing)
                rows = conn.execute(select_runs().where(runs_table.c.id.in_(ids))).all()
                features = features_by_run(conn.execute(select_features(ids)).all())
                keep.update((r[0], run_from_row(r, features)) for r in rows)
        self._run_cache = keep  # one assignment: concurrent snapshots see either dict
        return [_monitor_snapshot(m, keep) for m in monitors]

    # -- connection -------------------------------------------------------------------------

    def ping(self) -> None:
        """Raise StorageError unless the database answers."""
        with self._guard("pinging the results database"), self._engine.connect() as conn:
            conn.execute(select(1))

    def dispose(self) -> None:
        """Close pooled connections (call on shutdown, or after fork)."""
        self._engine.dispose()


def _latest_run_id(*, scored: bool) -> Any:
    """Correlated subquery: id of the monitor's run with the latest window end."""
    where = [runs_table.c.monitor_id == monitors_table.c.id]
    if scored:
        where.append(runs_table.c.status != Status.ERROR.value)
    return (
        select(runs_table.c.id)
        .where(*where)
        .order_by(runs_table.c.window_end.desc())  # unique per monitor: a total order
        .limit(1)
        .correlate(monitors_table)
        .scalar_subquery()
    )


# Versions that are not current and that no run refers to any more: pruning deletes them.
_UNUSED_VERSIONS = delete(profile_versions_table).where(
    ~select(runs_table.c.id)
    .where(runs_table.c.profile_version_id == profile_versions_table.c.id)
    .exists(),
    ~select(reference_profiles_table.c.monitor_id)
    .where(reference_profiles_table.c.version_id == profile_versions_table.c.id)
    .exists(),
)


def json_copy(data: dict[str, Any]) -> Any:
    """``data`` as it reads back from a JSON column (tuples become lists, and so on)."""
    return json.loads(json.dumps(data))


def _without_metadata(profile: Any) -> Any:
    """A stored profile's dict without its metadata: what a rebuild would change."""
    return {k: v for k, v in profile.items() if k != "metadata"}


def _version_exists(conn: Connection, monitor_id: int, version: int) -> bool:
    return (
        conn.execute(
            select(profile_versions_table.c.id).where(
                profile_versions_table.c.id == version,
                profile_versions_table.c.monitor_id == monitor_id,
            )
        ).scalar_one_or_none()
        is not None
    )


_latest = runs_table.alias("latest")
_scored = runs_table.alias("scored")
_SNAPSHOT_QUERY = (
    select(
        monitors_table.c.name,
        monitors_table.c.created_at,
        _latest.c.id.label("latest_id"),
        _latest.c.finished_at.label("latest_finished_at"),
        _scored.c.id.label("scored_id"),
        _scored.c.finished_at.label("scored_finished_at"),
        monitor_stats_table.c.runs_success,
        monitor_stats_table.c.runs_partial,
        monitor_stats_table.c.runs_failure,
        monitor_stats_table.c.runs_insufficient_data,
        monitor_stats_table.c.last_run_at,
        monitor_stats_table.c.last_success_at,
        monitor_stats_table.c.duration_sum,
        monitor_stats_table.c.duration_count,
        monitor_stats_table.c.duration_buckets,
    )
    .select_from(monitors_table)
    .outerjoin(_latest, _latest.c.id == _latest_run_id(scored=False))
    .outerjoin(_scored, _scored.c.id == _latest_run_id(scored=True))
    .outerjoin(monitor_stats_table, monitor_stats_table.c.monitor_id == monitors_table.c.id)
    .order_by(monitors_table.c.name)
)


# -- helpers (inside an open transaction) -------------------------------------------------------


def _ensure_monitor(conn: Connection, name: str) -> int:
    found = conn.execute(
        select(monitors_table.c.id).where(monitors_table.c.name == name)
    ).scalar_one_or_none()
    if found is not None:
        return int(found)
    _insert_ignore(conn, monitors_table, {"name": name, "created_at": datetime.now(UTC)})
    return int(
        conn.execute(select(monitors_table.c.id).where(monitors_table.c.name == name)).scalar_one()
    )


def _insert_ignore(conn: Connection, table: Table, values: dict[str, Any]) -> None:
    """INSERT that does nothing if a unique key already holds the row (two daemons)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(pg_insert(table).values(values).on_conflict_do_nothing())
    elif conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        conn.execute(sqlite_insert(table).values(values).on_conflict_do_nothing())
    else:
        conn.execute(insert(table).values(values))


def _upsert(conn: Connection, table: Table, values: dict[str, Any]) -> None:
    """Insert ``values`` or overwrite the row with the same primary key."""
    keys = [c.name for c in table.primary_key.columns]
    changes = {k: v for k, v in values.items() if k not in keys}
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(table).values(values)
        conn.execute(pg.on_conflict_do_update(index_elements=keys, set_=changes))
    elif conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite = sqlite_insert(table).values(values)
        conn.execute(lite.on_conflict_do_update(index_elements=keys, set_=changes))
    else:
        where = [table.c[k] == values[k] for k in keys]
        if conn.execute(update(table).where(*where).values(changes)).rowcount == 0:
            conn.execute(insert(table).values(values))


def _is_unique_violation(exc: IntegrityError) -> bool:
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code is not None:
        return bool(code == "23505")
    name = getattr(orig, "sqlite_errorname", None)
    if name is not None:
        return bool(name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"))
    return "unique" in str(orig).lower()


def _count_run(conn: Connection, monitor_id: int, run: RunResult) -> None:
    """Add the run to the monitor's counters and duration histogram."""
    locked = (
        select(monitor_stats_table)
        .where(monitor_stats_table.c.monitor_id == monitor_id)
        .with_for_update()
    )
    # The row exists but for a monitor's first run: read (and lock) it first, one round
    # trip fewer per save than inserting it every time (each one a wait for the GIL behind
    # busy threads, benchmarks/README.md).
    stats = conn.execute(locked).one_or_none()
    if stats is None:
        _insert_ignore(
            conn,
            monitor_stats_table,
            {
                "monitor_id": monitor_id,
                "runs_success": 0,
                "runs_partial": 0,
                "runs_failure": 0,
                "runs_insufficient_data": 0,
                "last_run_at": None,
                "last_success_at": None,
                "duration_sum": 0.0,
                "duration_count": 0,
                "duration_buckets": [0] * len(DURATION_BUCKETS),
            },
        )
        stats = conn.execute(locked).one()
    outcome = outcome_of(run.status, (f.status for f in run.features))
    duration = max(0.0, run.duration_seconds)
    buckets = list(stats.duration_buckets)
    for i, bound in enumerate(DURATION_BUCKETS):
        if duration <= bound:
            buckets[i] += 1
    finished = run.finished_at if run.finished_at.tzinfo else run.finished_at.replace(tzinfo=UTC)
    changes: dict[str, Any] = {
        f"runs_{outcome}": getattr(stats, f"runs_{outcome}") + 1,
        "last_run_at": _later(stats.last_run_at, finished),
        "duration_sum": stats.duration_sum + duration,
        "duration_count": stats.duration_count + 1,
        "duration_buckets": buckets,
    }
    if outcome in SCORED_OUTCOMES:
        changes["last_success_at"] = _later(stats.last_success_at, finished)
    conn.execute(
        update(monitor_stats_table)
        .where(monitor_stats_table.c.monitor_id == monitor_id)
        .values(changes)
    )


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


def _monitor_snapshot(m: Any, runs: dict[int, RunResult]) -> MonitorSnapshot:
    if m.duration_count is None:  # a monitor with a profile but no run yet
        duration = DurationHistogram.empty()
    else:
        duration = DurationHistogram(
            buckets=tuple(zip(DURATION_BUCKETS, m.duration_buckets, strict=True)),
            sum=float(m.duration_sum),
            count=int(m.duration_count),
        )
    return MonitorSnapshot(
        monitor=m.name,
        latest_run=runs.get(m.latest_id) if m.latest_id is not None else None,
        latest_scored_run=runs.get(m.scored_id) if m.scored_id is not None else None,
        last_run_at=m.last_run_at,
        last_success_at=m.last_success_at,
        first_seen_at=m.created_at,
        runs_success=int(m.runs_success or 0),
        runs_partial=int(m.runs_partial or 0),
        runs_failure=int(m.runs_failure or 0),
        runs_insufficient_data=int(m.runs_insufficient_data or 0),
        duration=duration,
    )


def _reopened(url: str, options: dict[str, Any]) -> Store:
    return Store(url, **options)
