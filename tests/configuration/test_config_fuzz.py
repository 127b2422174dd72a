"""Any value at any key gives a valid Config or a ConfigError: never another exception."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from driftmon.config import Config, config_from_dict
from driftmon.errors import ConfigError

from .conftest import minimal_config

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["5m", "0s", "* * * * *", "sqlite://", "${X}", "$${", "a.csv", "bh"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)

# Every place a value can go in the minimal config (key paths into the mapping).
TARGETS: list[tuple[Any, ...]] = [
    (), ("database",), ("database", "url"), ("server", ), ("server", "port"), ("log", "level"),
    ("retention", "max_age"), ("monitors",), ("monitors", 0), ("monitors", 0, "name"),
    ("monitors", 0, "schedule"), ("monitors", 0, "schedule", "cron"),
    ("monitors", 0, "schedule", "every"), ("monitors", 0, "reference"),
    ("monitors", 0, "reference", "path"), ("monitors", 0, "reference", "url"),
    ("monitors", 0, "live"), ("monitors", 0, "live", "timezone"),
    ("monitors", 0, "live", "window"), ("monitors", 0, "features"),
    ("monitors", 0, "features", 0), ("monitors", 0, "features", 0, "edges"),
    ("monitors", 0, "features", 0, "thresholds"), ("monitors", 0, "thresholds"),
    ("monitors", 0, "thresholds", "policy"), ("monitors", 0, "thresholds", "alpha"),
    ("monitors", 0, "smoothing"), ("monitors", 0, "source_timeout"),
]  # fmt: skip


def _place(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    out = copy.deepcopy(data)
    node = out
    for part in path[:-1]:
        node = node.setdefault(part, {}) if isinstance(node, dict) else node[part]
    node[path[-1]] = value
    return out


@settings(max_examples=300, deadline=None)
@given(target=st.sampled_from(TARGETS), value=VALUES)
def test_arbitrary_values_never_escape_as_other_exceptions(
    target: tuple[Any, ...], value: Any
) -> None:
    data = _place(minimal_config(), target, value)
    outcome: Config | ConfigError
    try:
        outcome = config_from_dict(data, path="fuzz.yaml", base_dir=Path("/srv"), environ={})
    except ConfigError as exc:
        outcome = exc
    if isinstance(outcome, ConfigError):
        assert str(outcome).startswith("fuzz.yaml: ")
