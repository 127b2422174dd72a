"""Where the daemon keeps runs the results database cannot take now, and how many."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, ValidationInfo, field_validator

from driftmon.config._base import ConfigModel, Int, NonEmptyStr
from driftmon.config.durations import Duration
from driftmon.config.sources import base_dir_from, resolve_path

DEFAULT_SPOOL_PATH = "driftmon.spool"
DEFAULT_SPOOL_MAX_RUNS = 10_000
MAX_SPOOL_RUNS = 1_000_000
DEFAULT_SPOOL_MAX_AGE = timedelta(days=7)


class SpoolConfig(ConfigModel):
    """The durable spool: one file per run not stored yet, replayed in window order."""

    path: NonEmptyStr | None = Field(
        default=DEFAULT_SPOOL_PATH,
        validate_default=True,  # so the default folder also lands next to the config
        description="Folder of the spool, created if missing; relative to the config file's "
        "folder. It must be writable: `driftmon run` refuses to start otherwise. null: keep "
        "such runs in memory only (at most 1,000, lost when the process exits).",
    )
    max_runs: Int = Field(
        default=DEFAULT_SPOOL_MAX_RUNS,
        ge=1,
        le=MAX_SPOOL_RUNS,
        description="Most runs kept; beyond it the oldest window is dropped (logged, counted).",
    )
    max_age: Duration = Field(
        default=DEFAULT_SPOOL_MAX_AGE,
        description="Runs whose window ended longer ago than this are dropped (logged, counted).",
    )

    @field_validator("path")
    @classmethod
    def _resolve(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else resolve_path(value, base_dir_from(info))
