"""psycopg is the ``postgres`` extra: a PostgreSQL URL without it says what to install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

import driftmon.drivers
from driftmon.drivers import POSTGRES_INSTALL, missing_driver
from driftmon.errors import StorageError
from driftmon.storage import Store

PG_URL = "postgresql+psycopg://driftmon:secret@db.example:5432/results"


@pytest.fixture
def no_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    """An install without the postgres extra (and without psycopg2)."""
    monkeypatch.setattr(driftmon.drivers, "find_spec", lambda name: None)


@pytest.mark.usefixtures("no_psycopg")
@pytest.mark.parametrize("url", [PG_URL, "postgresql://u@h/db"])
def test_a_postgresql_url_without_psycopg_names_the_extra(url: str) -> None:
    problem = missing_driver(make_url(url))
    assert problem is not None
    assert POSTGRES_INSTALL in problem


@pytest.mark.usefixtures("no_psycopg")
@pytest.mark.parametrize(
    "url", ["sqlite:///x.db", "postgresql+pg8000://u@h/db", "postgresql+psycopg2://u@h/db"]
)
def test_urls_that_need_no_driver_of_ours_pass(url: str) -> None:
    assert missing_driver(make_url(url)) is None


def test_an_installed_psycopg_passes() -> None:
    assert missing_driver(make_url(PG_URL)) is None


@pytest.mark.usefixtures("no_psycopg")
def test_the_store_names_the_extra_and_hides_the_password() -> None:
    with pytest.raises(StorageError) as err:
        Store(PG_URL)
    assert POSTGRES_INSTALL in str(err.value)
    assert "secret" not in str(err.value)


def test_validate_without_psycopg_is_a_configuration_error_naming_the_extra(
    tmp_path: Path,
) -> None:
    """A real process in which ``import psycopg`` fails: exit 2 and the pip command."""
    config = tmp_path / "driftmon.yaml"
    config.write_text(
        f"database: {{url: '{PG_URL}'}}\n"
        "monitors:\n"
        "  - name: m\n"
        "    schedule: {every: 1h}\n"
        "    reference: {path: ref.parquet}\n"
        "    live: {path: live.parquet}\n"
        "    features: [{name: x}]\n"
    )
    probe = (
        "import sys; sys.modules['psycopg'] = sys.modules['psycopg2'] = None\n"
        "from driftmon.cli import main\n"
        f"sys.exit(main(['validate', '-c', {str(config)!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "database.url" in done.stderr
    assert POSTGRES_INSTALL in done.stderr
    assert "secret" not in done.stderr
