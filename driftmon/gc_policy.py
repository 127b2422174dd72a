"""How the ``driftmon`` program uses CPython's cyclic garbage collector.

Starting a command creates about 100,000 objects that live until the process ends (modules,
classes, the internals of pandas, SQLAlchemy and pydantic) and under a thousand garbage ones.
CPython's collector scans the survivors again and again while they are created, and again at
exit: about 0.1 s of ``driftmon check``'s start-up and 0.2 s of its exit on a 2-vCPU machine
(benchmarks/README.md, "Start-up"). So the program pauses the collector while a command loads
its modules and configuration, then freezes every object so far (``gc.freeze``: never scanned
again, never collected) and resumes it: the command's own garbage is collected as usual.
Before exiting it freezes the rest, so interpreter shutdown has nothing to scan (objects are
still freed by reference counting; only cycles are left to the operating system, as
``os._exit`` would leave everything).

Only the program does this (``driftmon.cli.console_main``); code that calls
``driftmon.cli.main`` in its own process keeps its collector as it was.
"""

from __future__ import annotations

import gc


def pause() -> bool:
    """Stop automatic collections; returns whether they were on (for ``freeze_and_resume``)."""
    enabled = gc.isenabled()
    gc.disable()
    return enabled


def freeze_and_resume(enabled: bool) -> None:
    """Freeze every object created so far, then turn automatic collections back on if they were."""
    gc.freeze()
    if enabled:
        gc.enable()


def before_exit() -> None:
    """Freeze every object, so the collections of interpreter shutdown find nothing to scan."""
    gc.freeze()
