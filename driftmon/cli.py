"""The ``driftmon`` command line: run, check, report, validate, db upgrade, reference rebuild.

Exit codes (``EXIT_CODES_HELP``): 0 fine, 1 some feature critical (``check`` as a CI gate),
2 configuration or usage error, 3 a monitor or a feature could not be run or scored.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Sequence

# Only light modules at the top: `driftmon --version` and `--help` must not pay for pandas,
# scipy, SQLAlchemy, Alembic or APScheduler (nor even typing and datetime, a few ms each).
# Each command imports what it uses when it runs (tests/test_startup.py pins these
# boundaries; benchmarks/bench_startup.py times them).
from driftmon import __version__, gc_policy
from driftmon.errors import ConfigError, PermanentStorageError, SourceError, StorageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any, NoReturn, TextIO

    from driftmon.config import Config, MonitorConfig
    from driftmon.render import MonitorReport
    from driftmon.results import RunResult
    from driftmon.storage import Store

EXIT_OK, EXIT_CRITICAL, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3
SUPERVISE_SECONDS = 1.0
"""How often ``driftmon run`` checks that its scheduler still runs jobs."""
CONFIG_ENV = "DRIFTMON_CONFIG"
_COMMAND_MODULES = {
    "run": "driftmon.service.daemon",
    "check": "driftmon.service.runner",
    "report": "driftmon.service.reports",
    "validate": "driftmon.service.validation",
    "db": "driftmon.storage",
    "reference": "driftmon.service.runner",
}
"""The modules each command works with, imported with its configuration (see ``_main``)."""

EXIT_CODES_HELP = """\
exit codes:
  0  success
  1  check: every feature was scored and some feature is critical
  2  configuration or usage error; validate: also a configured column that a
     source does not have
  3  something could not run (a source or the results database unavailable,
     the server port taken); check: also a feature that could not be scored
     (status error), which wins over 1; report: also a selected monitor with
     no stored run (the file is still written)
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
REPORT_EXIT_CODES_HELP = """\
exit codes:
  0  the report was written, with a run for every selected monitor
  2  configuration or usage error (an unknown monitor): nothing was written
  3  the results database is unavailable (nothing written), or some selected
     monitor has no stored run (at --window-end): the report was written and
     says so for that monitor
"""
VALIDATE_EXIT_CODES_HELP = """\
exit codes (2 before 3 before 0):
  0  the configuration is valid and every source has every configured column
  2  a configuration problem: an invalid file, or a configured column that a
     source does not have
  3  a source could not be opened or read, or the spool folder (database.spool.path)
     cannot be created or written
"""


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
    check.add_argument(
        "--html", metavar="FILE", help="also write the HTML report of these runs to FILE"
    )
    check.add_argument(
        "--from",
        dest="from_time",
        metavar="TIME",
        type=_parse_time,
        help="backfill: score every scheduled window ending from TIME (ISO 8601) ...",
    )
    check.add_argument(
        "--to",
        dest="to_time",
        metavar="TIME",
        type=_parse_time,
        help="... to TIME (included), in one process; stored windows are skipped",
    )
    check.add_argument(
        "--replace",
        action="store_true",
        help="backfill: score windows that already have a stored run again, replacing it",
    )
    check.set_defaults(command_parser=check)  # for usage errors found after parsing

    report = with_config(
        sub.add_parser(
            "report",
            help="write a self-contained HTML report of stored runs",
            epilog=REPORT_EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    report.add_argument("--monitor", action="append", help="only this monitor (repeatable)")
    report.add_argument(
        "--window-end",
        type=_parse_time,
        help="show the run whose window ends at TIME (ISO 8601; default: the latest run)",
    )
    report.add_argument("-o", "--output", required=True, help="the HTML file to write")

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
    from datetime import datetime

    from driftmon.clock import as_utc

    try:
        when = as_utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    # A window (at most 100 years long) must fit between it and datetime's own limits.
    if not _EARLIEST_WINDOW_END_YEAR <= when.year <= _LATEST_WINDOW_END_YEAR:
        raise argparse.ArgumentTypeError(
            f"a window end between the years {_EARLIEST_WINDOW_END_YEAR} and "
            f"{_LATEST_WINDOW_END_YEAR} is needed, got {text!r}"
        )
    return when


_EARLIEST_WINDOW_END_YEAR, _LATEST_WINDOW_END_YEAR = 1900, 9000


def console_main() -> NoReturn:
    """The ``driftmon`` program (``[project.scripts]``): ``main`` with the garbage-collector
    policy of a process that ends with its command (``driftmon.gc_policy``)."""
    code = main(program=True)
    gc_policy.before_exit()
    sys.exit(code)


def main(argv: Sequence[str] | None = None, *, program: bool = False) -> int:
    """Run one command; ``program`` only for ``console_main`` (see ``driftmon.gc_policy``)."""
    try:
        return _main(argv, program)
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        sys.stderr.close()
        return EXIT_OK
    except Exception:
        import traceback

        from driftmon.secrets import scrub

        # A bug. Python would exit 1, which a CI gate reads as "critical drift".
        print(scrub(traceback.format_exc()), file=sys.stderr, end="")
        print(
            "driftmon: internal error (a bug: please report it with the traceback above)",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE


def _main(argv: Sequence[str] | None, program: bool) -> int:
    args = build_parser().parse_args(argv)
    backfilling = args.command == "check" and _backfill_args(args.command_parser, args)
    if not args.config:
        print(
            f"driftmon: error: no configuration: pass -c CONFIG or set {CONFIG_ENV}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    # Most of start-up's objects come from here: the configuration and the command's modules.
    collecting = gc_policy.pause() if program else None
    try:
        config = _load(args.config)
        if config is None:
            return EXIT_USAGE
        importlib.import_module(_COMMAND_MODULES[args.command])
    finally:
        if collecting is not None:
            gc_policy.freeze_and_resume(collecting)
    try:
        if args.command == "run":
            return _run(config, upgrade=not args.no_upgrade)
        if args.command == "check" and backfilling:
            window = (args.from_time, args.to_time)
            return _backfill(config, args.monitor, args.json, *window, args.replace, args.html)
        if args.command == "check":
            return _check(config, args.monitor, args.json, args.window_end, args.html)
        if args.command == "report":
            return _report(config, args.monitor, args.window_end, args.output)
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


def _backfill_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> bool:
    """Whether ``check`` backfills (``--from``/``--to``); a usage error (exit 2) for a
    half-given or reversed range, or options that do not go with it."""
    start, end = args.from_time, args.to_time
    if start is None and end is None:
        if args.replace:
            parser.error("--replace applies to a backfill: give --from and --to")
        return False
    if start is None or end is None:
        parser.error("a backfill needs both --from and --to")
    if start > end:
        parser.error(
            f"--from {start.isoformat()} is after --to {end.isoformat()}: nothing to backfill"
        )
    if args.window_end is not None:
        parser.error("--window-end scores one window; a backfill (--from/--to) scores a range")
    return True


def _load(path: str) -> Config | None:
    """The configuration, with logging configured from it; None after printing why not."""
    from driftmon.config import load_config
    from driftmon.logs import configure

    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"driftmon: configuration error: {exc}", file=sys.stderr)
        return None
    configure(config.log.level, config.log.format)
    return config


def _store(config: Config) -> Store:
    from driftmon.storage import Store

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


def _check(
    config: Config,
    names: list[str] | None,
    as_json: bool,
    end: datetime | None,
    html: str | None = None,
) -> int:
    import json

    from driftmon.service.runner import MonitorRunner

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
        reports = []
        if html is not None:
            from driftmon.service.reports import monitor_report

            reports = [monitor_report(store, m, r) for m, r in zip(monitors, results, strict=True)]
    finally:
        store.dispose()
    if as_json:
        print(json.dumps([r.as_json() for r in results], indent=2, allow_nan=False))
    else:
        for r in results:
            print(format_run(r))
    if html is not None and not _write_report(html, reports):
        return EXIT_USAGE
    return check_exit_code(results)


class _WindowProgress(_Progress):
    """A bar of windows scored, with the current window's row count, on a terminal."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        super().__init__(stream)
        self._total = total
        self._done = 0
        self._window = ""

    def start(self, monitor: str, end: datetime) -> None:
        self._window = f"{monitor} {end.isoformat()}"
        self._draw("", force=True)

    def __call__(self, stage: str, rows: int) -> None:
        self._draw(f"  {stage.rpartition(': ')[2]}: {rows:,} rows")

    def window_done(self) -> None:
        self._done += 1
        self._draw("", force=True)

    def _draw(self, detail: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not self._tty or (not force and now - self._last < 0.2):
            return
        self._last = now
        self._shown = True
        width = 24
        filled = width * self._done // self._total if self._total else width
        bar = "#" * filled + "-" * (width - filled)
        line = f"[{bar}] {self._done}/{self._total} windows  {self._window}{detail}"
        self._stream.write(f"\r\033[K{line}")
        self._stream.flush()


def _backfill(
    config: Config,
    names: list[str] | None,
    as_json: bool,
    first: datetime,
    last: datetime,
    replace: bool,
    html: str | None,
) -> int:
    """Score every scheduled window ending in ``[first, last]`` of each selected monitor,
    skipping stored ones unless ``replace``; output and exit code as for ``check``."""
    import json

    from driftmon.service.backfill import plan
    from driftmon.service.runner import MonitorRunner

    monitors = _selected(config, names)
    store = _store(config)
    store.upgrade()
    results: list[RunResult] = []
    try:
        plans = [plan(store, m, first, last, replace=replace) for m in monitors]
        progress = _WindowProgress(sum(len(p.window_ends) for p in plans))
        runner = MonitorRunner(config, store, progress=progress, pin_profiles=True)
        for p in plans:
            for end in p.window_ends:
                progress.start(p.monitor.name, end)
                results.append(runner.run(p.monitor, end))
                progress.window_done()
        progress.done()
        reports = []
        if html is not None:
            from driftmon.service.reports import monitor_report

            by_name = {m.name: m for m in monitors}
            reports = [monitor_report(store, by_name[r.monitor], r) for r in results]
    finally:
        store.dispose()
    if as_json:
        print(json.dumps([r.as_json() for r in results], indent=2, allow_nan=False))
    else:
        for r in results:
            print(format_run(r))
    for p in plans:
        skipped = (
            f", {p.skipped} already stored (skipped; --replace scores them again)"
            if p.skipped
            else ""
        )
        print(
            f"backfill: monitor {p.monitor.name!r}: {len(p.window_ends)} window(s) scored "
            f"from {first.isoformat()} to {last.isoformat()}{skipped}",
            file=sys.stderr,
        )
    if html is not None and not _write_report(html, reports):
        return EXIT_USAGE
    return check_exit_code(results)


def _report(config: Config, names: list[str] | None, end: datetime | None, output: str) -> int:
    """Write the HTML report of each selected monitor's latest run (or the one ending at
    ``end``); 3 when some monitor has none (the file still says so), else 0."""
    from driftmon.service.reports import NO_RUN_YET, monitor_report

    monitors = _selected(config, names)
    store = _store(config)
    try:
        # A database driftmon never wrote to (no tables yet) holds no run, like an empty one.
        fresh = store.current_revision() is None
        reports = []
        for m in monitors:
            if fresh:
                run = None
            elif end is None:
                latest = store.runs(m.name, limit=1)
                run = latest[0] if latest else None
            else:
                run = store.run_ending(m.name, end)
            reason = (
                NO_RUN_YET
                if end is None
                else f"No stored run of this monitor ends at {end.isoformat()}."
            )
            reports.append(monitor_report(store, m, run, missing_reason=reason))
    finally:
        store.dispose()
    if not _write_report(output, reports):
        return EXIT_USAGE
    missing = [r.monitor for r in reports if r.run is None]
    for name in missing:
        at = f" ending at {end.isoformat()}" if end else ""
        print(f"driftmon: monitor {name!r} has no stored run{at}", file=sys.stderr)
    print(f"wrote {output}: {len(reports) - len(missing)} of {len(reports)} monitor(s) with a run")
    return EXIT_UNAVAILABLE if missing else EXIT_OK


def _write_report(path: str, reports: Sequence[MonitorReport]) -> bool:
    """Write the report file; False (said on stderr) when it cannot be written."""
    from driftmon.render import render_report

    html = render_report(reports)
    try:
        with open(path, "w", encoding="utf-8") as out:
            out.write(html)
    except OSError as exc:
        print(f"driftmon: cannot write the report to {path!r}: {exc}", file=sys.stderr)
        return False
    return True


def check_exit_code(results: Sequence[RunResult]) -> int:
    """3 when a run or any feature of it is in error, else 1 when a feature is critical, else 0.

    A feature that could not be scored must never pass the gate, whatever the others show.
    """
    from driftmon.core.status import Status

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
    from driftmon.core.status import Status

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


def _validate(config: Config) -> int:
    """Print each problem ``validate`` finds, then a summary; the exit code by their kinds."""
    from collections import Counter

    from driftmon.service.validation import PROBLEM_KINDS, ProblemKind, find_problems

    problems = find_problems(config)
    for problem in problems:
        print(f"{problem.kind} problem: {problem.message}")
    if not problems:
        print(
            f"{config.path}: configuration valid; {len(config.monitors)} monitor(s); "
            "0 source problem(s)"
        )
        return EXIT_OK
    counts = Counter(p.kind for p in problems)
    verdict = "invalid" if counts[ProblemKind.CONFIGURATION] else "valid"
    tally = "; ".join(f"{counts[k]} {k} problem(s)" for k in PROBLEM_KINDS if counts[k])
    print(f"{config.path}: configuration {verdict}; {len(config.monitors)} monitor(s); {tally}")
    # The first kind found, in the order PROBLEM_KINDS lists them, gives the exit code.
    return next(_PROBLEM_EXIT[k] for k in PROBLEM_KINDS if counts[k])


_PROBLEM_EXIT = {"configuration": EXIT_USAGE, "source": EXIT_UNAVAILABLE, "spool": EXIT_UNAVAILABLE}


def _upgrade(config: Config) -> int:
    from driftmon.secrets import mask_url
    from driftmon.storage.migrate import describe_revision

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
    from driftmon.clock import utcnow
    from driftmon.service.runner import MonitorRunner
    from driftmon.service.window_end import scheduled_window_end

    store = _store(config)
    store.upgrade()
    progress = _Progress()
    runner = MonitorRunner(config, store, progress=progress)
    status = EXIT_OK
    try:
        for monitor in _selected(config, names):
            # A rolling reference: the reference window of the latest scheduled window.
            rolling = monitor.rolling is not None
            end = scheduled_window_end(monitor.schedule, utcnow()) if rolling else None
            try:
                profile = runner.reference_profile(monitor, rebuild=True, window_end=end)
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
    import logging
    import signal
    import threading

    from driftmon.service.daemon import Daemon
    from driftmon.spool import SpoolError

    log = logging.getLogger("driftmon.cli")
    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        log.info("daemon.signal", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    daemon = Daemon(config, _store(config), upgrade=upgrade)
    try:
        daemon.start()
    except SpoolError as exc:
        print(f"driftmon: database.spool.path: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
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
    console_main()
