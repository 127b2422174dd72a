"""Keeping credentials out of logs, errors, metrics and stored text.

A URL carries a password in two places: its user info (``scheme://user:pw@host``) and,
as libpq and psycopg accept, its query string (``.../db?password=pw``). Both are masked,
and so is every query parameter whose name looks like a credential (``sslpassword``,
``token``, ``secret``, ``api_key``, ``access_key``...), whatever its case.
"""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

MASK = "***"

_PASSWORD_IN_URL = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)@")

# A query parameter name that looks like a credential: any name containing one of these.
_SECRET_PARAM_NAME = re.compile(r"pass|pwd|secret|token|key|credential|signature", re.IGNORECASE)
# ``?name=value`` or ``&name=value`` (``;`` too, an old separator) in free text: the value
# runs to the next separator, whitespace, quote, bracket or fragment.
_QUERY_PARAM = re.compile(r"(?P<head>[?&;](?P<name>[A-Za-z0-9_.\-%]+)=)(?P<value>[^&;#\s\"'<>()]*)")


def is_secret_param(name: str) -> bool:
    """True for a URL query parameter whose value is a credential (case-insensitive)."""
    return _SECRET_PARAM_NAME.search(name) is not None


def mask_url(url: str) -> str:
    """The URL with its password and credential-like query values replaced by ``***``.

    Host, port, database and the other query parameters are kept.
    """
    try:
        rendered = make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return scrub(url)
    return _mask_query(rendered)


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove passwords and credential query values of any URL in free text, and any of
    the given literal secrets."""
    out = _PASSWORD_IN_URL.sub(lambda m: f"{m.group('head')}{MASK}@", text)
    out = _mask_query(out)
    for s in sorted(secrets, key=len, reverse=True):
        if s:
            out = out.replace(s, MASK)
    return out


def url_secrets(url: str) -> tuple[str, ...]:
    """Every credential a URL carries (user-info password, credential query values), each
    as given, URL-encoded and form-encoded: the forms a driver's message may show."""
    try:
        u = make_url(url)
    except (ArgumentError, ValueError):
        return ()
    values: list[str] = [str(u.password)] if u.password else []
    for name, value in u.query.items():
        if is_secret_param(name):
            values += [value] if isinstance(value, str) else list(value)
    forms = {f for v in values if v for f in (v, quote(v, safe=""), quote_plus(v))}
    return tuple(sorted(forms, key=len, reverse=True))


def _mask_query(text: str) -> str:
    def mask(m: re.Match[str]) -> str:
        if not m.group("value") or not is_secret_param(m.group("name")):
            return m.group(0)
        return f"{m.group('head')}{MASK}"

    return _QUERY_PARAM.sub(mask, text)
