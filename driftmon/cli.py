"""The ``driftmon`` command line: run, check, validate, db upgrade, reference rebuild.

Exit codes: 0 fine (nothing critical), 1 some feature critical (``check`` as a CI gate),
2 configuration or usage error, 3 a monitor could not run (source or database unreachable).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

# Only light modules at the top: `driftmon --version` and `--help` must not pay for pandas,
# scipy, SQLAlchemy, Alembic or APScheduler (nor even typing and datetime, a few ms each).
# Each command imports what it uses when it runs (tests/test_startup.py pins these
# boundaries; benchmarks/bench_startup.py times them).
from driftmon import __version__
from driftmon.errors import ConfigError, DriftmonError, SourceError, StorageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any, TextIO

    from driftmon.config import Config, MonitorConfig
    from driftmon.results import RunResult
    from driftmon.storage import Store

EXIT_OK, EXIT_CRITICAL, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3
CONFIG_ENV = "DRIFTMON_CONFIG"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 on usage errors, as we want
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="driftmon", description="Data-drift monitor: KL(live||reference) per feature.")
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

    check = with_config(sub.add_parser("check", help="run monitors once now and store results"))
    check.add_argument("--monitor", action="append", help="only this monitor (repeatable)")
    check.add_argument("--json", action="store_true", help="print a JSON array of runs")
    check.add_argument(
        "--window-end", type=_parse_time, help="end of the live window (ISO 8601, default: now)"
    )

    with_config(sub.add_parser("validate", help="check the configuration and its sources"))

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
        import traceback

        from driftmon.secrets import scrub

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
    from driftmon.config import load_config
    from driftmon.logs import configure
    from driftmon.secrets import mask_url

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
            _store(config).upgrade()
            print(f"database {mask_url(config.database.url)} is at the latest schema")
            return EXIT_OK
        if args.command == "reference":
            return _rebuild(config, args.monitor)
    except ConfigError as exc:
        print(f"driftmon: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StorageError as exc:
        print(f"driftmon: results database unavailable: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except SourceError as exc:
        print(f"driftmon: source unavailable: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    raise AssertionError(f"unhandled command {args.command}")  # argparse guarantees one


def _store(config: Config) -> Store:
    from driftmon.storage import Store

    return Store(config.database.url, echo=config.database.echo)


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
    import json

    from driftmon.core.status import Status
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
    finally:
        store.dispose()
    if as_json:
        print(json.dumps([r.as_json() for r in results], indent=2, allow_nan=False))
    else:
        for r in results:
            print(format_run(r))
    if any(r.status == Status.ERROR for r in results):
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
    lines = [
        f"monitor {r.monitor!r}  window {window}  status {r.status.value.upper()}  "
        f"live rows {r.live_rows:,}  reference rows {r.reference_rows:,}"
    ]
    if r.error:
        lines.append(f"  error: {r.error}")
    if r.features:
        header = ("feature", "status", "KL", "warn", "crit", "p-value", "JS", "PSI", "missing")
        rows = [header]
        for f in r.features:
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
        for f in r.features:
            if f.message:
                lines.append(f"  {f.feature}: {f.message}")
    return "\n".join(lines) + "\n"


def _validate(config: Config) -> int:
    from driftmon.sources.factory import source_from_config

    problems = 0
    for monitor in config.monitors:
        for role, cfg in (("reference", monitor.reference), ("live", monitor.live)):
            try:
                source = source_from_config(cfg, monitor)
                present = set(source.columns())
            except DriftmonError as exc:
                print(f"monitor {monitor.name!r}: {role} source: {exc}")
                problems += 1
                continue
            for f in monitor.features:
                if f.source_column not in present:
                    print(
                        f"monitor {monitor.name!r}: feature {f.name!r}: column "
                        f"{f.source_column!r} not in {role} source {source.describe()}"
                    )
                    problems += 1
    print(
        f"{config.path}: configuration valid; {len(config.monitors)} monitor(s); "
        f"{problems} source problem(s)"
    )
    return EXIT_UNAVAILABLE if problems else EXIT_OK


def _rebuild(config: Config, names: list[str] | None) -> int:
    from driftmon.service.runner import MonitorRunner

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
    import logging
    import signal
    import threading

    from driftmon.service.daemon import Daemon

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
    except OSError as exc:
        print(
            f"driftmon: cannot listen on {config.server.host}:{config.server.port}: {exc}",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE
    while not stop.wait(1.0):
        pass
    daemon.stop()
    if daemon.runner.abandon.is_set():
        # A run outlived the shutdown grace. One stuck inside a driver call (a statement
        # that never returns) would hold the interpreter at exit, where concurrent.futures
        # joins its worker threads; nothing of it can be stored any more, so leave now.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_OK)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
