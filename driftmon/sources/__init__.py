"""Data sources: where reference and live rows come from (files, SQL databases)."""

from driftmon.sources.base import HistogramSource, Source, Window
from driftmon.sources.files import FileSource
from driftmon.sources.sql import SqlSource

__all__ = ["FileSource", "HistogramSource", "Source", "SqlSource", "Window"]
