"""The profile file: a fitted reference as a versioned JSON document.

``driftmon.Profile.save`` writes one, ``driftmon.Profile.load`` and a monitor with
``reference: {profile: FILE}`` read one. The schema (README, "Profile file") is::

    {"driftmon_profile": 1, "driftmon_version": "0.1.0", "name": "...",
     "created_at": "2026-11-29T10:00:00+00:00", "rows": 100000,
     "thresholds": {...}, "smoothing": 0.5, "reference_is_sample": true,
     "features": [
       {"config": {"name": "age", "type": "numeric", "bins": 10},
        "column_kind": "integer", "bins": {"kind": "numeric", "edges": [...]},
        "counts": [...]},
       {"config": {"name": "x"}, "error": "column 'x' not found in ..."}]}

``driftmon_profile`` is the format version: a file of a newer version than this driftmon
reads is refused with a message saying to upgrade, never half-read. ``config`` holds the
feature's YAML keys, validated as in a configuration file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError, model_validator

from driftmon import __version__
from driftmon.config._base import ConfigModel, Float, Int, NonEmptyStr, fail
from driftmon.config.comparison import ComparisonConfig
from driftmon.config.loader import validation_message
from driftmon.config.models import FeatureConfig
from driftmon.config.thresholds import SignificanceThresholds, ThresholdsConfig
from driftmon.core.bins import BinningError, bins_from_dict
from driftmon.core.divergence import DEFAULT_SMOOTHING
from driftmon.core.histogram import Histogram
from driftmon.core.kinds import ColumnKind
from driftmon.core.profile import FeatureProfile, ReferenceProfile
from driftmon.errors import ProfileError

PROFILE_FILE_VERSION = 1
"""The version this driftmon writes, and the newest it reads."""

MAX_PROFILE_BYTES = 256 * 1024 * 1024
"""Largest profile file read (a profile holds bins and counts, never rows)."""

BINNING_KEYS = ("type", "bins", "strategy", "edges", "max_categories")
"""Feature keys that decide the bins, which a profile fixes."""


class NumericLayout(ConfigModel):
    """Inner edges of a numeric feature's bins (values below the first edge, between edges,
    at or above the last, then missing)."""

    kind: Literal["numeric"] = Field(description="numeric")
    edges: tuple[Float, ...] = Field(description="Finite, strictly increasing inner edges.")


class CategoricalLayout(ConfigModel):
    """Kept categories of a categorical feature, most frequent first (then other, missing)."""

    kind: Literal["categorical"] = Field(description="categorical")
    categories: tuple[str, ...] = Field(description="The kept categories, unique.")


class FeatureEntry(ConfigModel):
    """One feature of a profile file: its configuration, and its bins and reference counts
    (or why it could not be fitted)."""

    config: FeatureConfig = Field(description="The feature's YAML keys.")
    column_kind: ColumnKind | None = Field(
        default=None, description="Kind of the reference column; null when it had no rows."
    )
    bins: NumericLayout | CategoricalLayout | None = Field(
        default=None, discriminator="kind", description="The fitted bin layout."
    )
    counts: tuple[Int, ...] | None = Field(
        default=None, description="Reference rows per bin, the missing bin last."
    )
    error: NonEmptyStr | None = Field(
        default=None, description="Why the feature could not be fitted (then no bins)."
    )

    @model_validator(mode="after")
    def _fitted_or_failed(self) -> FeatureEntry:
        fitted = self.bins is not None and self.counts is not None
        if self.error is None and not fitted:
            raise fail("expected 'bins' and 'counts' (a fitted feature) or 'error'")
        if self.error is not None and (self.bins is not None or self.counts is not None):
            raise fail("a feature with 'error' has no 'bins' or 'counts'")
        if self.counts is not None and any(c < 0 for c in self.counts):
            raise fail("expected counts >= 0")
        return self


class ProfileFile(ConfigModel):
    """A whole profile file (see the module docstring)."""

    driftmon_profile: Int = Field(description="Format version of the file.")
    driftmon_version: str = Field(default="", description="driftmon that wrote the file.")
    name: NonEmptyStr = Field(description="Name of the profile, shown in reports.")
    created_at: datetime | None = Field(default=None, description="When it was fitted (UTC).")
    rows: Int = Field(ge=0, description="Rows of the reference data.")
    thresholds: ThresholdsConfig = Field(
        default_factory=SignificanceThresholds,
        description="Threshold policy of features without their own.",
    )
    smoothing: Float = Field(default=DEFAULT_SMOOTHING, gt=0.0, description="Default smoothing.")
    reference_is_sample: bool = Field(default=True, description="Reference is a sample.")
    features: tuple[FeatureEntry, ...] = Field(description="The features, in order.")


def feature_keys(feature: FeatureConfig) -> dict[str, Any]:
    """A feature's YAML keys as written to a profile: those given, the type always, and a
    threshold policy in full (so its ``policy`` is never left to be implied)."""
    keys = feature.model_dump(mode="json", by_alias=True, exclude_unset=True)
    keys = {"name": feature.name, "type": feature.type, **keys}
    if feature.thresholds is not None:
        keys["thresholds"] = feature.thresholds.model_dump(mode="json", by_alias=True)
    return keys


def profile_document(
    config: ComparisonConfig, reference: ReferenceProfile, created_at: datetime
) -> dict[str, Any]:
    """The JSON document of a fitted reference (errors from its metadata)."""
    errors: Mapping[str, str] = reference.metadata.get("feature_errors", {})
    fitted = {f.name: f for f in reference.features}
    entries: list[dict[str, Any]] = []
    for feature in config.features:
        fp = fitted.get(feature.name)
        entry: dict[str, Any] = {"config": feature_keys(feature)}
        if fp is None:
            entry["error"] = errors.get(feature.name, "feature could not be computed")
        else:
            entry["column_kind"] = fp.column_kind
            entry["bins"] = fp.bins.to_dict()
            entry["counts"] = fp.reference.to_list()
        entries.append(entry)
    return {
        "driftmon_profile": PROFILE_FILE_VERSION,
        "driftmon_version": __version__,
        "name": config.name,
        "created_at": created_at.isoformat(),
        "rows": reference.rows,
        "thresholds": config.thresholds.model_dump(mode="json", by_alias=True),
        "smoothing": config.smoothing,
        "reference_is_sample": config.reference_is_sample,
        "features": entries,
    }


def write_profile(path: str | Path, document: Mapping[str, Any]) -> None:
    """Write ``document`` to ``path`` (via a temporary file, so a reader never sees half)."""
    target = Path(path)
    text = json.dumps(document, indent=1, allow_nan=False, ensure_ascii=False)
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ProfileError(f"{path}: cannot write the profile: {exc.strerror or exc}") from exc


def read_profile(path: str | Path) -> ProfileFile:
    """The validated profile file at ``path``; ``ProfileError`` saying what is wrong."""
    return parse_profile(profile_bytes(path), str(path))


def profile_bytes(path: str | Path) -> bytes:
    """The bytes of the profile file at ``path``; ``ProfileError`` when they cannot be read."""
    display = str(path)
    try:
        with Path(path).open("rb") as fh:
            raw = fh.read(MAX_PROFILE_BYTES + 1)
    except FileNotFoundError:
        raise ProfileError(f"{display}: profile file not found") from None
    except IsADirectoryError:
        raise ProfileError(f"{display}: is a directory, expected a profile file") from None
    except OSError as exc:
        raise ProfileError(f"{display}: cannot read the profile: {exc.strerror or exc}") from exc
    if len(raw) > MAX_PROFILE_BYTES:
        raise ProfileError(
            f"{display}: larger than {MAX_PROFILE_BYTES // 2**20} MiB; not a driftmon profile"
        )
    return raw


def parse_profile(raw: bytes, display: str) -> ProfileFile:
    """``raw`` parsed and validated as a profile file named ``display`` in messages."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ProfileError(f"{display}: not a JSON profile file ({exc})") from None
    return profile_from_data(data, display)


def profile_from_data(data: Any, display: str) -> ProfileFile:
    """``data`` (parsed JSON) checked and validated as a profile file."""
    if not isinstance(data, Mapping) or "driftmon_profile" not in data:
        raise ProfileError(
            f"{display}: not a driftmon profile (expected a JSON object with "
            f"'driftmon_profile', the format version)"
        )
    version = data["driftmon_profile"]
    if type(version) is not int or version < 1:
        raise ProfileError(
            f"{display}: driftmon_profile: expected a format version (an integer >= 1), "
            f"got {version!r}"
        )
    if version > PROFILE_FILE_VERSION:
        writer = data.get("driftmon_version")
        by = f" by driftmon {writer}" if isinstance(writer, str) and writer else ""
        raise ProfileError(
            f"{display}: profile format {version} (written{by}) is newer than this driftmon "
            f"{__version__} reads (up to {PROFILE_FILE_VERSION}); upgrade driftmon to read it"
        )
    try:
        document = ProfileFile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(validation_message(exc, data, display)) from None
    _check_layouts(document, display)
    return document


def _check_layouts(document: ProfileFile, display: str) -> None:
    names: set[str] = set()
    for i, entry in enumerate(document.features):
        where = f"{display}: features[{i}] (name {entry.config.name!r})"
        if entry.config.name in names:
            raise ProfileError(f"{where}: duplicate feature name")
        names.add(entry.config.name)
        if entry.bins is None or entry.counts is None:
            continue
        if entry.bins.kind != entry.config.type:
            raise ProfileError(
                f"{where}: bins are {entry.bins.kind} but the feature is {entry.config.type}"
            )
        try:
            bins = bins_from_dict(entry.bins.model_dump())
        except BinningError as exc:
            raise ProfileError(f"{where}.bins: {exc}") from None
        if len(entry.counts) != bins.n_bins:
            raise ProfileError(
                f"{where}.counts: expected {bins.n_bins} counts (one per bin, missing "
                f"included), got {len(entry.counts)}"
            )
        if sum(entry.counts) != document.rows:
            raise ProfileError(
                f"{where}.counts: they add up to {sum(entry.counts)} rows, but the profile "
                f"has rows {document.rows}"
            )


def reference_of(document: ProfileFile) -> ReferenceProfile:
    """The fitted reference a profile file holds (errors in metadata, as the runner keeps)."""
    features: list[FeatureProfile] = []
    errors: dict[str, str] = {}
    for entry in document.features:
        if entry.error is not None or entry.bins is None or entry.counts is None:
            errors[entry.config.name] = entry.error or "feature could not be computed"
            continue
        features.append(
            FeatureProfile(
                name=entry.config.name,
                bins=bins_from_dict(entry.bins.model_dump()),
                reference=Histogram(np.asarray(entry.counts, dtype=np.int64)),
                column_kind=entry.column_kind,
            )
        )
    return ReferenceProfile(
        features=tuple(features),
        rows=document.rows,
        metadata={"feature_errors": errors, "source": f"profile {document.name!r}"},
    )


def comparison_of(document: ProfileFile) -> ComparisonConfig:
    """The features and scoring settings a profile file was fitted with."""
    return ComparisonConfig(
        name=document.name,
        features=tuple(e.config for e in document.features),
        thresholds=document.thresholds,
        smoothing=document.smoothing,
        reference_is_sample=document.reference_is_sample,
    )


def binning_mismatch(configured: FeatureConfig, fitted: FeatureConfig) -> str | None:
    """Why a monitor's feature cannot use a profile's: a binning key given in the
    configuration that the profile was fitted otherwise (None: they agree)."""
    given = configured.model_fields_set
    differ = [
        f"{key}: {getattr(configured, key)!r} (profile: {getattr(fitted, key)!r})"
        for key in BINNING_KEYS
        if key in given and getattr(configured, key) != getattr(fitted, key)
    ]
    if not differ:
        return None
    return (
        "the profile fixes the bins, and they were fitted otherwise than configured: "
        + "; ".join(differ)
        + "; remove these keys from the feature or fit the profile again"
    )
