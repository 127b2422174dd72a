"""The implementation of driftmon's Python API.

The public names are those of ``driftmon.__all__`` (``driftmon.compare``,
``driftmon.Profile``, ...); the modules here are internal and may change.
"""
