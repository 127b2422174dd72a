"""driftmon: data-drift monitoring with per-feature KL(live‖reference)."""

# The one place the version is written: pyproject.toml reads it from here
# ([tool.setuptools.dynamic]), and `driftmon --version` needs no importlib.metadata lookup.
__version__ = "0.1.0"

__all__ = ["__version__"]
