"""Durations written as "30s", "5m", "1h", "2d", "1w", "1h30m", or integer seconds.

Every duration in a config is bounded at validation: a datetime (years 1 to 9999) and the
scheduler must be able to add it to or subtract it from now, so ``window: 999999999d`` is a
config error, not an ``OverflowError`` in the daemon.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

from driftmon.config._base import describe_value, fail

_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
# Units in decreasing order, each at most once: "1h30m" is valid, "30m1h" and "5m5m" are not.
# No optional whitespace inside: each group needs digits and its letter, so matching is linear.
_DURATION = re.compile(
    r"(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?"
)
_PARTS = re.compile(r"(?:\d+[wdhms])+")  # one whitespace-separated piece, e.g. "1h" in "1h 30m"
MAX_DAYS = timedelta.max.days
MAX_SPAN = timedelta(days=36_500)
"""Longest schedule interval, live window or retention age: 100 years, so that now ± the
span stays far inside datetime's range (and an epoch-aligned interval's next fire time too)."""
MAX_TIMEOUT = timedelta(days=7)
"""Longest ``source_timeout``; PostgreSQL's statement_timeout holds at most ~24.8 days."""
EXPECTED = "a duration such as 30s, 5m, 1h, 2d, 1w, 1h30m, or an integer number of seconds"


def parse_duration(value: object) -> timedelta:
    """The ``timedelta`` a config value stands for; ``ValueError`` when it is not one."""
    if isinstance(value, timedelta):
        return value
    seconds: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str):
        pieces = value.split()
        if len(pieces) == 1 and pieces[0].isascii() and pieces[0].isdigit():
            seconds = int(pieces[0])
        elif pieces and all(_PARTS.fullmatch(p) for p in pieces):
            m = _DURATION.fullmatch("".join(pieces))
            if m:
                seconds = sum(int(n) * _UNIT_SECONDS[u] for u, n in m.groupdict().items() if n)
    if seconds is None:
        raise ValueError(f"expected {EXPECTED}, got {describe_value(value)}")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(
            f"expected a duration shorter than {MAX_DAYS} days, got {describe_value(value)}"
        ) from None


def format_duration(delta: timedelta) -> str:
    """The shortest config spelling of a whole-second duration: 5400 s -> "1h30m"."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return f"{seconds}s"
    parts = []
    for unit, size in _UNIT_SECONDS.items():
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts)


def _bounded_duration(value: Any, limit: timedelta, shown: str) -> timedelta:
    try:
        delta = parse_duration(value)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if delta <= timedelta(0):
        raise fail(f"expected a duration > 0, got {describe_value(value)}")
    if delta > limit:
        raise fail(f"expected a duration between 1s and {shown}, got {describe_value(value)}")
    return delta


def _span(value: Any) -> timedelta:
    return _bounded_duration(value, MAX_SPAN, f"{MAX_SPAN.days}d (100 years)")


def _timeout(value: Any) -> timedelta:
    return _bounded_duration(value, MAX_TIMEOUT, f"{MAX_TIMEOUT.days}d")


Duration = Annotated[timedelta, BeforeValidator(_span)]
"""A ``timedelta`` parsed with ``parse_duration``, > 0 and at most ``MAX_SPAN``."""

Timeout = Annotated[timedelta, BeforeValidator(_timeout)]
"""A ``timedelta`` parsed with ``parse_duration``, > 0 and at most ``MAX_TIMEOUT``."""
