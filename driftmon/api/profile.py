"""``driftmon.Profile`` and ``driftmon.compare``: fit a reference, score live data with it.

Both go through the code the daemon runs: the reference is fitted as the runner fits it
(``driftmon.api.fit``), ``LiveTally`` and ``evaluate``
(``driftmon.service.scoring``) count and score the live data, so the numbers are those of
``driftmon check`` on the same rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from driftmon.api.data import DataSource
from driftmon.api.features import FeatureArg, resolve
from driftmon.api.fit import fit_reference
from driftmon.api.report import Report
from driftmon.clock import utcnow
from driftmon.config.comparison import ComparisonConfig
from driftmon.core.profile import ReferenceProfile
from driftmon.errors import ConfigError
from driftmon.profile_file import (
    comparison_of,
    profile_document,
    read_profile,
    reference_of,
    write_profile,
)
from driftmon.results import RunResult
from driftmon.service.scoring import (
    LiveTally,
    calibrations_metadata,
    evaluate,
    noted,
    run_status,
)
from driftmon.service.thresholds import CALIBRATIONS_KEY
from driftmon.sources.base import closing_source

MIN_ROWS = 1


class Profile:
    """A fitted reference: each feature's bins and reference counts, and how to score.

    ``Profile.fit(reference)`` builds one, ``profile.compare(live)`` scores live data
    against it, ``save``/``load`` keep it in a versioned JSON file (README, "Profile
    file") that a monitor can use as its reference (``reference: {profile: FILE}``).
    """

    def __init__(
        self,
        config: ComparisonConfig,
        reference: ReferenceProfile,
        *,
        created_at: datetime,
        left_out: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._config = config
        self._reference = reference
        self._created_at = created_at
        self._left_out = tuple(left_out)

    @classmethod
    def fit(
        cls,
        data: Any,
        features: Sequence[FeatureArg] | None = None,
        *,
        thresholds: Mapping[str, Any] | None = None,
        smoothing: float | None = None,
        reference_is_sample: bool = True,
        name: str = "profile",
    ) -> Profile:
        """Fit bins on ``data`` and count it: the reference profile of ``features``.

        ``data``: a pandas DataFrame, a pyarrow Table, RecordBatch or RecordBatchReader, an
        object with ``__arrow_c_stream__`` (polars, DuckDB), or an iterable of these
        (streamed; memory is bounded by a batch). ``features``: column names or mappings of
        the YAML feature keys (None: every column of a numeric, text or boolean type).
        ``thresholds``, ``smoothing``, ``reference_is_sample``: as the monitor keys.
        """
        source = DataSource(data, "reference", replay=True)
        return cls._fit(
            source,
            features,
            source.columns,
            thresholds=thresholds,
            smoothing=smoothing,
            reference_is_sample=reference_is_sample,
            name=name,
            caller="driftmon.Profile.fit",
        )

    @classmethod
    def _fit(
        cls,
        source: DataSource,
        features: Sequence[FeatureArg] | None,
        candidates: Callable[[], Sequence[str]],
        *,
        thresholds: Mapping[str, Any] | None,
        smoothing: float | None,
        reference_is_sample: bool,
        name: str,
        caller: str,
    ) -> Profile:
        with closing_source(source):
            resolved = resolve(
                features,
                source.schema,
                candidates() if features is None else (),
                name=name,
                thresholds=thresholds,
                smoothing=smoothing,
                reference_is_sample=reference_is_sample,
                caller=caller,
            )
            reference = fit_reference(resolved.config, source)
        return cls(resolved.config, reference, created_at=utcnow(), left_out=resolved.left_out)

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        """The profile saved at ``path``; ``driftmon.ProfileError`` when the file is missing,
        malformed or written by a newer driftmon."""
        document = read_profile(path)
        created = document.created_at if document.created_at is not None else utcnow()
        return cls(comparison_of(document), reference_of(document), created_at=created)

    def save(self, path: str | Path) -> None:
        """Write the profile to ``path`` as JSON (see README, "Profile file")."""
        write_profile(path, profile_document(self._config, self._reference, self._created_at))

    @property
    def name(self) -> str:
        return self._config.name

    @property
    def features(self) -> list[str]:
        """The feature names, in order (those that could not be fitted included)."""
        return [f.name for f in self._config.features]

    @property
    def rows(self) -> int:
        """Rows of the reference data."""
        return self._reference.rows

    @property
    def errors(self) -> dict[str, str]:
        """Features whose reference could not be fitted, with the reason."""
        return dict(self._reference.metadata.get("feature_errors", {}))

    def compare(self, data: Any) -> Report:
        """Score ``data`` (any input ``fit`` takes, read once) against this profile."""
        return self._compare(DataSource(data, "live"), self._left_out_notes(None))

    def _only(self, names: Sequence[str]) -> Profile:
        """This profile restricted to the features ``names`` (a subset, in order)."""
        keep = set(names)
        config = self._config.model_copy(
            update={"features": tuple(f for f in self._config.features if f.name in keep)}
        )
        errors = {k: v for k, v in self.errors.items() if k in keep}
        reference = replace(
            self._reference,
            features=tuple(f for f in self._reference.features if f.name in keep),
            metadata={**self._reference.metadata, "feature_errors": errors},
        )
        return Profile(config, reference, created_at=self._created_at)

    def _left_out_notes(self, among: set[str] | None) -> list[str]:
        """What to say of the columns of no inferable type (only those in ``among``)."""
        left = [(c, t) for c, t in self._left_out if among is None or c in among]
        if not left:
            return []
        listed = ", ".join(f"{c!r} ({t})" for c, t in left)
        return [f"not compared: {listed}; name them in features= with a type to compare them"]

    def _compare(self, source: DataSource, notes: Sequence[str]) -> Report:
        started = utcnow()
        t0 = time.monotonic()
        with closing_source(source):
            tally = LiveTally(self._config, self._reference, source.columns(), source.describe())
            for batch in source.batches(tally.columns):
                tally.add(batch)
            kind_notes = tally.notes()
        evaluation = evaluate(
            self._config, self._reference, tally.histograms, tally.errors, tally.rows, MIN_ROWS
        )
        if evaluation.calibrations is not None:  # kept, so they are computed once
            metadata = dict(self._reference.metadata)
            metadata[CALIBRATIONS_KEY] = calibrations_metadata(evaluation.calibrations)
            self._reference = replace(self._reference, metadata=metadata)
        features = tuple(noted(f, kind_notes.get(f.feature)) for f in evaluation.features)
        finished = started + timedelta(seconds=time.monotonic() - t0)
        run = RunResult(
            monitor=self.name,
            window_start=None,
            window_end=finished,
            started_at=started,
            finished_at=finished,
            status=run_status(features, tally.rows, MIN_ROWS),
            live_rows=tally.rows,
            reference_rows=self._reference.rows,
            features=features,
            message="; ".join(notes) or None,
        )
        smoothing = {f.name: f.effective_smoothing(self._config) for f in self._config.features}
        return Report(run, self._reference, smoothing)

    def __repr__(self) -> str:
        return (
            f"<driftmon.Profile {self.name!r}: {len(self.features)} feature(s), "
            f"{self.rows} reference rows>"
        )


def compare(
    reference: Any,
    live: Any,
    features: Sequence[FeatureArg] | None = None,
    *,
    thresholds: Mapping[str, Any] | None = None,
    smoothing: float | None = None,
    reference_is_sample: bool = True,
    name: str = "compare",
) -> Report:
    """Compare ``live`` with ``reference``: ``Profile.fit(reference, ...).compare(live)``.

    ``features`` None compares every column both have whose type can be inferred (numeric
    for numbers, categorical for text and booleans); the report's ``message`` names the
    columns left out.
    """
    # The reference is read to the end before the live data is opened: two results of one
    # database connection (DuckDB) cannot stream at once.
    ref_source = DataSource(reference, "reference", replay=True)
    live_source = DataSource(live, "live")
    profile = Profile._fit(
        ref_source,
        features,
        ref_source.columns,
        thresholds=thresholds,
        smoothing=smoothing,
        reference_is_sample=reference_is_sample,
        name=name,
        caller="driftmon.compare",
    )
    if features is not None:
        return profile._compare(live_source, profile._left_out_notes(None))
    ref_columns = list(ref_source.columns())
    live_columns = list(live_source.columns())
    shared = set(ref_columns) & set(live_columns)
    only_ref = [c for c in ref_columns if c not in shared]
    only_live = [c for c in live_columns if c not in shared]
    compared = [f for f in profile.features if f in shared]
    if not compared:
        raise ConfigError(
            "driftmon.compare: the reference and the live data have no column to compare in "
            f"common; reference: {', '.join(ref_columns) or 'none'}; "
            f"live: {', '.join(live_columns) or 'none'}"
        )
    notes = []
    if only_ref:
        notes.append(f"only in the reference: {', '.join(only_ref)}")
    if only_live:
        notes.append(f"only in the live data: {', '.join(only_live)}")
    subset = profile._only(compared)
    return subset._compare(live_source, [*notes, *profile._left_out_notes(shared)])


# Shown as driftmon.Profile and driftmon.compare, where they are public (see report.py).
Profile.__module__ = "driftmon"
compare.__module__ = "driftmon"
