"""driftmon: data-drift monitoring with per-feature KL(live‖reference).

As a library (README, "Python API")::

    import driftmon
    report = driftmon.compare(reference_df, live_df)
    report.raise_for_drift()

The names below are loaded on first use, so ``import driftmon`` (and ``driftmon
--version``) imports no third-party library.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# The one place the version is written: pyproject.toml reads it from here
# ([tool.setuptools.dynamic]), and `driftmon --version` needs no importlib.metadata lookup.
__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DriftDetected",
    "DriftmonError",
    "Profile",
    "ProfileError",
    "Report",
    "__version__",
    "compare",
]

_LAZY = {
    "ConfigError": "driftmon.errors",
    "DriftDetected": "driftmon.api.report",
    "DriftmonError": "driftmon.errors",
    "Profile": "driftmon.api.profile",
    "ProfileError": "driftmon.errors",
    "Report": "driftmon.api.report",
    "compare": "driftmon.api.profile",
}

if TYPE_CHECKING:
    from driftmon.api.profile import Profile, compare
    from driftmon.api.report import DriftDetected, Report
    from driftmon.errors import ConfigError, DriftmonError, ProfileError


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'driftmon' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
