"""A monitor's reference: data (a file, SQL or Spark source), its live source's past, or a
profile.

The kind is chosen by the keys present: ``path`` makes a file source, ``url`` a SQL source,
``spark`` a Spark source, ``from_live`` a rolling reference (``driftmon.config.rolling``),
``profile`` a saved profile file (``driftmon.config.profile_reference``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Discriminator, Tag

from driftmon.config._base import fail
from driftmon.config.profile_reference import PROFILE_TAG, ProfileReferenceConfig
from driftmon.config.rolling import FROM_LIVE_TAG, FromLiveReference
from driftmon.config.sources import (
    FILE_TAG,
    SPARK_TAG,
    SQL_TAG,
    FileSourceConfig,
    SparkSourceConfig,
    SqlSourceConfig,
    _check_kind,
    _kind_tag,
)

_ALONE = {
    "from_live": "'from_live' takes the reference from the live source and goes alone",
    "profile": "'profile' is the whole reference (a saved profile file) and goes alone",
}


def _reference_tag(value: Any) -> str | None:
    if isinstance(value, Mapping):
        if "from_live" in value:
            return FROM_LIVE_TAG
        if "profile" in value:
            return PROFILE_TAG
        return _kind_tag(value)
    if isinstance(value, FromLiveReference):
        return FROM_LIVE_TAG
    if isinstance(value, ProfileReferenceConfig):
        return PROFILE_TAG
    return _kind_tag(value)


def _check_reference_kind(value: Any) -> Any:
    if isinstance(value, FromLiveReference | ProfileReferenceConfig):
        return value
    if isinstance(value, Mapping):
        for key, alone in _ALONE.items():
            if key in value:
                others = [repr(str(k)) for k in value if k != key]
                if others:
                    raise fail(f"{alone}; also got {', '.join(others)}")
                return value
        if "path" not in value and "url" not in value and "spark" not in value:
            keys = ", ".join(repr(str(k)) for k in value) or "none"
            raise fail(
                "expected 'path' (a CSV/Parquet file or glob), 'url' (an SQLAlchemy URL, with "
                "'query' or 'table'), 'spark' (a Spark Connect server and its table, query or "
                "path), 'from_live' (a past window of the live source) or 'profile' (a profile "
                f"file saved by driftmon.Profile); got keys: {keys}"
            )
    return _check_kind(value)


ReferenceConfig = Annotated[
    Annotated[FileSourceConfig, Tag(FILE_TAG)]
    | Annotated[SqlSourceConfig, Tag(SQL_TAG)]
    | Annotated[SparkSourceConfig, Tag(SPARK_TAG)]
    | Annotated[FromLiveReference, Tag(FROM_LIVE_TAG)]
    | Annotated[ProfileReferenceConfig, Tag(PROFILE_TAG)],
    Discriminator(_reference_tag),
    BeforeValidator(_check_reference_kind),
]
"""A monitor's reference: a file, SQL or Spark source, a window of its live source, or a
saved profile."""
