"""driftmon: data-drift monitoring with per-feature KL(live‖reference)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("driftmon")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
