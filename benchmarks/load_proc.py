"""Process and machine counters from /proc for ``bench_load.py`` (Linux only)."""

from __future__ import annotations

import os
from pathlib import Path


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS, VmHWM (peak) and friends of a process, in kB, from /proc/PID/status."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key.startswith("Vm"):
                    out[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def mib(kb: float) -> float:
    return kb / 1024


def cpu_busy_s() -> float:
    """CPU seconds spent by the whole machine (all cores, not idle or iowait) since boot."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int | str = "self") -> float:
    """User + system CPU seconds of one process (all its threads)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_children(pid: int) -> list[int]:
    """``pid`` and its descendants (the daemon's scoring processes), from /proc."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:
                continue
    return found


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and of its live descendants."""
    return sum(proc_cpu_s(p) for p in with_children(pid))


def tree_rss_kb(pid: int) -> int | None:
    """VmRSS of a process plus its live descendants', in kB (None once it is gone)."""
    rss = [proc_status(p).get("VmRSS") for p in with_children(pid)]
    return sum(r for r in rss if r is not None) if rss and rss[0] is not None else None


class CpuShare:
    """CPU seconds used by the daemon (with its scoring processes), by this process and by
    everything else over a span."""

    def __init__(self, daemon_pid: int) -> None:
        self.pid = daemon_pid
        self.start = (cpu_busy_s(), tree_cpu_s(daemon_pid), proc_cpu_s())

    def result(self, wall_s: float) -> dict[str, float]:
        total, daemon, me = (
            b - a
            for a, b in zip(
                self.start, (cpu_busy_s(), tree_cpu_s(self.pid), proc_cpu_s()), strict=True
            )
        )
        return {
            "cores_busy": total / wall_s,
            "daemon_cores": daemon / wall_s,
            "load_generator_cores": me / wall_s,
            "other_processes_cores": max(0.0, total - daemon - me) / wall_s,
        }


def listen_overflows() -> dict[str, int]:
    """System-wide TcpExt ListenOverflows/ListenDrops: SYNs dropped on a full accept queue."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for head, values in zip(lines[::2], lines[1::2], strict=False):
        if head.startswith("TcpExt:"):
            pairs = zip(head.split()[1:], values.split()[1:], strict=True)
            return {k: int(v) for k, v in pairs if k in ("ListenOverflows", "ListenDrops")}
    return {}
