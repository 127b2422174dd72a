"""HTML views of stored results: pure functions from results and profiles to HTML text."""

from driftmon.render.views import (
    MonitorReport,
    render_feature,
    render_index,
    render_monitor,
    render_page,
    render_report,
)

__all__ = [
    "MonitorReport",
    "render_feature",
    "render_index",
    "render_monitor",
    "render_page",
    "render_report",
]
