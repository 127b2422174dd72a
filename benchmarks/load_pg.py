"""PostgreSQL helpers for ``bench_load.py``: a throw-away database and a COPY loader.

The benchmark creates its own database ``driftmon_bench_<random>`` on the server named by
``--postgres-url`` and drops it afterwards (``WITH (FORCE)``, so a daemon still connected
cannot keep it alive); it never touches any other database on that server.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PREFIX = "driftmon_bench_"


@contextmanager
def temporary_database(server_url: str) -> Iterator[str]:
    """A fresh, empty database on ``server_url``'s server; yields its URL, then drops it."""
    name = PREFIX + secrets.token_hex(6)
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def server_version(url: str) -> str:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar_one())
    finally:
        engine.dispose()


_PG_TYPES = {
    pa.types.is_timestamp: "timestamptz",
    pa.types.is_floating: "double precision",
    pa.types.is_integer: "bigint",
    pa.types.is_string: "text",
}


def _pg_type(t: pa.DataType) -> str:
    for test, name in _PG_TYPES.items():
        if test(t):
            return name
    raise TypeError(f"no PostgreSQL type for {t}")


def copy_tables(url: str, table: str, chunks: Iterable[pa.Table]) -> int:
    """Create ``table`` from the first chunk's schema and COPY every chunk into it (CSV)."""
    import psycopg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    rows = 0
    with psycopg.connect(dsn, autocommit=False) as conn:
        created = False
        for chunk in chunks:
            if not created:
                cols = ", ".join(f'"{f.name}" {_pg_type(f.type)}' for f in chunk.schema)
                conn.execute(f'CREATE TABLE "{table}" ({cols})')
                created = True
            buf = io.BytesIO()
            pacsv.write_csv(chunk, buf, pacsv.WriteOptions(include_header=False))
            names = ", ".join(f'"{n}"' for n in chunk.schema.names)
            with (
                conn.cursor() as cur,
                cur.copy(f'COPY "{table}" ({names}) FROM STDIN (FORMAT csv)') as cp,
            ):
                cp.write(buf.getbuffer())
            rows += chunk.num_rows
        conn.commit()
        conn.autocommit = True
        conn.execute(f'ANALYZE "{table}"')
    return rows


@contextmanager
def results_databases(
    postgres_url: str | None, workdir: Path, tag: str
) -> Iterator[list[tuple[str, str]]]:
    """(backend, URL) of empty results databases: SQLite in ``workdir``, PostgreSQL if given."""
    with temporary_database(postgres_url) if postgres_url else nullcontext() as pg:
        out = [("sqlite", f"sqlite:///{workdir / f'{tag}.db'}")]
        if pg:
            out.append(("postgresql", pg))
        yield out
