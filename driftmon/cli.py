"""The ``driftmon`` command line: run, check, validate, db upgrade, reference rebuild.

Exit codes (``EXIT_CODES_HELP``): 0 fine, 1 some feature critical (``check`` as a CI gate),
2 configuration or usage error, 3 a monitor or a feature could not be run or scored.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TextIO

from driftmon import __version__
from driftmon.clock import as_utc, utcnow
from driftmon.config import Config, LiveOptions, MonitorConfig, load_config
from driftmon.core.status import Status
from driftmon.errors import (
    ConfigError,
    DriftmonError,
    PermanentStorageError,
    SourceError,
    StorageError,
)
from driftmon.logs import configure
from driftmon.results import RunResult
from driftmon.secrets import mask_url, scrub
from driftmon.service.empty_windows import latest_window_problem
from driftmon.service.runner import MonitorRunner
from driftmon.sources.base import column_list
from driftmon.sources.factory import source_from_config
from driftmon.storage import Store
from driftmon.storage.migrate import describe_revision

EXIT_OK, EXIT_CRITICAL, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3
SUPERVISE_SECONDS = 1.0
"""How often ``driftmon run`` checks that its scheduler still runs jobs."""
CONFIG_ENV = "DRIFTMON_CONFIG"

EXIT_CODES_HELP = """\
exit codes:
  0  success
  1  check: every feature was scored and some feature is critical
  2  configuration or usage error; validate: also a configured column that a
     source does not have
  3  something could not run (a source or the results database unavailable,
     the server port taken); check: also a feature that could not be scored
     (status error), which wins over 1
"""
CHECK_EXIT_CODES_HELP = """\
exit codes (3 before 1 before 0):
  0  no feature of the selected monitors is in error or critical
     (insufficient_data is neither)
  1  every feature was scored and some feature is critical
  2  configuration or usage error: nothing was run
  3  a monitor could not run (a source or the results database unavailable),
     or some configured feature of it could not be scored (status error),
     even when other features were scored
"""
VALIDATE_EXIT_CODES_HELP = """\
exit codes (2 before 3 before 0):
  0  the configuration is valid and every source has every configured column
  2  a configuration problem: an invalid file, or a configured column that a
     source does not have
  3  a source could not be opened or read
"""

log = logging.getLogger("driftmon.cli")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 on usage errors, as we want
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="driftmon",
        description="Data-drift monitor: KL(live||reference) per feature.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"driftmon {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def with_config(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument(
            "-c",
            "--config",
            default=os.environ.get(CONFIG_ENV),
            help=f"YAML configuration file (default: ${CONFIG_ENV})",
        )
        return sp

    run = with_config(sub.add_parser("run", help="run the daemon: scheduler + /metrics server"))
    run.add_argument(
        "--no-upgrade", action="store_true", help="do not apply database migrations on start"
    )

    check = with_config(
        sub.add_parser(
            "check",
            help="run monitors once now and store results",
            epilog=CHECK_EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    check.add_argument("--monitor", action="append", help="only this monitor (repeatable)")
    check.add_argument("--json", action="store_true", help="print a JSON array of runs")
    check.add_argument(
        "--window-end", type=_parse_time, help="end of the live window (ISO 8601, default: now)"
    )

    with_config(
        sub.add_parser(
            "validate",
            help="check the configuration and its sources",
            epilog=VALIDATE_EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )

    db = sub.add_parser("db", help="results database").add_subparsers(
        dest="db_command", required=True, parser_class=_Parser
    )
    with_config(db.add_parser("upgrade", help="apply migrations up to the latest schema"))

    ref = sub.add_parser("reference", help="reference profiles").add_subparsers(
        dest="ref_command", required=True, parser_class=_Parser
    )
    rebuild = with_config(ref.add_parser("rebuild", help="rebuild reference profiles now"))
    rebuild.add_argument("--monitor", action="append", help="only this monitor (repeatable)")
    return p


def _parse_time(text: str) -> datetime:
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        sys.stderr.close()
        return EXIT_OK
    except Exception:
        # A bug. Python would exit 1, which a CI gate reads as "critical drift".
        print(scrub(traceback.format_exc()), file=sys.stderr, end="")
        print(
            "driftmon: internal error (a bug: please report it with the traceback above)",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if not args.config:
        print(
            f"driftmon: error: no configuration: pass -c CONFIG or set {CONFIG_ENV}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"driftmon: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure(config.log.level, config.log.format)
    try:
        if args.command == "run":
            return _run(config, upgrade=not args.no_upgrade)
        if args.command == "check":
            return _check(config, args.monitor, args.json, args.window_end)
        if args.command == "validate":
            return _validate(config)
        if args.command == "db":
            return _upgrade(config)
        if args.command == "reference":
            return _rebuild(config, args.monitor)
    except ConfigError as exc:
        print(f"driftmon: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PermanentStorageError as exc:  # not an outage: the same write fails every time
        print(f"driftmon: the results database refused the data: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except StorageError as exc:
        print(f"driftmon: results database unavailable: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except SourceError as exc:
        print(f"driftmon: source unavailable: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    raise AssertionError(f"unhandled command {args.command}")  # argparse guarantees one


def _store(config: Config) -> Store:
    db = config.database
    return Store(
        db.url,
        echo=db.echo,
        connect_timeout=db.connect_timeout.total_seconds(),
        statement_timeout=db.statement_timeout.total_seconds() if db.statement_timeout else None,
    )


def _selected(config: Config, names: list[str] | None) -> list[MonitorConfig]:
    if not names:
        return [m for m in config.monitors if m.enabled]
    return [config.monitor(n) for n in names]


class _Progress:
    """Row counts on a terminal's stderr, at most a few times a second; silent otherwise."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._last = 0.0
        self._shown = False

    def __call__(self, stage: str, rows: int) -> None:
        now = time.monotonic()
        if not self._tty or now - self._last < 0.2:
            return
        self._last = now
        self._shown = True
        self._stream.write(f"\r\033[K{stage}: {rows:,} rows")
        self._stream.flush()

    def done(self) -> None:
        if self._shown:
            self._stream.write("\r\033[K")
            self._stream.flush()
            self._shown = False


def _check(config: Config, names: list[str] | None, as_json: bool, end: datetime | None) -> int:
    monitors = _selected(config, names)
    store = _store(config)
    store.upgrade()
    progress = _Progress()
    runner = MonitorRunner(config, store, progress=progress)
    results: list[RunResult] = []
    try:
        for monitor in monitors:
            results.append(runner.run(monitor, end))
            progress.done()
    finally:
        store.dispose()
    if as_json:
        print(json.dumps([r.as_json() for r in results], indent=2, allow_nan=False))
    else:
        for r in results:
            print(format_run(r))
    return check_exit_code(results)


def check_exit_code(results: Sequence[RunResult]) -> int:
    """3 when a run or any feature of it is in error, else 1 when a feature is critical, else 0.

    A feature that could not be scored must never pass the gate, whatever the others show.
    """
    if any(r.status == Status.ERROR for r in results) or any(
        f.status == Status.ERROR for r in results for f in r.features
    ):
        return EXIT_UNAVAILABLE
    if any(f.status == Status.CRITICAL for r in results for f in r.features):
        return EXIT_CRITICAL
    return EXIT_OK


def _fmt(x: float | None, spec: str = ".4f") -> str:
    return "-" if x is None else format(x, spec)


def format_run(r: RunResult) -> str:
    """A readable table of one run, one line per feature."""
    window = (
        f"[{r.window_start.isoformat()}, {r.window_end.isoformat()})"
        if r.window_start
        else f"up to {r.window_end.isoformat()}"
    )
    # Features that could not be scored come first: they must not hide below a long table.
    features = sorted(r.features, key=lambda f: f.status != Status.ERROR)
    unscored = sum(f.status == Status.ERROR for f in features)
    status = r.status.value.upper()
    if unscored:
        status += f", {unscored} of {len(features)} features could not be scored"
    lines = [
        f"monitor {r.monitor!r}  window {window}  status {status}  "
        f"live rows {r.live_rows:,}  reference rows {r.reference_rows:,}"
    ]
    if r.error:
        lines.append(f"  error: {r.error}")
    if r.message:
        lines.append(f"  note: {r.message}")
    if features:
        header = ("feature", "status", "KL", "warn", "crit", "p-value", "JS", "PSI", "missing")
        rows = [header]
        for f in features:
            s = f.scores
            rows.append(
                (
                    f.feature,
                    f.status.value,
                    _fmt(s.kl_divergence if s else None),
                    _fmt(f.thresholds.warning, "g"),
                    _fmt(f.thresholds.critical, "g"),
                    _fmt(s.p_value if s else None, ".3g"),
                    _fmt(s.js_divergence if s else None),
                    _fmt(s.psi if s else None),
                    f"{f.missing_ratio:.1%}",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for row in rows:
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        for f in features:
            note = f"could not be scored: {f.message}" if f.status == Status.ERROR else f.message
            if note:
                lines.append(f"  {f.feature}: {note}")
    return "\n".join(lines) + "\n"


class ProblemKind(StrEnum):
    """What ``validate`` found; listed in the order in which they decide the exit code."""

    CONFIGURATION = "configuration"
    """The configuration must change: an invalid value, a configured column a source lacks."""
    SOURCE = "source"
    """A source could not be opened or read; the configuration may be right."""


_PROBLEM_EXIT = {ProblemKind.CONFIGURATION: EXIT_USAGE, ProblemKind.SOURCE: EXIT_UNAVAILABLE}


@dataclass(frozen=True)
class Problem:
    """One thing ``validate`` found wrong; ``message`` leads with the problem."""

    kind: ProblemKind
    message: str


def _validate(config: Config) -> int:
    problems: list[Problem] = []
    for monitor in config.monitors:
        problems += _source_problems(config, monitor)
    for problem in problems:
        print(f"{problem.kind} problem: {problem.message}")
    counts = Counter(p.kind for p in problems)
    if not problems:
        print(
            f"{config.path}: configuration valid; {len(config.monitors)} monitor(s); "
            "0 source problem(s)"
        )
        return EXIT_OK
    verdict = "invalid" if counts[ProblemKind.CONFIGURATION] else "valid"
    tally = "; ".join(f"{counts[k]} {k} problem(s)" for k in ProblemKind if counts[k])
    print(f"{config.path}: configuration {verdict}; {len(config.monitors)} monitor(s); {tally}")
    # The first kind found, in the order ProblemKind lists them, gives the exit code.
    return next(_PROBLEM_EXIT[k] for k in ProblemKind if counts[k])


def _source_problems(config: Config, monitor: MonitorConfig) -> list[Problem]:
    """Each source of ``monitor`` opens and has every column the configuration names."""
    problems: list[Problem] = []
    for role, cfg in (("reference", monitor.reference), ("live", monitor.live)):
        try:
            source = source_from_config(cfg, monitor)
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
    """The latest scheduled window of a windowed live source has rows, or says why not."""
    try:
        empty = latest_window_problem(monitor, utcnow())
    except DriftmonError as exc:
        empty = f"reading its latest scheduled window: {exc}"
    if empty is None:
        return []
    return [Problem(ProblemKind.SOURCE, f"monitor {monitor.name!r}: live source: {empty}")]


def _upgrade(config: Config) -> int:
    before, after = _store(config).upgrade()
    url = mask_url(config.database.url)
    if before == after:
        print(f"database {url} is already at {describe_revision(after)}")
    elif before is None:
        print(f"upgraded empty database {url} to {describe_revision(after)}")
    else:
        print(f"upgraded database {url} from revision {before} to {describe_revision(after)}")
    return EXIT_OK


def _rebuild(config: Config, names: list[str] | None) -> int:
    store = _store(config)
    store.upgrade()
    progress = _Progress()
    runner = MonitorRunner(config, store, progress=progress)
    status = EXIT_OK
    try:
        for monitor in _selected(config, names):
            try:
                profile = runner.reference_profile(monitor, rebuild=True)
            except SourceError as exc:
                progress.done()
                print(f"monitor {monitor.name!r}: {exc}", file=sys.stderr)
                status = EXIT_UNAVAILABLE
                continue
            progress.done()
            errors = profile.metadata.get("feature_errors", {})
            print(
                f"monitor {monitor.name!r}: reference profile rebuilt from {profile.rows:,} "
                f"rows, {len(profile.features)} feature(s)"
            )
            for feature, message in errors.items():
                print(f"  {feature}: {message}")
    finally:
        store.dispose()
    return status


def _run(config: Config, *, upgrade: bool) -> int:
    from driftmon.service.daemon import Daemon

    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        log.info("daemon.signal", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    daemon = Daemon(config, _store(config), upgrade=upgrade)
    try:
        daemon.start()
    except OSError as exc:
        print(
            f"driftmon: cannot listen on {config.server.host}:{config.server.port}: {exc}",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE
    status = EXIT_OK
    while not stop.wait(SUPERVISE_SECONDS):
        failure = daemon.failure()
        if failure is not None:
            # Idling with no monitor running would look healthy to a process supervisor.
            log.critical("daemon.scheduler_failed", extra={"error": failure})
            status = EXIT_UNAVAILABLE
            break
    daemon.stop()
    if daemon.runner.abandon.is_set():
        # A run outlived the shutdown grace. One stuck inside a driver call (a statement
        # that never returns) would hold the interpreter at exit, where concurrent.futures
        # joins its worker threads; nothing of it can be stored any more, so leave now.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
