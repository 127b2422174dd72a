"""The HTTP server listens on loopback unless told otherwise, and only reads.

Runs the daemon on the bundled example configuration (only its port and data paths
changed) and inspects the sockets the process really holds.
"""

from __future__ import annotations

import http.client
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from driftmon.config import config_from_dict, load_config
from driftmon.service.pages import CSP

from .conftest import DaemonProcess

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "example.yaml"

READ_METHODS = ("GET", "HEAD")
OTHER_METHODS = (
    "POST",
    "PUT",
    "DELETE",
    "PATCH",
    "OPTIONS",
    "TRACE",
    "CONNECT",
    "PROPFIND",
    "MKCOL",
    "PURGE",
    "get",  # methods are case-sensitive: lower-case is another method
    "X-DRIFTMON",
)
PATHS = (
    "/",
    "/metrics",
    "/healthz",
    "/nope",
    "/monitors/nope",
    "/index.json",
    "/metrics?name[]=x",
    "//metrics",
    "/../etc/passwd",
)


def test_the_default_host_is_loopback_and_the_shipped_configs_keep_it() -> None:
    minimal = {
        "monitors": [
            {
                "name": "m",
                "schedule": {"every": "1h"},
                "reference": {"path": "r.parquet"},
                "live": {"path": "l.parquet"},
                "features": [{"name": "x"}],
            }
        ]
    }
    assert config_from_dict(minimal, environ={}).server.host == "127.0.0.1"
    env = {"DRIFTMON_WAREHOUSE_PASSWORD": "unused", "DRIFTMON_SPARK_TOKEN": "unused"}
    for name in ("example.yaml", "reference.yaml"):
        assert load_config(REPO / "config" / name, environ=env).server.host == "127.0.0.1", name


@pytest.fixture
def example_daemon(tmp_path: Path, daemon_factory: Callable[..., DaemonProcess]) -> DaemonProcess:
    """The daemon on config/example.yaml with port 0 and absolute data paths."""
    text = EXAMPLE.read_text()
    assert "port: 9464" in text
    assert "host: 127.0.0.1" in text
    data = (REPO / "examples" / "data").as_posix()
    config = tmp_path / "example.yaml"
    config.write_text(text.replace("port: 9464", "port: 0").replace("../examples/data", data))
    env = {"DRIFTMON_DATABASE_URL": f"sqlite:///{tmp_path / 'driftmon.db'}"}
    return daemon_factory(config, "example", env=env)


def _listening_addresses(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket the process listens on, from /proc."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = []
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        if not os.path.exists(table):
            continue
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                local, state, inode = cols[1], cols[3], cols[9]
                if state != "0A" or inode not in inodes:  # 0A: LISTEN
                    continue
                hex_addr, hex_port = local.split(":")
                raw = bytes.fromhex(hex_addr)
                # /proc prints each 32-bit word in host (little-endian) byte order.
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.append((socket.inet_ntop(family, raw), int(hex_port, 16)))
    return found


def _non_loopback_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent, a route is chosen
            addr: str = s.getsockname()[0]
        except OSError:
            return None
    return None if addr.startswith("127.") or addr == "0.0.0.0" else addr


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux /proc")
def test_the_example_daemon_listens_on_loopback_only(example_daemon: DaemonProcess) -> None:
    listening = _listening_addresses(example_daemon.proc.pid)
    assert listening == [("127.0.0.1", example_daemon.port)]
    assert example_daemon.get("/healthz")[0] in (200, 503)
    other = _non_loopback_address()
    if other is not None:
        with pytest.raises((ConnectionRefusedError, TimeoutError)):
            socket.create_connection((other, example_daemon.port), timeout=2).close()


def _request(port: int, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=b"x=1" if method == "POST" else None)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_every_method_but_get_and_head_is_refused_on_every_path(
    example_daemon: DaemonProcess,
) -> None:
    port = example_daemon.port
    for path in PATHS:
        for method in OTHER_METHODS:
            status, headers, body = _request(port, method, path)
            assert (status, headers.get("Allow")) == (405, "GET, HEAD"), (method, path)
            assert body == b"read-only endpoint\n", (method, path)
        for method in READ_METHODS:
            status, headers, body = _request(port, method, path)
            assert status in (200, 404, 503), (method, path)  # 503: a degraded /healthz
            assert headers["X-Content-Type-Options"] == "nosniff"
            if "html" in headers["Content-Type"]:  # the status pages: no script, nothing loaded
                assert headers["Content-Security-Policy"] == CSP, (method, path)
            if method == "HEAD":
                assert body == b""
