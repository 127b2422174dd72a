"""A password in a database URL never shows: logs, CLI output, /metrics, /healthz, the store.

The daemon runs as a subprocess (text and JSON logs) on a configuration whose results
database (PostgreSQL) and SQL sources carry the password ``pw-S3cret!``, raw, URL-encoded
and through ``${VAR}``, in the URL's user info or in its query string (``?password=``,
which libpq and psycopg accept); some sources are unreachable, one is reachable but lacks
a column, one has a bad query. Afterwards every place text can end up is searched for the
password in both spellings.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from .conftest import DaemonProcess, pg_server, query, run_cli, table_rows, write_config

PASSWORD = "pw-S3cret!"
ENCODED = quote(PASSWORD, safe="")  # pw-S3cret%21
FORMS = (PASSWORD, ENCODED, ENCODED.lower())
UNREACHABLE = "127.0.0.1:1"  # nothing listens on port 1: connection refused at once
_RUN_LINE = re.compile(r"run\.(finished|failed)")


def assert_no_password(where: str, text: str) -> None:
    for form in FORMS:
        assert form not in text, f"{form!r} leaked into {where}:\n{text[-3000:]}"


@pytest.fixture(scope="module")
def pg_role(pg_database: str) -> Iterator[str]:
    """A login role with password PASSWORD owning the module's database; dropped after."""
    role = f"dm_sec_{secrets.token_hex(4)}"
    admin = sa.create_engine(pg_server(), isolation_level="AUTOCOMMIT")
    in_db = sa.create_engine(pg_database, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            try:
                conn.exec_driver_sql(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{PASSWORD}'")
            except sa.exc.DBAPIError as exc:
                pytest.skip(f"cannot create a role on the test server: {exc.orig}")
            conn.exec_driver_sql(
                f'ALTER DATABASE "{make_url(pg_database).database}" OWNER TO "{role}"'
            )
        yield role
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (role,),
            )
        with in_db.connect() as conn:
            conn.exec_driver_sql(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER')
            conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        in_db.dispose()
        admin.dispose()


class Setup:
    """The configuration's URLs and what the run must have produced."""

    def __init__(self, results_url: str, pg_url: str | None, password_in: str) -> None:
        self.results_url = results_url
        self.config_results_url = results_url  # as the configuration spells it
        self.pg_url = pg_url  # the reachable source database (with the password), if any
        self.password_in = password_in
        self.monitors: list[dict[str, Any]] = []

    def source_url(self, user: str, password: str, host_db: str) -> str:
        """A source URL with ``password`` in the user info or in the query string."""
        if self.password_in == "userinfo":
            return f"postgresql+psycopg://{user}:{password}@{host_db}"
        return f"postgresql+psycopg://{user}@{host_db}?sslmode=disable&password={password}"

    def masked(self, user: str, host_db: str) -> str:
        """How a masked source URL reads in logs and stored errors."""
        if self.password_in == "userinfo":
            return f"{user}:***@{host_db}"
        return f"{user}@{host_db}?password=***"


def _monitor(name: str, reference: dict[str, Any], live: dict[str, Any], *features: str) -> Any:
    return {
        "name": name,
        "schedule": {"every": "1h"},
        "reference": reference,
        "live": live,
        "features": [{"name": f} for f in features or ("x",)],
    }


@pytest.fixture(params=["userinfo", "query"])
def password_in(request: pytest.FixtureRequest) -> str:
    """Where the URLs carry the password: ``user:pw@host`` or ``...?password=pw``."""
    where: str = request.param
    return where


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def setup(request: pytest.FixtureRequest, tmp_path: Path, password_in: str) -> Setup:
    """Data files, and on PostgreSQL a results database and a source table behind PASSWORD."""
    rng = np.random.default_rng(0)
    for name in ("reference", "live"):
        pq.write_table(pa.table({"x": rng.normal(size=300)}), tmp_path / f"{name}.parquet")
    if request.param == "sqlite":
        s = Setup(f"sqlite:///{tmp_path / 'results.db'}", None, password_in)
    else:
        database: str = request.getfixturevalue("pg_database")
        role: str = request.getfixturevalue("pg_role")
        admin = sa.create_engine(database)
        with admin.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql(f'CREATE SCHEMA public AUTHORIZATION "{role}"')
        admin.dispose()
        server = make_url(database)
        # SQLAlchemy renders the password URL-encoded (pw-S3cret%21): the results URL.
        results = server.set(username=role, password=PASSWORD)
        s = Setup(results.render_as_string(hide_password=False), None, password_in)
        if password_in == "query":
            # libpq's own spelling, the value from the environment (README's example).
            s.config_results_url = (
                server.set(username=role).render_as_string(hide_password=False)
                + "?password=${DRIFTMON_DB_PASSWORD}"
            )
        # The source URL spells the password raw.
        s.pg_url = s.source_url(
            role, PASSWORD, f"{server.host}:{server.port or 5432}/{server.database}"
        )
        engine = sa.create_engine(s.results_url)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE src (x double precision)")
            conn.execute(
                sa.text("INSERT INTO src (x) VALUES (:x)"),
                [{"x": float(v)} for v in rng.normal(size=300)],
            )
        engine.dispose()
    local = {"path": "reference.parquet"}
    s.monitors = [
        _monitor(
            "unreachable live",
            local,
            {"url": s.source_url("driftmon", "${SRC_PASSWORD}", f"{UNREACHABLE}/events"),
             "table": "events"},
        ),
        _monitor(
            "unreachable reference",
            {"url": s.source_url("driftmon", PASSWORD, f"{UNREACHABLE}/ref"), "table": "r"},
            {"path": "live.parquet"},
        ),
        _monitor(
            "unreachable encoded",
            local,
            {"url": s.source_url("driftmon", ENCODED, f"{UNREACHABLE}/enc"),
             "query": "SELECT 1"},
        ),
    ]  # fmt: skip
    if s.pg_url is not None:
        s.monitors += [
            _monitor(
                "reachable missing column",
                {"url": s.pg_url, "table": "src"},
                {"url": s.pg_url, "table": "src"},
                "x",
                "nope",
            ),
            _monitor("bad query", local, {"url": s.pg_url, "query": "SELECT x FROM no_such"}),
        ]
    return s


def config_for(tmp_path: Path, s: Setup, fmt: str, **top: Any) -> Path:
    data = {
        "database": {"url": s.config_results_url},
        "server": {"host": "127.0.0.1", "port": 0},
        "log": {"level": "DEBUG", "format": fmt},
        "monitors": s.monitors,
        **top,
    }
    return write_config(tmp_path / f"driftmon-{fmt}.yaml", data)


def everything_stored(url: str) -> str:
    """Every value of every row of every table, as text."""
    return "\n".join(
        repr(row) for table in table_rows(url) for row in query(url, f'SELECT * FROM "{table}"')
    )


def _break_login(pg_url: str, role: str, allowed: bool) -> None:
    admin = sa.create_engine(pg_server(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER ROLE "{role}" {"LOGIN" if allowed else "NOLOGIN"}')
            if not allowed:
                conn.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                    (role,),
                )
    finally:
        admin.dispose()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_failing_run_leaks_the_password_nowhere(
    fmt: str,
    setup: Setup,
    tmp_path: Path,
    daemon_factory: Callable[..., DaemonProcess],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = config_for(tmp_path, setup, fmt)
    env = {"SRC_PASSWORD": PASSWORD, "DRIFTMON_DB_PASSWORD": PASSWORD}
    daemon = daemon_factory(config, fmt, env=env)
    n = len(setup.monitors)
    daemon.wait_for("run.f", 60, count=n)
    seen: dict[str, str] = {}
    status, body = daemon.get("/metrics")
    assert status == 200
    seen["/metrics"] = body.decode()
    seen["/healthz"] = daemon.get("/healthz")[1].decode()
    if setup.pg_url is not None:
        # The results database refuses the daemon's role: /healthz names it, masked.
        role = make_url(setup.results_url).username
        assert role is not None
        _break_login(setup.pg_url, role, allowed=False)
        try:
            status, body = daemon.get("/healthz")
            assert status == 503, body
            health = json.loads(body)
            assert make_url(setup.results_url).database in health["database"]["error"]
            seen["/healthz while the database refuses"] = body.decode()
            seen["/metrics while the database refuses"] = daemon.get("/metrics")[1].decode()
        finally:
            _break_login(setup.pg_url, role, allowed=True)
    assert daemon.stop() == 0
    logs = daemon.text()
    seen[f"daemon {fmt} logs"] = logs
    assert len(_RUN_LINE.findall(logs)) >= n
    assert setup.masked("driftmon", f"{UNREACHABLE}/events") in logs  # the URL, masked
    started = next(line for line in logs.splitlines() if "daemon.started" in line)
    assert str(make_url(setup.results_url).database) in started  # the results URL, masked

    for argv in (
        ["check"],
        ["check", "--json"],
        ["validate"],
        ["reference", "rebuild"],
        ["db", "upgrade"],
    ):
        with pytest.MonkeyPatch.context() as mp:
            for k, v in env.items():
                mp.setenv(k, v)
            code, out, err = run_cli(capsys, *argv, "-c", str(config))
        seen[f"driftmon {' '.join(argv)} (exit {code})"] = out + err
        if argv[0] == "check":
            assert code == 3, out + err
            assert f"{UNREACHABLE}/events" in out

    stored = everything_stored(setup.results_url)
    seen["results database"] = stored
    assert f"{UNREACHABLE}/events" in stored  # run.error names the source, masked
    errors = query(setup.results_url, "SELECT error FROM runs WHERE error IS NOT NULL")
    assert len(errors) >= 3
    if setup.pg_url is not None:
        messages = [
            r["message"]
            for r in query(
                setup.results_url, "SELECT message FROM feature_results WHERE status = 'error'"
            )
        ]
        masked = "***@" if setup.password_in == "userinfo" else "password=***"
        assert any("'nope' not found" in m and masked in m for m in messages), messages
    for where, text in seen.items():
        assert_no_password(where, text)


@pytest.mark.parametrize(
    "results_url",
    [
        f"postgresql+psycopg://driftmon:{ENCODED}@{UNREACHABLE}/results",
        f"postgresql+psycopg://driftmon@{UNREACHABLE}/results?password={ENCODED}",
        f"postgresql+psycopg://driftmon@{UNREACHABLE}/results?SSLPassword={ENCODED}&password=x",
    ],
    ids=["userinfo", "query", "sslpassword"],
)
@pytest.mark.parametrize(
    "argv",
    [["check"], ["check", "--json"], ["reference", "rebuild"], ["db", "upgrade"], ["run"]],
)
def test_an_unreachable_results_database_exits_3_naming_host_and_database_only(
    argv: list[str], results_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The password is URL-encoded in the config; neither spelling may show."""
    rng = np.random.default_rng(0)
    for name in ("reference", "live"):
        pq.write_table(pa.table({"x": rng.normal(size=300)}), tmp_path / f"{name}.parquet")
    config = write_config(
        tmp_path / "driftmon.yaml",
        {
            "database": {"url": results_url},
            "server": {"port": 0},
            "monitors": [
                _monitor("m", {"path": "reference.parquet"}, {"path": "live.parquet"}, "x")
            ],
        },
    )
    with pytest.MonkeyPatch.context() as mp:
        # `run` installs SIGTERM/SIGINT handlers: keep pytest's.
        mp.setattr(signal, "signal", lambda *args: None)
        code, out, err = run_cli(capsys, *argv, "-c", str(config))
    assert code == 3, out + err
    assert "results database unavailable" in err
    assert f"{UNREACHABLE}/results" in err
    assert_no_password(" ".join(argv), out + err)
