"""Reference profiles built by the database: the same bins and counts as the in-process
``build_feature_profile`` on the same rows, with only aggregates crossing the wire.

Quantile edges: the positions NumPy's ``inverted_cdf`` picks (``quantile_positions``) are
read with the database's exact discrete percentile (PostgreSQL ``percentile_disc``, DuckDB
``quantile_disc``: one sort per feature, all features in one query); SQLite has no
percentile function, so each edge is one ``ORDER BY x LIMIT 1 OFFSET k`` query (exact; a
sort per edge, fine for the SQLite sizes driftmon meets). Spark has only an approximate
percentile: ``percentile_approx`` at ``SPARK_PERCENTILE_ACCURACY`` reads each edge within
``n / SPARK_PERCENTILE_ACCURACY`` ranks of the exact one (Spark's Greenwald-Khanna
summaries; exact while no summary had to be compressed, which is below about
``accuracy / 2`` rows per partition). The edges only need to be fixed by the reference: the
counts on them are exact all the same. Categories: ``GROUP BY`` the spelled value
``ORDER BY count DESC, value LIMIT k`` in byte (code point) order, the in-process tie rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from driftmon.core.bins import (
    CategoricalBins,
    NumericBins,
    explicit_numeric_bins,
    fit_numeric_bins,
)
from driftmon.core.histogram import Histogram
from driftmon.core.kinds import ColumnKind
from driftmon.core.profile import FeatureProfile, FeatureSpec
from driftmon.sources.pushdown import (
    NotPushable,
    PushedFeature,
    as_double,
    check_type,
    collated,
    decode_row,
    histogram_select,
    is_finite,
    observed_kind,
    percentile_fraction,
    quantile_positions,
    sqlite_classes,
)

SPARK_PERCENTILE_ACCURACY = 10_000
"""Spark ``percentile_approx``'s ``accuracy`` (its default): relative rank error 1/10,000."""

Run = Callable[[sa.Select[Any]], Sequence[Sequence[Any]]]
"""Runs one statement where the data lives and returns its rows (a SQL connection, Spark)."""


def _one(run: Run, stmt: sa.Select[Any]) -> Sequence[Any]:
    """The single row of an aggregate statement."""
    rows = run(stmt)
    if len(rows) != 1:
        raise ValueError(f"an aggregate query returned {len(rows)} rows, not one")
    return rows[0]


@dataclass(frozen=True)
class BuiltReference:
    """Profiles of the features that could be fitted, errors of the others, the row count."""

    profiles: list[FeatureProfile]
    errors: dict[str, str]
    rows: int


@dataclass(frozen=True)
class _Stats:
    kind: ColumnKind | None
    nonnull: int
    finite: int
    lo: float | None
    hi: float | None
    pos_inf: int
    neg_inf: int


def build_reference(
    run: Run,
    source: sa.FromClause,
    specs: Sequence[tuple[str, FeatureSpec]],
    sql_types: Mapping[str, str | None],
    dialect: str,
) -> BuiltReference:
    """Fit and count every ``(column, spec)`` in the database; NotPushable if any column
    holds values the database cannot fit exactly as the in-process engine does."""
    total, stats = _column_stats(run, source, specs, sql_types, dialect)
    errors: dict[str, str] = {}
    fitted: dict[str, tuple[str, FeatureSpec, NumericBins | CategoricalBins]] = {}
    cat_counts: dict[str, list[int]] = {}
    quantiles: dict[str, tuple[str, FeatureSpec, _Quantiles]] = {}
    for column, spec in specs:
        st = stats[spec.name]
        x = as_double(source.c[column], sql_types.get(column))
        if spec.kind == "categorical":
            if total and not st.nonnull:
                errors[spec.name] = f"all {total} rows are missing"
                continue
            cats, kept = _top_categories(run, source, column, spec, sql_types, dialect)
            fitted[spec.name] = (column, spec, cats)
            cat_counts[spec.name] = [*kept, st.nonnull - sum(kept), total - st.nonnull]
            continue
        if total and not st.finite:
            errors[spec.name] = _no_finite_value(total, st)
            continue
        fit = _numeric_bins(x, spec, st)
        if isinstance(fit, _Quantiles):
            quantiles[spec.name] = (column, spec, fit)
        else:
            fitted[spec.name] = (column, spec, fit)
    edges = _quantile_edges(run, source, {n: q for n, (_, _, q) in quantiles.items()}, dialect)
    for name, (column, spec, _) in quantiles.items():
        fitted[name] = (column, spec, edges[name])
    numeric = {
        name: PushedFeature(column, bins, stats[name].kind)
        for name, (column, _, bins) in fitted.items()
        if isinstance(bins, NumericBins)
    }
    counted: dict[str, Histogram] = {}
    if numeric:
        stmt, slices = histogram_select(source, numeric, sql_types, dialect, None)
        row = _one(run, stmt)
        counted = decode_row(row, numeric, slices, sql_types, dialect).histograms
    profiles = []
    for _, spec in specs:
        if spec.name not in fitted:
            continue
        bins = fitted[spec.name][2]
        if isinstance(bins, CategoricalBins):
            hist = Histogram(np.asarray(cat_counts[spec.name], dtype=np.int64))
        else:
            hist = counted[spec.name]
        kind = stats[spec.name].kind if total else None
        profiles.append(FeatureProfile(spec.name, bins, hist, kind))
    return BuiltReference(profiles, errors, total)


def _column_stats(
    run: Run,
    source: sa.FromClause,
    specs: Sequence[tuple[str, FeatureSpec]],
    sql_types: Mapping[str, str | None],
    dialect: str,
) -> tuple[int, dict[str, _Stats]]:
    """Row count, and per feature: kind, non-NULL count, finite count, min, max, ±inf."""
    columns: list[sa.ColumnElement[Any]] = [sa.func.count()]
    slices: list[tuple[str, str, int, int]] = []
    for column, spec in specs:
        col = source.c[column]
        sql_type = sql_types.get(column)
        check_type(column, sql_type, dialect)
        parts = sqlite_classes(col) if dialect == "sqlite" else []
        if spec.kind == "numeric":
            if sql_type == "text":
                raise NotPushable(f"feature {spec.name!r}: text values in a numeric feature")
            x = as_double(col, sql_type)
            inf: sa.BindParameter[float] = sa.bindparam(None, float("inf"), type_=sa.Double())
            parts += [
                sa.func.count(x),
                sa.func.count().filter(is_finite(x)),
                sa.func.min(x).filter(is_finite(x)),
                sa.func.max(x).filter(is_finite(x)),
                sa.func.count().filter(x == inf),
                sa.func.count().filter(x == -inf),
            ]
        else:
            if sql_type == "float":
                raise NotPushable(f"feature {spec.name!r}: float categories are spelled by Arrow")
            parts.append(sa.func.count(col))
        slices.append((column, spec.name, len(columns), len(columns) + len(parts)))
        columns += parts
    labelled = [c.label(f"c{i}") for i, c in enumerate(columns)]
    row = _one(run, sa.select(*labelled).select_from(source))
    total = int(row[0])
    stats: dict[str, _Stats] = {}
    for column, name, lo, hi in slices:
        values = list(row[lo:hi])
        classes: dict[str, int] = {}
        if dialect == "sqlite":
            classes = dict(zip(("integer", "real", "text", "blob"), values[:4], strict=True))
            values = values[4:]
        kind = observed_kind(sql_types.get(column), classes, values[0], total, dialect)
        spec = next(s for c, s in specs if s.name == name)
        if spec.kind == "numeric" and kind not in (None, "integer", "float", "bool"):
            raise NotPushable(f"feature {name!r}: {kind} values in a numeric feature")
        if spec.kind == "categorical" and kind == "float":
            raise NotPushable(f"feature {name!r}: float categories are spelled by Arrow")
        if spec.kind == "numeric":
            nonnull, finite, mn, mx, pos_inf, neg_inf = values
            stats[name] = _Stats(
                kind,
                int(nonnull),
                int(finite),
                None if mn is None else float(mn),
                None if mx is None else float(mx),
                int(pos_inf),
                int(neg_inf),
            )
        else:
            stats[name] = _Stats(kind, int(values[0]), 0, None, None, 0, 0)
    return total, stats


def _no_finite_value(total: int, st: _Stats) -> str:
    """The in-process message (``driftmon.core.profile``) from counts."""
    missing = total - st.pos_inf - st.neg_inf
    parts = [
        f"{n} {label}"
        for n, label in ((st.pos_inf, "+inf"), (st.neg_inf, "-inf"), (missing, "missing"))
        if n
    ]
    return f"no finite value in its {total} rows ({', '.join(parts)}) to compare live data with"


@dataclass(frozen=True)
class _Quantiles:
    """Quantile edges still to read: the order statistics at ``positions`` of the ``n``
    finite values of ``x``, whose minimum is ``lo``."""

    x: sa.ColumnElement[Any]
    positions: list[int]
    n: int
    lo: float


def _numeric_bins(
    x: sa.ColumnElement[Any], spec: FeatureSpec, st: _Stats
) -> NumericBins | _Quantiles:
    """``fit_numeric_bins`` of the column's finite values where the statistics decide it,
    else the order statistics quantile edges need (``_quantile_edges``)."""
    if spec.edges is not None:
        return explicit_numeric_bins(spec.edges)
    if st.lo is None or st.hi is None:
        return NumericBins(())
    lo, hi = st.lo, st.hi
    if lo == hi or spec.strategy != "quantile":
        # Uniform edges and the constant layout depend on the minimum and maximum only.
        return fit_numeric_bins(np.array([lo, hi]), spec.bins, spec.strategy)
    return _Quantiles(x, quantile_positions(st.finite, spec.bins), st.finite, lo)


def _quantile_edges(
    run: Run, source: sa.FromClause, pending: Mapping[str, _Quantiles], dialect: str
) -> dict[str, NumericBins]:
    """The quantile edges of every pending feature: their order statistics in one query
    (SQLite: one per edge), the smallest value above each minimum in another; an edge at
    the minimum moves up to that value, as ``fit_numeric_bins`` does."""
    if not pending:
        return {}
    values = _order_statistics(run, source, pending, dialect)
    aboves = [
        sa.func.min(sa.case((sa.and_(is_finite(q.x), q.x > q.lo), q.x))) for q in pending.values()
    ]
    row = _one(
        run, sa.select(*(a.label(f"c{i}") for i, a in enumerate(aboves))).select_from(source)
    )
    out = {}
    for (name, q), above in zip(pending.items(), row, strict=True):
        edges = np.asarray(values[name], dtype=np.float64)
        edges = np.where(edges == q.lo, float(above), edges)
        edges = np.unique(edges)
        edges = edges[edges > q.lo]
        out[name] = NumericBins(tuple(float(e) for e in edges))
    return out


def _order_statistics(
    run: Run, source: sa.FromClause, pending: Mapping[str, _Quantiles], dialect: str
) -> dict[str, list[float]]:
    """Each feature's finite values at its 0-based ``positions`` in ascending order."""
    out: dict[str, list[float]] = {name: [] for name in pending}
    aggregates: dict[str, sa.ColumnElement[Any]] = {}
    for name, q in pending.items():
        if not q.positions:
            continue
        fractions = [percentile_fraction(p, q.n) for p in q.positions]
        finite = is_finite(q.x)
        if dialect == "postgresql":
            arr: sa.ColumnElement[Any] = sa.literal(fractions, postgresql.ARRAY(sa.Double()))
            aggregates[name] = sa.func.percentile_disc(arr).within_group(q.x).filter(finite)
        elif dialect == "duckdb":  # the list form: one sort for all fractions
            listed: sa.ColumnElement[Any] = sa.literal(fractions, sa.ARRAY(sa.Double()))
            aggregates[name] = sa.func.quantile_disc(q.x, listed).filter(finite)
        elif dialect == "spark":
            spark_list = sa.func.array(*(sa.literal(f, sa.Double()) for f in fractions))
            accuracy = sa.literal(SPARK_PERCENTILE_ACCURACY, sa.Integer())
            aggregates[name] = sa.func.percentile_approx(q.x, spark_list, accuracy).filter(finite)
        else:  # SQLite: no percentile function; one exact query per edge
            for p in q.positions:
                stmt = (
                    sa.select(q.x)
                    .select_from(source)
                    .where(finite)
                    .order_by(q.x)
                    .limit(1)
                    .offset(p)
                )
                out[name].append(float(_one(run, stmt)[0]))
    if aggregates:
        labelled = [a.label(f"c{i}") for i, a in enumerate(aggregates.values())]
        row = _one(run, sa.select(*labelled).select_from(source))
        for name, listed_values in zip(aggregates, row, strict=True):
            out[name] = [float(v) for v in listed_values]
    return out


def _spelled(
    col: sa.ColumnElement[Any], sql_type: str | None, dialect: str
) -> sa.ColumnElement[Any]:
    """The column's values as the in-process engine spells categories."""
    if sql_type == "bool":
        return sa.case((col, sa.literal("true", sa.String())), else_=sa.literal("false"))
    if sql_type == "text":
        return collated(col, dialect)
    return collated(sa.cast(col, sa.String()), dialect)


def _top_categories(
    run: Run,
    source: sa.FromClause,
    column: str,
    spec: FeatureSpec,
    sql_types: Mapping[str, str | None],
    dialect: str,
) -> tuple[CategoricalBins, list[int]]:
    """The ``max_categories`` most frequent spellings, ties in code point order."""
    col = source.c[column]
    spelled = _spelled(col, sql_types.get(column), dialect)
    n = sa.func.count()
    stmt = (
        sa.select(spelled, n)
        .select_from(source)
        .where(col.is_not(None))
        .group_by(spelled)
        .order_by(n.desc(), spelled)
        .limit(spec.max_categories)
    )
    rows = run(stmt)
    return CategoricalBins(tuple(str(v) for v, _ in rows)), [int(c) for _, c in rows]
