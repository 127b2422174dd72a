"""Fuzzing (hypothesis): any configuration text and any data give a result or a clear
error, never another exception and never a hang.

The configuration side complements ``tests/configuration/test_config_fuzz.py`` (values
placed into a parsed mapping) with YAML text: arbitrary text and bytes, mutated valid
files and arbitrary documents. The data side streams arbitrary CSV bytes and arbitrary
Arrow tables (mixed types, nulls, NaN/inf, integers beyond 2**53, empty) through
FileSource and the runner's histogramming, as a scheduled run would.
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from driftmon.config import Config, config_from_dict, load_config
from driftmon.core.status import Status
from driftmon.errors import ConfigError
from driftmon.results import RunResult
from driftmon.service.runner import MonitorRunner
from driftmon.storage import Store

from .conftest import no_hang

END = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FUZZ = settings(
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="driftmon-fuzz-") as d:
        yield Path(d)


# -- configuration text ---------------------------------------------------------------------

VALID = """\
database: {url: "sqlite:///results.db"}
server: {host: 127.0.0.1, port: 9464}
log: {level: INFO, format: text}
monitors:
  - name: example
    schedule: {every: 5m}
    reference: {path: data/reference.parquet}
    live: {path: "data/live/*.parquet", timestamp_column: ts, window: 1h, min_rows: 100}
    features:
      - {name: age, type: numeric, bins: 10}
      - {name: amount, type: numeric, edges: [0, 10, 100, 1000]}
      - {name: country, type: categorical, max_categories: 50}
    thresholds: {warning: 0.05, critical: 0.2}
"""
YAML_BITS = st.sampled_from(
    [
        ":", "- ", "{", "}", "[", "]", ",", "\n", "  ", "\t", "&a ", "*a", "!!int ", "!!str ",
        "!!binary ", "!!timestamp ", "!!set ", "!!omap ", "!!python/none ", "? ", "|\n", ">-\n",
        "'", '"', "#", "%YAML 1.1\n", "---\n", "...\n", "<<: *a\n", "${X}", "${X:-", "$${",
        "\x00", "\ufeff", "\ud7ff", "1e309", "-.inf", ".nan", "0x1F", "0o17",
        "99999999999999999999", "~", "null", "yes", "on", "2026-02-30", "1h", "0s", "-5m",
        "*/0 * * * *",
    ]
)  # fmt: skip


def _load_text(workdir: Path, data: bytes) -> Config | ConfigError:
    path = workdir / "fuzz.yaml"
    path.write_bytes(data)
    with no_hang():
        try:
            return load_config(path, environ={"X": "1"})
        except ConfigError as exc:
            error = exc
    assert str(error).startswith(f"{path}: "), error
    return error


@FUZZ
@given(text=st.text(max_size=300))
def test_any_text_is_a_config_or_a_config_error(workdir: Path, text: str) -> None:
    _load_text(workdir, text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(data=st.binary(max_size=300))
def test_any_bytes_are_a_config_or_a_config_error(workdir: Path, data: bytes) -> None:
    _load_text(workdir, data)


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(VALID)), st.integers(0, 8), st.lists(YAML_BITS, max_size=3)),
        min_size=1,
        max_size=4,
    )
)
def test_a_mangled_valid_file_is_a_config_or_a_config_error(
    workdir: Path, edits: list[tuple[int, int, list[str]]]
) -> None:
    text = VALID
    for at, cut, bits in edits:
        at = min(at, len(text))
        text = text[:at] + "".join(bits) + text[at + cut :]
    _load_text(workdir, text.encode("utf-8", "surrogatepass"))


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(),
    st.text(max_size=20),
    st.binary(max_size=8),
    st.datetimes(),
)
KEYS = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["monitors", "database", "server", "log", "retention", "name", "features"]),
    st.integers(),
    st.booleans(),
    st.none(),
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(doc=DOCUMENTS, merge=st.booleans())
def test_any_yaml_document_is_a_config_or_a_config_error(
    workdir: Path, doc: Any, merge: bool
) -> None:
    """Arbitrary documents, alone or as extra keys beside a valid configuration."""
    if merge and isinstance(doc, dict):
        doc = {**yaml.safe_load(VALID), **doc}
    _load_text(workdir, yaml.safe_dump(doc, allow_unicode=True).encode())
    with no_hang(), contextlib.suppress(ConfigError):
        config_from_dict(doc, path="fuzz.yaml", environ={})


# -- data -----------------------------------------------------------------------------------

# Column types whose features must always be scored, never an error: numbers for numeric
# features (integers beyond 2**53 included), anything that spells as text for categorical.
NUMERIC_OK = ("int64", "uint64", "float64", "bool", "decimal", "null")
CATEGORICAL_OK = (*NUMERIC_OK, "string", "binary", "timestamp", "date")

BIG = st.sampled_from([2**53 + 1, -(2**53) - 1, 2**63 - 1, -(2**63), 0, 1, -1])
COLUMNS: dict[str, tuple[pa.DataType, st.SearchStrategy[Any]]] = {
    "int64": (pa.int64(), st.integers(-(2**63), 2**63 - 1) | BIG),
    "uint64": (pa.uint64(), st.integers(0, 2**64 - 1) | st.sampled_from([2**64 - 1, 2**53 + 1])),
    "float64": (
        pa.float64(),
        st.floats() | st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.8e308]),
    ),
    "bool": (pa.bool_(), st.booleans()),
    "decimal": (
        pa.decimal128(38, 4),
        st.decimals(min_value=Decimal("-1e33"), max_value=Decimal("1e33"), places=4).filter(
            lambda d: d.is_finite()
        ),
    ),
    "null": (pa.null(), st.none()),
    "string": (pa.string(), st.text(max_size=30)),
    "binary": (pa.binary(), st.binary(max_size=12)),
    "timestamp": (
        pa.timestamp("us", tz="UTC"),
        st.datetimes(timezones=st.just(UTC)),
    ),
    "date": (pa.date32(), st.dates()),
    "list": (pa.list_(pa.int64()), st.lists(st.integers(-5, 5), max_size=3)),
    "struct": (pa.struct([("a", pa.int64())]), st.fixed_dictionaries({"a": st.integers(-5, 5)})),
}


@st.composite
def columns(draw: st.DrawFn, n: int) -> tuple[str, pa.Array]:
    kind = draw(st.sampled_from(sorted(COLUMNS)))
    t, values = COLUMNS[kind]
    items = draw(st.lists(st.none() | values, min_size=n, max_size=n))
    return kind, pa.array(items, type=t)


@st.composite
def tables(draw: st.DrawFn) -> tuple[dict[str, str], pa.Table]:
    """Columns c0..c2 of random types and length (0 to 40 rows, nulls anywhere)."""
    n = draw(st.integers(0, 40))
    kinds, arrays = {}, {}
    for i in range(3):
        kinds[f"c{i}"], arrays[f"c{i}"] = draw(columns(n))
    return kinds, pa.table(arrays)


def _features(names: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in names:
        out.append({"name": f"{c} numeric", "column": c, "bins": 4})
        out.append({"name": f"{c} categorical", "column": c, "type": "categorical"})
    return out


def _run(
    workdir: Path, reference: str, live: str, names: list[str]
) -> tuple[RunResult, Callable[[], None]]:
    config = config_from_dict(
        {
            "database": {"url": f"sqlite:///{workdir / 'results.db'}"},
            "monitors": [
                {
                    "name": "fuzz",
                    "schedule": {"every": "1h"},
                    "reference": {"path": reference},
                    "live": {"path": live},
                    "features": _features(names),
                }
            ],
        },
        base_dir=workdir,
        environ={},
    )
    store = Store(config.database.url)
    store.upgrade()
    with no_hang():
        result = MonitorRunner(config, store).score(config.monitors[0], END)
        store.save_run(result)  # whatever came out can be stored
    return result, store.dispose


def _check_result(result: RunResult) -> None:
    json.dumps([result.monitor, *(f.as_json() for f in result.features)], allow_nan=False)
    if result.status == Status.ERROR and not result.features:
        assert result.error
        assert "Traceback" not in result.error
        return
    for f in result.features:
        if f.status == Status.ERROR:
            assert f.message, f
            assert "Traceback" not in f.message, f
        if f.scores is not None:
            assert math.isfinite(f.scores.kl_divergence), f
            assert f.scores.kl_divergence >= 0, f


@FUZZ
@given(reference=st.lists(tables(), min_size=1, max_size=2), live=tables())
def test_any_arrow_tables_give_scores_or_per_feature_errors(
    workdir: Path,
    reference: list[tuple[dict[str, str], pa.Table]],
    live: tuple[dict[str, str], pa.Table],
) -> None:
    """Reference files of a glob may disagree on types with each other and with the live one."""
    for old in workdir.glob("reference-*.parquet"):
        old.unlink()
    for i, (_, table) in enumerate(reference):
        pq.write_table(table, workdir / f"reference-{i}.parquet")
    live_kinds, live_table = live
    pq.write_table(live_table, workdir / "live.parquet")
    result, close = _run(workdir, "reference-*.parquet", "live.parquet", ["c0", "c1", "c2"])
    try:
        _check_result(result)
        assert result.error is None, result.error
        by_name = {f.feature: f for f in result.features}
        for c, kind in live_kinds.items():
            if any(kinds[c] != kind for kinds, _ in reference):
                continue
            for role, ok in (("numeric", NUMERIC_OK), ("categorical", CATEGORICAL_OK)):
                if kind in ok:
                    f = by_name[f"{c} {role}"]
                    if _nothing_to_fit([t.column(c) for _, t in reference], role == "numeric"):
                        # Rows but no value to fit bins to: an error with its reason (issue 9).
                        assert f.status == Status.ERROR, f
                        assert "reference data" in (f.message or ""), f
                    else:
                        assert f.status != Status.ERROR, (kind, f.message)
    finally:
        close()


def _nothing_to_fit(columns: list[pa.ChunkedArray], numeric: bool) -> bool:
    """Reference columns with rows but no value: all missing (NaN too), or, for a numeric
    feature, no finite number."""
    rows = sum(len(col) for col in columns)
    for col in columns:
        for v in col.to_pylist():
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            if numeric and isinstance(v, float) and math.isinf(v):
                continue
            return False
    return rows > 0


CSV_TOKENS = st.sampled_from(
    [
        b"1", b"-2.5", b"1e309", b"nan", b"NaN", b"inf", b"-inf", b"", b" ", b"abc",
        b"99999999999999999999", b"9007199254740993", b"-9223372036854775808", b"true",
        b"\"quoted, with comma\"", b"\"unterminated", b"\"\"", b"'", b"\\", b"\xff\xfe",
        b"caf\xe9", b"\x00", b"\r", b"\r\n", b"<script>", b"2026-03-01T12:00:00Z",
    ]
)  # fmt: skip
CSV_BODIES = st.one_of(
    st.binary(max_size=200),
    st.lists(st.lists(CSV_TOKENS, min_size=1, max_size=4), max_size=30).map(
        lambda rows: b"\n".join(b",".join(r) for r in rows)
    ),
)


@FUZZ
@given(reference=CSV_BODIES, live=CSV_BODIES, header=st.booleans())
@example(reference=b"\x80\r", live=b"", header=False)  # found: names not UTF-8 escaped
@example(reference=b"a,a\nx,y\n1,2", live=b"a,b,a\n\xff,1,z", header=False)
@example(reference=b"", live=b"\n\n\n", header=True)
def test_any_csv_bytes_give_scores_or_clear_errors(
    workdir: Path, reference: bytes, live: bytes, header: bool
) -> None:
    for name, body in (("reference", reference), ("live", live)):
        head = b"a,b\n" if header else b""
        (workdir / f"{name}.csv").write_bytes(head + body)
    result, close = _run(workdir, "reference.csv", "live.csv", ["a", "b"])
    try:
        _check_result(result)
        if result.error is not None:
            assert result.error.startswith("cannot read csv file "), result.error
    finally:
        close()
