"""Keeping credentials out of logs, errors, metrics and stored text."""

from __future__ import annotations

import re

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

_PASSWORD_IN_URL = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)@")


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (host, port and database kept)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return scrub(url)


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove passwords of any URL in free text, and any of the given literal secrets."""
    out = _PASSWORD_IN_URL.sub(lambda m: f"{m.group('head')}***@", text)
    for s in secrets:
        if s:
            out = out.replace(s, "***")
    return out
