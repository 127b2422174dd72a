"""Optional database drivers: whether the one a URL needs is installed, and how to get it."""

from __future__ import annotations

from importlib.util import find_spec

from sqlalchemy.engine import URL

POSTGRES_INSTALL = "pip install 'driftmon[postgres]'"


def missing_driver(url: URL) -> str | None:
    """Why ``url`` cannot connect for want of a driver driftmon installs; None when it can.

    PostgreSQL (psycopg 3) is the ``postgres`` extra. A bare ``postgresql://`` URL is served
    by psycopg2 or psycopg 3, whichever is installed; any other driver named in the URL
    (``+psycopg2``, ``+pg8000``, ...) is the user's to install.
    """
    if url.get_backend_name() != "postgresql":
        return None
    if url.drivername == "postgresql":
        modules: tuple[str, ...] = ("psycopg", "psycopg2")
    elif url.get_driver_name() == "psycopg":
        modules = ("psycopg",)
    else:
        return None
    if any(find_spec(m) is not None for m in modules):
        return None
    return f"PostgreSQL support is not installed (no psycopg module): {POSTGRES_INSTALL}"
