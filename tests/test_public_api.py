"""The public surface of ``import driftmon``: pinned names, loaded lazily."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import driftmon

from .test_startup import HEAVY

PUBLIC = [
    "ConfigError",
    "DriftDetected",
    "DriftmonError",
    "Profile",
    "ProfileError",
    "Report",
    "__version__",
    "compare",
]


def test_the_public_names_are_pinned() -> None:
    """Changing the surface is deliberate: this list changes with it."""
    assert driftmon.__all__ == PUBLIC


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(driftmon, name) is not None
    assert name in dir(driftmon)


def test_public_classes_are_shown_under_driftmon() -> None:
    """Tracebacks and reprs say driftmon.DriftDetected, not the private module."""
    for name in ("Profile", "Report", "DriftDetected", "compare"):
        assert getattr(driftmon, name).__module__ == "driftmon"


def test_errors_are_driftmon_errors() -> None:
    assert issubclass(driftmon.ConfigError, driftmon.DriftmonError)
    assert issubclass(driftmon.ProfileError, driftmon.DriftmonError)
    assert not issubclass(driftmon.DriftDetected, driftmon.DriftmonError)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'comparee'"):
        _ = driftmon.comparee


def test_importing_driftmon_loads_no_heavy_library() -> None:
    """``import driftmon`` stays as light as ``driftmon --version``: the API loads on use."""
    code = (
        "import json, sys, driftmon; before = sorted(sys.modules); driftmon.compare; "
        "print(json.dumps([before, sorted(sys.modules)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    before, after = (set(x) for x in json.loads(out))
    assert before & set(HEAVY) == set()
    assert {"pyarrow", "pydantic"} <= after  # the name really loaded the API
    assert after.isdisjoint({"jinja2", "alembic", "apscheduler", "scipy.stats"})
