"""Hostile category values and names: the run completes, labels are stored intact, the
exposition still parses (prometheus_client and promtool) and logs stay one line per event.

Category values never become metric labels, but monitor and feature names do, so those
are hostile too (as far as configuration allows: names reject control characters).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prometheus_client.parser import text_string_to_metric_families

from driftmon.core.bins import MISSING_LABEL, OTHER_LABEL

from .conftest import (
    HOSTILE_NAMES,
    INJECTIONS,
    DaemonProcess,
    as_json,
    query,
    run_cli,
    write_config,
)

LONG = "x" * 100_000
HOSTILE_VALUES = [
    "quote ' and \" double",
    "back\\slash \\n \\\\",
    "new\nline",
    "carriage\rreturn\r\n",
    "tab\tstop",
    "<script>alert(1)</script>",
    "nul\x00byte",
    "emoji 🚨🔥 naïve 日本",
    "\u2028line separator\u2029",
    'le="+Inf",monitor="x"} 1 # EOF',
    "",
    " ",
    LONG,
    *INJECTIONS,
]
# Bytes that are not UTF-8: a Latin-1 é, a lone continuation byte, an overlong encoding.
BAD_BYTES = [b"caf\xe9", b"\xff\xfe", b"\x80", b"\xc0\xaf", b"ok"]
DECODED = {b.decode("utf-8", errors="replace") for b in BAD_BYTES}

# Names, all from HOSTILE_NAMES: they become label values on /metrics.
MONITOR_NAME = 'quote " and \\ backslash'
CSV_MONITOR = "<script>alert(1)</script>"
FAILING_MONITOR = "'; DELETE FROM monitors; --"
STRING_FEATURE = "<script>alert(1)</script>"
BINARY_FEATURE = "emoji 🚨 naïve 日本"
NUMERIC_FEATURE = '{brace="x"} # not a label'
CSV_FEATURE = 'x"; DROP TABLE runs; --'
FAILING_FEATURE = "Robert'); DROP TABLE students;--"
assert {
    MONITOR_NAME, CSV_MONITOR, FAILING_MONITOR, STRING_FEATURE, BINARY_FEATURE,
    NUMERIC_FEATURE, CSV_FEATURE, FAILING_FEATURE,
} <= set(HOSTILE_NAMES)  # fmt: skip
_TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S")


def _choice(values: list[Any], n: int, seed: int) -> list[Any]:
    rng = np.random.default_rng(seed)
    picked = [values[i] for i in rng.choice(len(values), n)]
    return [*values, *picked]  # every value at least once


def _write_data(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name, seed in (("reference", 0), ("live", 1)):
        n = 400
        texts = _choice(HOSTILE_VALUES, n, seed)
        raw = _choice(BAD_BYTES, len(texts) - len(BAD_BYTES), seed)
        table = pa.table(
            {
                "c": pa.array(texts, pa.string()),
                "b": pa.array(raw, pa.binary()),
                "x": rng.normal(size=len(texts)),
            }
        )
        pq.write_table(table, tmp_path / f"{name}.parquet")
        lines = [b"id,c"] + [b"%d,%s" % (i, v) for i, v in enumerate(raw)]
        (tmp_path / f"{name}.csv").write_bytes(b"\n".join(lines) + b"\n")


def _config(tmp_path: Path, url: str, fmt: str = "text") -> Path:
    features = [
        {"name": STRING_FEATURE, "column": "c", "type": "categorical", "max_categories": 100},
        {"name": BINARY_FEATURE, "column": "b", "type": "categorical"},
        {"name": NUMERIC_FEATURE, "column": "x"},
    ]
    monitors = [
        {
            "name": MONITOR_NAME,
            "schedule": {"every": "1h"},
            "reference": {"path": "reference.parquet"},
            "live": {"path": "live.parquet"},
            "features": features,
        },
        {
            "name": CSV_MONITOR,  # <script>alert(1)</script>
            "schedule": {"every": "1h"},
            "reference": {"path": "reference.csv"},
            "live": {"path": "live.csv"},
            "features": [{"name": CSV_FEATURE, "column": "c", "type": "categorical"}],
        },
        {
            # A run that fails with a newline (from a file name) in its error text.
            "name": FAILING_MONITOR,
            "schedule": {"every": "1h"},
            "reference": {"path": "reference.parquet"},
            "live": {"path": "gone\nfile.parquet"},
            "features": [{"name": FAILING_FEATURE, "column": "x"}],
        },
    ]
    data = {
        "database": {"url": url},
        "server": {"host": "127.0.0.1", "port": 0},
        "log": {"level": "DEBUG", "format": fmt},
        "monitors": monitors,
    }
    return write_config(tmp_path / f"driftmon-{fmt}.yaml", data)


def _stored_labels(url: str) -> dict[str, list[str]]:
    rows = query(url, "SELECT feature, bin_labels FROM feature_results")
    return {r["feature"]: as_json(r["bin_labels"]) for r in rows}


def test_hostile_categories_are_monitored_and_stored_intact(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_data(tmp_path)
    config = _config(tmp_path, db_url)
    code, out, err = run_cli(capsys, "check", "-c", str(config), "--json")
    assert code == 3, out + err  # the monitor with the missing file; the others ran
    runs = {r["monitor"]: r for r in json.loads(out)}
    assert set(runs) == {MONITOR_NAME, CSV_MONITOR, FAILING_MONITOR}
    assert "gone\nfile.parquet" in runs[FAILING_MONITOR]["error"]
    for name in (MONITOR_NAME, CSV_MONITOR):
        run = runs[name]
        assert run["error"] is None
        for f in run["features"]:
            assert f["status"] != "error", f
            assert f["kl_divergence"] is not None, f

    labels = _stored_labels(db_url)
    assert labels[STRING_FEATURE][-2:] == [OTHER_LABEL, MISSING_LABEL]
    assert sorted(labels[STRING_FEATURE][:-2]) == sorted(HOSTILE_VALUES)
    for feature in (BINARY_FEATURE, CSV_FEATURE):
        assert set(labels[feature][:-2]) == DECODED, feature
    assert LONG in labels[STRING_FEATURE]
    assert "nul\x00byte" in labels[STRING_FEATURE]


def _promtool(exposition: bytes) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing (Debian package: prometheus)")
        return
    done = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (done.stdout + done.stderr).strip() == b""


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_metrics_parse_and_logs_stay_one_line_per_event(
    fmt: str, tmp_path: Path, daemon_factory: Callable[..., DaemonProcess]
) -> None:
    _write_data(tmp_path)
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'results.db'}", fmt)
    daemon = daemon_factory(config, fmt)
    daemon.wait_for("run.f", 60, count=3)
    expected = {
        (MONITOR_NAME, STRING_FEATURE),
        (MONITOR_NAME, BINARY_FEATURE),
        (MONITOR_NAME, NUMERIC_FEATURE),
        (CSV_MONITOR, CSV_FEATURE),
    }
    deadline = time.monotonic() + 20
    while True:  # the snapshot behind /metrics may trail the last run.finished line
        status, body = daemon.get("/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        kl = families["driftmon_feature_kl_divergence"].samples
        seen = {(s.labels["monitor"], s.labels["feature"]) for s in kl}
        if seen == expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert seen == expected
    statuses = families["driftmon_monitor_status"].samples
    assert FAILING_MONITOR in {s.labels["monitor"] for s in statuses}
    _promtool(body)
    status, health = daemon.get("/healthz")
    json.loads(health)
    assert daemon.stop() == 0

    lines = daemon.text().splitlines()
    assert any("gone" in line for line in lines)
    for line in lines:
        if fmt == "json":
            assert isinstance(json.loads(line), dict), line
        else:
            assert _TEXT_LINE.match(line), line
    failed = [line for line in lines if "run.failed" in line]
    assert len(failed) == 1
    if fmt == "json":
        assert "gone\nfile.parquet" in json.loads(failed[0])["error"]
    else:
        assert "gone\\nfile.parquet" in failed[0]


def test_invalid_utf8_past_the_first_csv_block_is_monitored_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CSV types come from the first block (1 MiB): a stray byte later must not fail the run."""
    body = b"".join(b"%d,%s,%d\n" % (i, b"abc"[i % 3 : i % 3 + 1], i % 7) for i in range(200_000))
    for name, tail in (("reference", b"ok"), ("live", b"caf\xe9")):
        (tmp_path / f"{name}.csv").write_bytes(b"id,c,n\n" + body + b"999999,%s,1\n" % tail)
    monitor = {
        "name": "late bytes",
        "schedule": {"every": "1h"},
        "reference": {"path": "reference.csv"},
        "live": {"path": "live.csv"},
        "features": [{"name": "c", "type": "categorical"}, {"name": "n"}],
    }
    config = write_config(
        tmp_path / "driftmon.yaml",
        {"database": {"url": f"sqlite:///{tmp_path / 'r.db'}"}, "monitors": [monitor]},
    )
    code, out, err = run_cli(capsys, "check", "-c", str(config), "--json")
    (run,) = json.loads(out)
    assert run["error"] is None, run["error"]
    assert [f["status"] for f in run["features"]] == ["ok", "ok"], out + err
    assert code == 0
