"""One Spark Connect server for the whole test run, started from the pyspark package.

The ``pyspark`` wheel carries Spark and ``sbin/start-connect-server.sh``; with Java 17 it runs
offline. The server binds 127.0.0.1 on a free port, runs ``local[2]``, logs into the test
run's temporary folder, and is stopped (its process group) when the run ends. Without
pyspark or Java the Spark tests are skipped locally and fail under CI=true (``tests/ci.py``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.ci import in_ci
from tests.e2e.servers import HOST, free_port

START_TIMEOUT = 120.0
JAVA_APT = "openjdk-17-jre-headless"


@dataclass
class SparkServer:
    """A running Spark Connect server and a session of its own for putting test data in."""

    remote: str
    log: Path
    admin: Any

    def view(self, name: str, table: pa.Table) -> str:
        """``table`` as a global temporary view (seen by every session) over a Parquet file
        (``createDataFrame`` cannot take an empty table); the view's full name."""
        path = self.log.parent / "views" / f"{name}.parquet"
        path.parent.mkdir(exist_ok=True)
        pq.write_table(table, path)
        self.admin.read.parquet(str(path)).createOrReplaceGlobalTempView(name)
        return f"global_temp.{name}"


def unavailable(reason: str) -> NoReturn:
    """Skip the Spark tests, or fail them under CI, where Spark must be tested."""
    if in_ci():
        pytest.fail(f"{reason}, and CI must run the Spark tests")
    pytest.skip(reason)


def java_home() -> str | None:
    """JAVA_HOME, else the JDK of the ``java`` on PATH (Spark's scripts need one or other)."""
    given = os.environ.get("JAVA_HOME")
    if given and Path(given, "bin", "java").exists():
        return given
    java = shutil.which("java")
    return str(Path(java).resolve().parents[1]) if java else None


@contextmanager
def spark_connect_server(folder: Path) -> Iterator[SparkServer]:
    """Start the server, wait until it serves, yield it; stop it afterwards."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        unavailable("pyspark is not installed (pip install 'driftmon[spark]')")
    spark_home = Path(spec.origin).parent
    script = spark_home / "sbin" / "start-connect-server.sh"
    if not script.exists():
        unavailable(f"{script} is missing: pyspark without Spark itself (pyspark-client?)")
    home = java_home()
    if home is None:
        unavailable(f"no Java (apt-get install -y --no-install-recommends {JAVA_APT})")
    port = free_port()
    log = folder / "spark-connect.log"
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home),
        "JAVA_HOME": home,
        "SPARK_LOG_DIR": str(folder),
        "SPARK_PID_DIR": str(folder),
        "SPARK_LOCAL_IP": HOST,
        "SPARK_LOCAL_DIRS": str(folder / "local"),
    }
    confs = {
        "spark.connect.grpc.binding.address": HOST,
        "spark.connect.grpc.binding.port": str(port),
        "spark.driver.host": HOST,
        "spark.driver.bindAddress": HOST,
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.sql.warehouse.dir": str(folder / "warehouse"),
        # The JVM lives for one test module of small queries: C1-compiled code comes sooner
        # than C2's (which mostly compiled code the tests never ran again), and the serial
        # collector keeps no GC threads busy on 2 cores. Neither changes a query's result;
        # the module took 41-45 s with them and 55-61 s without (measured A/B, load 2-4).
        "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    }
    argv = [str(script), "--wait", "--master", "local[2]"]
    for key, value in confs.items():
        argv += ["--conf", f"{key}={value}"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=folder,
            env=env,
            start_new_session=True,  # its own process group: bash, spark-submit and the JVM
        )
    admin = None
    try:
        _wait_for_port(proc, port, log)
        remote = f"sc://{HOST}:{port}"
        admin = _session(remote)
        yield SparkServer(remote, log, admin)
    finally:
        if admin is not None:
            admin.stop()
        _stop(proc)


def _session(remote: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pyspark and pandas 3
        from pyspark.sql.connect.session import SparkSession

        return SparkSession.builder.remote(remote).create()


def _wait_for_port(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            unavailable(f"the Spark Connect server exited ({proc.returncode}): {_tail(log)}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.25)
    unavailable(f"the Spark Connect server did not listen within {START_TIMEOUT:g} s: {_tail(log)}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (the one started above), SIGKILL after 20 s."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"
