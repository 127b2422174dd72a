"""Masking credentials in URLs and free text: user-info passwords and credential query values."""

from __future__ import annotations

import pytest

from driftmon.secrets import mask_url, scrub, url_secrets

HOST = "postgresql+psycopg://driftmon@db.internal:5432/results"


@pytest.mark.parametrize(
    "param",
    ["password", "PASSWORD", "sslpassword", "token", "secret", "key", "access_key", "api_key",
     "X-Amz-Security-Token", "client_secret", "passwd", "pwd", "credentials", "signature"],
)  # fmt: skip
def test_mask_url_hides_every_credential_like_query_parameter(param: str) -> None:
    masked = mask_url(f"{HOST}?sslmode=require&{param}=hunter2-%21")
    assert "hunter2" not in masked
    assert f"{param}=***" in masked
    assert masked.startswith(HOST + "?")
    assert "sslmode=require" in masked  # the other parameters are kept


def test_mask_url_hides_the_user_info_password_and_a_repeated_query_secret() -> None:
    masked = mask_url("postgresql://u:p%40ss@h:5432/db?token=a1&token=b2&application_name=dm")
    assert masked == "postgresql://u:***@h:5432/db?application_name=dm&token=***&token=***"


def test_scrub_masks_query_secrets_of_urls_in_free_text() -> None:
    text = (
        f"connecting to {HOST}?password=pw-S3cret%21&sslmode=disable failed; "
        "retry https://api.example/v1?Api_Key=zz9&page=2, 'http://x/?token=t0k'"
    )
    out = scrub(text)
    for secret in ("pw-S3cret", "zz9", "t0k"):
        assert secret not in out
    assert f"{HOST}?password=***&sslmode=disable failed" in out
    assert "Api_Key=***&page=2" in out


def test_scrub_leaves_ordinary_parameters_and_text_alone() -> None:
    text = "see /metrics?name[]=x&sslmode=verify-full&target_session_attrs=any; key=value"
    assert scrub(text) == text


def test_url_secrets_lists_every_spelling_of_every_credential() -> None:
    found = url_secrets("postgresql://u:p%40ss@h/db?sslpassword=a%20b&sslmode=require")
    assert set(found) == {"p@ss", "p%40ss", "a b", "a%20b", "a+b"}
    assert url_secrets("not a url") == ()
