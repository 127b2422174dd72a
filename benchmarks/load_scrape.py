"""A bounded loopback load generator for ``/metrics``, and latency statistics.

``scrapers`` threads each send GET requests one after the other (a new connection per
request: the daemon speaks HTTP/1.0) until ``seconds`` have passed or ``max_requests``
were sent in all. Each latency runs from sending the request to the last body byte.
Like Prometheus, the scrapers accept gzip; bodies are counted, not decompressed.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np


@dataclass
class ScrapeStats:
    """Latencies (seconds) of finished requests, errors, bytes and the elapsed time."""

    latencies: list[float] = field(default_factory=list)
    started: list[float] = field(default_factory=list)
    """Start of each request, seconds after the load began (same order as latencies)."""
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    body_bytes: int = 0
    elapsed: float = 0.0

    def summary(self) -> dict[str, Any]:
        lat = np.array(self.latencies) * 1000.0
        out: dict[str, Any] = {
            "requests": len(self.latencies),
            "errors": self.errors,
            "requests_per_s": len(self.latencies) / self.elapsed if self.elapsed else 0.0,
            "mean_body_kib": self.body_bytes / max(1, len(self.latencies)) / 1024,
        }
        if lat.size:
            p50, p90, p99 = np.percentile(lat, [50, 90, 99])
            out |= {
                "p50_ms": p50,
                "p90_ms": p90,
                "p99_ms": p99,
                "max_ms": float(lat.max()),
                "mean_ms": float(lat.mean()),
                "over_250ms": int((lat > 250).sum()),
            }
        if self.error_examples:
            out["error_examples"] = self.error_examples[:3]
        return out


def scrape(
    base_url: str,
    *,
    scrapers: int,
    seconds: float,
    max_requests: int,
    path: str = "/metrics",
    gzip: bool = True,
    timeout: float = 30.0,
) -> ScrapeStats:
    """Run the load and return what was measured; only loopback addresses are accepted."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "", parts.port or 80
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"the load generator only targets loopback, not {host!r}")
    headers = {"Accept-Encoding": "gzip"} if gzip else {}
    stats = ScrapeStats()
    lock = threading.Lock()
    sent = 0
    t_begin = time.perf_counter()
    deadline = t_begin + seconds

    def worker() -> None:
        nonlocal sent
        while time.perf_counter() < deadline:
            with lock:
                if sent >= max_requests:
                    return
                sent += 1
            t0 = time.perf_counter()
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
            try:
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                ok = resp.status == 200
                reason = f"HTTP {resp.status}"
            except OSError as exc:
                ok, body, reason = False, b"", f"{type(exc).__name__}: {exc}"
            finally:
                conn.close()
            t1 = time.perf_counter()
            with lock:
                if ok:
                    stats.latencies.append(t1 - t0)
                    stats.started.append(t0 - t_begin)
                    stats.body_bytes += len(body)
                else:
                    stats.errors += 1
                    if len(stats.error_examples) < 3:
                        stats.error_examples.append(reason)

    threads = [
        threading.Thread(target=worker, name=f"scraper-{i}", daemon=True) for i in range(scrapers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + timeout + 5)
    stats.elapsed = time.perf_counter() - t_begin
    return stats


def percentiles(values_s: list[float], qs: tuple[float, ...] = (50, 90, 99)) -> dict[str, float]:
    """Percentiles and max of durations given in seconds (keys p50, p90, p99, max)."""
    if not values_s:
        return {}
    arr = np.array(values_s)
    out = {f"p{q:g}": float(v) for q, v in zip(qs, np.percentile(arr, qs), strict=True)}
    out["max"] = float(arr.max())
    out["min"] = float(arr.min())
    return out
