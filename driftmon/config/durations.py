"""Durations written as "30s", "5m", "1h", "2d", "1w", "1h30m", or integer seconds."""

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


def _positive_duration(value: Any) -> timedelta:
    try:
        delta = parse_duration(value)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if delta <= timedelta(0):
        raise fail(f"expected a duration > 0, got {describe_value(value)}")
    return delta


Duration = Annotated[timedelta, BeforeValidator(_positive_duration)]
"""A strictly positive ``timedelta`` parsed with ``parse_duration``."""
