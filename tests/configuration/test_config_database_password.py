"""database.password: the results database's password given apart from its URL, unencoded."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from .conftest import ErrorLoader, Loader, minimal_config

URL = "postgresql+psycopg://driftmon@db.example:5432/results"


@pytest.mark.parametrize("password", ["p@ss/w#rd", "a:b?c%20d&e=f+g", "plain"])
def test_the_password_joins_the_url_whatever_its_characters(load: Loader, password: str) -> None:
    config = load(
        minimal_config(database={"url": URL, "password": "${DB_PASSWORD}"}),
        environ={"DB_PASSWORD": password},
    )
    url = make_url(config.database.url)
    assert (url.username, url.password) == ("driftmon", password)
    assert (url.host, url.port, url.database) == ("db.example", 5432, "results")
    assert config.database.masked_url == "postgresql+psycopg://driftmon:***@db.example:5432/results"
    assert password not in repr(config.database)


def test_a_url_without_password_key_is_left_as_written(load: Loader) -> None:
    assert load(minimal_config(database={"url": URL})).database.url == URL


def test_a_password_in_both_places_is_an_error(load_error: ErrorLoader) -> None:
    message = load_error(
        minimal_config(database={"url": "postgresql+psycopg://u:one@h/db", "password": "two"})
    )
    assert "database: give the password in url or in password, not in both" in message
    assert ":one@" not in message


def test_a_password_without_a_user_name_is_an_error(load_error: ErrorLoader) -> None:
    message = load_error(
        minimal_config(database={"url": "postgresql+psycopg://h/db", "password": "x"})
    )
    assert "password needs a user name in url" in message


def test_a_password_must_be_text(load_error: ErrorLoader) -> None:
    message = load_error(minimal_config(database={"url": URL, "password": ["x"]}))
    assert "database.password" in message
