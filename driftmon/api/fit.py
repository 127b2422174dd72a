"""Fitting the API's reference: whole columns when they are in memory, else in passes.

A DataFrame or a Table is in memory already, so each feature is fitted on its whole
column (``build_feature_profile``); a stream is fitted in bounded memory over passes, by
the runner's ``build_reference_profile`` (``driftmon.core.reference_fit``). Both give the
same profile bit for bit (tests/core/test_reference_fit.py), the same errors too.
"""

from __future__ import annotations

from driftmon.api.data import DataSource
from driftmon.config.comparison import ComparisonConfig
from driftmon.core.histogram import ColumnTypeError
from driftmon.core.profile import FeatureProfile, ReferenceProfile, build_feature_profile
from driftmon.service.runner import build_reference_profile
from driftmon.service.scoring import column_not_found


def fit_reference(config: ComparisonConfig, source: DataSource) -> ReferenceProfile:
    """The reference profile of ``config``'s features in ``source``; a feature that cannot
    be fitted is recorded in the metadata's ``feature_errors``, as the runner does."""
    available = list(source.columns())
    wanted = sorted({f.source_column for f in config.features} & set(available))
    table = source.table(wanted)
    if table is None:
        return build_reference_profile(config, source)
    errors: dict[str, str] = {}
    profiles: list[FeatureProfile] = []
    for feature in config.features:
        column = feature.source_column
        if column not in table.column_names:
            errors[feature.name] = column_not_found(
                column, "reference", source.describe(), available
            )
            continue
        try:
            profiles.append(build_feature_profile(table.column(column), feature.feature_spec()))
        except (ColumnTypeError, ValueError) as exc:
            errors[feature.name] = f"column {column!r} in reference data: {exc}"
    return ReferenceProfile(
        features=tuple(profiles),
        rows=table.num_rows,
        metadata={"feature_errors": errors, "source": source.describe()},
    )
