"""Finding the Alembic migrations and running them from code, with no alembic.ini.

The migrations live in the top-level ``migrations/`` folder of the source tree. A source
checkout (editable install) uses that folder directly; a regular install (wheel, Docker
image) carries a copy as data files under ``<prefix>/share/driftmon/migrations``, which
is found through the installed distribution's file list.
"""

from __future__ import annotations

import sysconfig
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import String, column, inspect, select, table
from sqlalchemy.engine import Connection

import driftmon
from driftmon.errors import StorageError

if TYPE_CHECKING:
    from alembic.config import Config

_INSTALLED_SUFFIX = "share/driftmon/migrations"

SCHEMA_HEAD = "0005"
"""The newest revision in ``migrations/versions``, known without Alembic.

A database already at this revision needs no migration, so ``driftmon check`` and the
daemon's start skip importing Alembic (a third of a second). A test compares it with
Alembic's own head: a new migration must update it.
"""

_VERSION_TABLE = "alembic_version"  # Alembic's default; migrations/env.py keeps it


def migrations_dir() -> Path:
    """The folder holding ``env.py`` and ``versions/``, checkout first, then installed copy."""
    checkout = Path(driftmon.__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "migrations" / "env.py").is_file():
        return checkout / "migrations"
    installed = _installed_migrations_dir()
    if installed is not None:
        return installed
    raise StorageError(
        "database migrations not found: neither a source checkout's migrations/ folder "
        f"nor an installed copy under {_INSTALLED_SUFFIX}; reinstall driftmon"
    )


def _installed_migrations_dir() -> Path | None:
    candidates: list[Path] = []
    try:
        dist = distribution("driftmon")
    except PackageNotFoundError:
        dist = None
    if dist is not None:
        for f in dist.files or ():
            if f.as_posix().endswith(f"{_INSTALLED_SUFFIX}/env.py"):
                candidates.append(Path(str(dist.locate_file(f))).parent)
    candidates.append(Path(sysconfig.get_path("data")) / _INSTALLED_SUFFIX)
    for c in candidates:
        if (c / "env.py").is_file() and (c / "versions").is_dir():
            return c.resolve()
    return None


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config built in code; ``env.py`` migrates ``connection`` when given."""
    from alembic.config import Config

    cfg = Config()
    # ConfigParser interpolation: a literal % in a path must be doubled.
    cfg.set_main_option("script_location", str(migrations_dir()).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; None for an empty database.

    Read with plain SQL from Alembic's version table, as ``MigrationContext`` does.
    """
    if not inspect(connection).has_table(_VERSION_TABLE):
        return None
    query = select(column("version_num", String)).select_from(table(_VERSION_TABLE))
    rows = connection.execute(query).scalars().all()
    if len(rows) > 1:
        raise StorageError(
            f"the database's {_VERSION_TABLE} table holds {len(rows)} revisions "
            f"({', '.join(map(str, rows))}); driftmon's migrations have a single head"
        )
    return str(rows[0]) if rows else None


def describe_revision(revision: str | None) -> str:
    """``revision 0001 (Initial schema: ...)``: the id and the first line of its docstring."""
    if revision is None:
        return "no revision (empty database)"
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    doc = script.doc.strip().rstrip(".") if script is not None else ""
    return f"revision {revision} ({doc})" if doc else f"revision {revision}"
