"""What ``driftmon validate`` checks beyond the configuration file itself.

Each source of each monitor opens and has every column the configuration names, the
latest scheduled window of a windowed live source has rows, and the spool folder can be
created and written (``driftmon run`` refuses to start otherwise: it writes there only when
the results database is away, too late to find out). Problems lead with what is wrong;
their kind decides the command's exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from driftmon.clock import utcnow
from driftmon.config import Config, MonitorConfig
from driftmon.config.profile_reference import ProfileReferenceConfig
from driftmon.config.rolling import FromLiveReference
from driftmon.config.sources import LiveOptions
from driftmon.errors import ConfigError, DriftmonError
from driftmon.service.empty_windows import latest_window_problem, window_problem
from driftmon.service.profile_reference import profile_problems
from driftmon.service.rolling import reference_window
from driftmon.service.window_end import scheduled_window_end
from driftmon.sources.base import closing_source, column_list
from driftmon.sources.factory import SourceConfig, source_from_config
from driftmon.spool import Spool


class ProblemKind(StrEnum):
    """What ``validate`` found; listed in the order in which they decide the exit code."""

    CONFIGURATION = "configuration"
    """The configuration must change: an invalid value, a configured column a source lacks."""
    SOURCE = "source"
    """A source could not be opened or read; the configuration may be right."""
    SPOOL = "spool"
    """The spool folder cannot be created or written, so ``driftmon run`` would not start;
    the configuration may be right (permissions, a read-only disk)."""


@dataclass(frozen=True)
class Problem:
    """One thing ``validate`` found wrong; ``message`` leads with the problem."""

    kind: ProblemKind
    message: str


def _source_problems(config: Config, monitor: MonitorConfig) -> list[Problem]:
    """Each source of ``monitor`` opens and has every column the configuration names."""
    problems: list[Problem] = []
    # A rolling reference reads the live source, whose columns are checked as live; a
    # profile reference is a file, checked on its own.
    roles: list[tuple[str, SourceConfig]] = [("live", monitor.live)]
    if isinstance(monitor.reference, ProfileReferenceConfig):
        lines = profile_problems(monitor, monitor.reference)
        problems += [Problem(ProblemKind.CONFIGURATION, line) for line in lines]
    elif not isinstance(monitor.reference, FromLiveReference):
        roles.insert(0, ("reference", monitor.reference))
    for role, cfg in roles:
        try:
            source = source_from_config(cfg, monitor)
            with closing_source(source):  # a pooled SQL connection is not kept open
                available = list(source.columns())
        except ConfigError as exc:
            problems.append(
                Problem(
                    ProblemKind.CONFIGURATION,
                    f"{role} source of monitor {monitor.name!r} in {config.path}: {exc}",
                )
            )
            continue
        except DriftmonError as exc:
            problems.append(
                Problem(ProblemKind.SOURCE, f"monitor {monitor.name!r}: {role} source: {exc}")
            )
            continue
        present = set(available)
        configured = [(f"feature {f.name!r}", f.source_column) for f in monitor.features]
        if role == "live" and isinstance(cfg, LiveOptions) and cfg.timestamp_column:
            configured.append(("timestamp_column", cfg.timestamp_column))
        for what, column in configured:
            if column not in present:
                problems.append(
                    Problem(
                        ProblemKind.CONFIGURATION,
                        f"column {column!r} is not in the {role} source {source.describe()} "
                        f"({what} of monitor {monitor.name!r} in {config.path}); "
                        f"it has {column_list(available)}",
                    )
                )
        if role == "live" and not any(col not in present for _, col in configured):
            problems += _empty_window_problems(monitor)
    return problems


def _empty_window_problems(monitor: MonitorConfig) -> list[Problem]:
    """The latest scheduled window of a windowed live source has rows, and so does its
    rolling reference window, or says why not."""
    try:
        empty = latest_window_problem(monitor, utcnow())
    except DriftmonError as exc:
        empty = f"reading its latest scheduled window: {exc}"
    problems = []
    if empty is not None:
        live = f"monitor {monitor.name!r}: live source: {empty}"
        problems.append(Problem(ProblemKind.SOURCE, live))
    if monitor.rolling is not None:
        try:
            end = scheduled_window_end(monitor.schedule, utcnow())
            what = f"the rolling reference window of the window ending {end.isoformat()}"
            empty = window_problem(monitor, reference_window(monitor, end), what)
        except DriftmonError as exc:
            empty = f"reading the rolling reference window: {exc}"
        if empty is not None:
            problems.append(
                Problem(ProblemKind.SOURCE, f"monitor {monitor.name!r}: reference: {empty}")
            )
    return problems


PROBLEM_KINDS = tuple(ProblemKind)
"""The kinds in the order in which they decide the exit code."""


def find_problems(config: Config) -> list[Problem]:
    """Every problem of every monitor's sources, in monitor order, then the spool's."""
    problems: list[Problem] = []
    for monitor in config.monitors:
        problems += _source_problems(config, monitor)
    return problems + _spool_problems(config)


def _spool_problems(config: Config) -> list[Problem]:
    """The spool folder can be created and written, as ``driftmon run`` checks at start."""
    path = config.database.spool.path
    why = Spool(Path(path)).check() if path is not None else None
    if why is None:
        return []
    message = (
        f"database.spool.path in {config.path}: {why}; `driftmon run` would refuse to start "
        "(it keeps runs there while the results database is unavailable)"
    )
    return [Problem(ProblemKind.SPOOL, message)]
