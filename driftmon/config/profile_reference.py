"""A monitor's reference given as a profile file instead of data.

``reference: {profile: model/reference-profile.json}`` scores the live data against a
profile fitted elsewhere (``driftmon.Profile.fit(...).save(...)``, e.g. by the training
pipeline, shipped beside the model), so the daemon needs no access to the training data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag, ValidationInfo, field_validator

from driftmon.config._base import ConfigModel, NonEmptyStr, fail
from driftmon.config.sources import (
    FILE_TAG,
    SQL_TAG,
    FileSourceConfig,
    SqlSourceConfig,
    _check_kind,
    base_dir_from,
    resolve_path,
)

PROFILE_TAG = "profile reference"
TAGS = frozenset({PROFILE_TAG})


class ProfileReferenceConfig(ConfigModel):
    """The reference as a saved profile: its bins and reference counts, no rows."""

    kind: ClassVar[Literal["profile"]] = "profile"

    profile: NonEmptyStr = Field(
        description="Profile file written by driftmon.Profile.save, relative to the config "
        "file's folder; absolute once loaded. It fixes each feature's bins."
    )

    @field_validator("profile")
    @classmethod
    def _resolve(cls, value: str, info: ValidationInfo) -> str:
        return resolve_path(value, base_dir_from(info))


def _reference_tag(value: Any) -> str | None:
    if isinstance(value, Mapping):
        if "profile" in value:
            return PROFILE_TAG
        return FILE_TAG if "path" in value else SQL_TAG
    if isinstance(value, ProfileReferenceConfig):
        return PROFILE_TAG
    return FILE_TAG if isinstance(value, FileSourceConfig) else SQL_TAG


def _check_reference_kind(value: Any) -> Any:
    if isinstance(value, ProfileReferenceConfig):
        return value
    if isinstance(value, Mapping) and "profile" in value:
        others = [repr(str(k)) for k in value if k != "profile"]
        if others:
            raise fail(
                "'profile' is the whole reference (a saved profile file) and goes alone; "
                f"also got {', '.join(others)}"
            )
        return value
    if isinstance(value, Mapping) and "path" not in value and "url" not in value:
        keys = ", ".join(repr(str(k)) for k in value) or "none"
        raise fail(
            "expected 'path' (a CSV/Parquet file or glob), 'url' (an SQLAlchemy URL, with "
            "'query' or 'table') or 'profile' (a profile file saved by driftmon.Profile); "
            f"got keys: {keys}"
        )
    return _check_kind(value)


ReferenceConfig = Annotated[
    Annotated[FileSourceConfig, Tag(FILE_TAG)]
    | Annotated[SqlSourceConfig, Tag(SQL_TAG)]
    | Annotated[ProfileReferenceConfig, Tag(PROFILE_TAG)],
    Discriminator(_reference_tag),
    BeforeValidator(_check_reference_kind),
]
"""A monitor's reference: a file source, a SQL source, or a saved profile."""
