"""Explaining an empty window: the note of a run, and ``driftmon validate``'s check.

A window that comes back empty from a source that has rows is usually a misread timestamp
(epoch milliseconds read as seconds) or stale data; saying which time range the source
spans, next to the window read, makes either plain to see.
"""

from __future__ import annotations

from datetime import datetime

from driftmon.config import MonitorConfig
from driftmon.errors import DriftmonError
from driftmon.service.window_end import scheduled_window_end
from driftmon.sources.base import Source, TimeSpanSource, Window, closing_source
from driftmon.sources.factory import source_from_config
from driftmon.sources.timespan import empty_window_message, format_window


def explain_empty_window(source: Source, window: Window, column: str) -> str:
    """Why ``window`` of ``source`` has no rows: the window and the source's time range.

    The range is read only here, once a window came back empty. A failure to read it is
    reported in the text, not raised: the window itself was read without error.
    """
    if not isinstance(source, TimeSpanSource):
        return f"no rows in the window {format_window(window)}"
    try:
        span = source.timestamp_span()
    except DriftmonError as exc:
        return (
            f"no rows in the window {format_window(window)}; the time range of the source's "
            f"column {column!r} could not be read: {exc}"
        )
    return empty_window_message(window, column, span)


def latest_window_problem(monitor: MonitorConfig, now: datetime) -> str | None:
    """For a windowed live source: why its latest scheduled window (ending at or before
    ``now``) is empty, or None when it has rows or the source is not windowed.

    Source errors (missing file, unreachable database) propagate as DriftmonError.
    """
    live = monitor.live
    if live.window is None or live.timestamp_column is None:
        return None
    end = scheduled_window_end(monitor.schedule, now)
    return window_problem(monitor, Window(end - live.window, end), "latest scheduled window")


def window_problem(monitor: MonitorConfig, window: Window, what: str) -> str | None:
    """Why ``window`` of the monitor's windowed live source is empty (``what`` names the
    window), or None when it has rows."""
    live = monitor.live
    assert live.timestamp_column is not None, "only a windowed live source has windows"
    with closing_source(source_from_config(live, monitor)) as source:
        # A query that uses :start/:end need not return its timestamp column.
        present = list(source.columns())
        columns = [live.timestamp_column] if live.timestamp_column in present else present[:1]
        for batch in source.batches(columns, window):
            if batch.num_rows:
                return None
        reason = explain_empty_window(source, window, live.timestamp_column)
        return f"{source.describe()}: {what} is empty: {reason}"
