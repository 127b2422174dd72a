"""A monitor's reference given as a profile file instead of data.

``reference: {profile: model/reference-profile.json}`` scores the live data against a
profile fitted elsewhere (``driftmon.Profile.fit(...).save(...)``, e.g. by the training
pipeline, shipped beside the model), so the daemon needs no access to the training data.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from driftmon.config._base import ConfigModel, NonEmptyStr
from driftmon.config.sources import base_dir_from, resolve_path

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
