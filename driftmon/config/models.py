"""The configuration tree: database, server, retention, logging and the monitors.

``load_config`` (in ``loader``) builds a ``Config`` from a YAML file; these models hold the
validation rules and the small helpers the rest of driftmon reads the config through.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from driftmon.config._base import ConfigModel, Float, Int, Name, NonEmptyStr, fail
from driftmon.config.catch_up import DEFAULT_CATCH_UP, CatchUpConfig
from driftmon.config.durations import Duration, Timeout
from driftmon.config.reference import ReferenceConfig
from driftmon.config.rolling import FromLiveReference, check_rolling
from driftmon.config.schedule import ScheduleConfig
from driftmon.config.sources import (
    LiveSourceConfig,
    base_dir_from,
    check_sqlalchemy_url,
)
from driftmon.config.spool import SpoolConfig
from driftmon.config.thresholds import (
    CalibratedThresholds,
    SignificanceThresholds,
    ThresholdsConfig,
)
from driftmon.core.bins import NumericStrategy
from driftmon.core.divergence import DEFAULT_SMOOTHING
from driftmon.core.profile import FeatureKind, FeatureSpec
from driftmon.errors import ConfigError
from driftmon.secrets import mask_url

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["json", "text"]

DEFAULT_DATABASE_URL = "sqlite:///driftmon.db"
DEFAULT_RETENTION = timedelta(days=90)
DEFAULT_SOURCE_TIMEOUT = timedelta(minutes=5)

# Upper bounds that keep one feature's memory and stored size per run sane.
MAX_BINS = 1_000
MAX_CATEGORIES = 10_000
MAX_CALIBRATION_DRAWS = 10_000_000
"""Most counts a calibration may draw (windows x bins): about 650 MB and 10 s at the bound."""


@functools.cache
def stored_name_lengths() -> dict[str, int]:
    """The longest monitor and feature names the results database holds, from its schema."""
    # Imported on first use: driftmon.storage pulls in the results store, which reading a
    # configuration does not otherwise need.
    from driftmon.storage.models import feature_results_table, monitors_table

    columns = {"monitor": monitors_table.c.name, "feature": feature_results_table.c.feature}
    lengths: dict[str, int] = {}
    for what, column in columns.items():
        length = getattr(column.type, "length", None)  # String(n) and SafeString(n) have one
        if not isinstance(length, int):
            raise TypeError(f"column {column} has no length; expected a bounded string")
        lengths[what] = length
    return lengths


def _fits_results_database(value: str, what: str) -> str:
    limit = stored_name_lengths()[what]
    if len(value) > limit:
        raise fail(
            f"expected a {what} name of at most {limit} characters (the results database "
            f"stores no longer ones), got {len(value)} characters: {value[:40]!r}..."
        )
    return value


def _non_empty_unique(items: tuple[Any, ...], what: str) -> None:
    # Checked here rather than with min_length: pydantic reports min_length again, wrongly,
    # whenever one of the items is invalid.
    if not items:
        raise fail(f"expected at least one {what}, got an empty list")
    seen: set[str] = set()
    for item in items:
        if item.name in seen:
            raise fail(f"duplicate {what} name {item.name!r}; expected unique names")
        seen.add(item.name)


class ScoringScope(Protocol):
    """What scoring reads of a monitor: its name (seeds calibrations), features, defaults
    for features without their own, and its read bound. A ``MonitorConfig``, or the Python
    API's ``ComparisonConfig`` (``driftmon.config.comparison``)."""

    @property
    def name(self) -> str: ...
    @property
    def features(self) -> tuple[FeatureConfig, ...]: ...
    @property
    def thresholds(self) -> ThresholdsConfig: ...
    @property
    def smoothing(self) -> float: ...
    @property
    def reference_is_sample(self) -> bool: ...
    @property
    def source_timeout(self) -> timedelta | None: ...


class FeatureConfig(ConfigModel):
    """One column to monitor, how to bin it, and optional per-feature overrides."""

    name: Name = Field(description="Feature name, used in results, metrics and alerts.")
    type: FeatureKind = Field(default="numeric", description="numeric or categorical.")
    bins: Int = Field(
        default=10,
        ge=1,
        le=MAX_BINS,
        description="Number of value bins fitted on the reference (numeric only).",
    )
    strategy: NumericStrategy = Field(
        default="quantile", description="How bins are fitted: quantile or uniform (numeric only)."
    )
    edges: tuple[Float, ...] | None = Field(
        default=None,
        description="Explicit inner bin edges, finite and strictly increasing, at most "
        f"{MAX_BINS - 1} (numeric only).",
    )
    max_categories: Int = Field(
        default=50,
        ge=1,
        le=MAX_CATEGORIES,
        description="Most frequent categories kept; the rest are 'other' (categorical).",
    )
    column: NonEmptyStr | None = Field(
        default=None, description="Column in the sources; defaults to the feature name."
    )
    thresholds: ThresholdsConfig | None = Field(
        default=None, description="Threshold policy for this feature; defaults to the monitor's."
    )
    smoothing: Float | None = Field(
        default=None,
        gt=0.0,
        description="Pseudo-count for empty reference bins; defaults to monitor's.",
    )

    _NUMERIC_ONLY: ClassVar[tuple[str, ...]] = ("bins", "strategy", "edges")

    @field_validator("name")
    @classmethod
    def _check_name_length(cls, value: str) -> str:
        return _fits_results_database(value, "feature")

    @field_validator("edges")
    @classmethod
    def _check_edges(cls, value: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if value is None:
            return None
        if not value:
            raise fail("expected a non-empty list of edges, got an empty list")
        if len(value) > MAX_BINS - 1:
            raise fail(f"expected at most {MAX_BINS - 1} edges ({MAX_BINS} bins), got {len(value)}")
        for a, b in itertools.pairwise(value):
            if b <= a:
                raise fail(f"expected strictly increasing edges, got {a:g} followed by {b:g}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FeatureConfig:
        # A key counts as given when it differs from its default, so a model_dump() of a
        # valid config validates again.
        changed = {k for k, f in type(self).model_fields.items() if getattr(self, k) != f.default}
        if self.type == "categorical":
            wrong = [k for k in self._NUMERIC_ONLY if k in changed]
            if wrong:
                keys = ", ".join(repr(k) for k in wrong)
                raise fail(f"{keys} apply only to numeric features; this one is categorical")
        elif "max_categories" in changed:
            raise fail("'max_categories' applies only to categorical features; this one is numeric")
        if self.edges is not None:
            if "bins" in changed:
                raise fail("give either 'bins' or 'edges', not both")
            if self.strategy != "quantile":
                raise fail(
                    f"'edges' fix the bins, so 'strategy: {self.strategy}' cannot apply; "
                    "remove one of them"
                )
        return self

    @property
    def value_bins(self) -> int:
        """Most value bins the feature can have (without the missing bin)."""
        if self.type == "categorical":
            return self.max_categories + 1  # the kept categories and "other"
        return len(self.edges) + 1 if self.edges is not None else self.bins

    @property
    def source_column(self) -> str:
        """The column read from the sources."""
        return self.column if self.column is not None else self.name

    def feature_spec(self) -> FeatureSpec:
        """The pure-core binning specification of this feature."""
        return FeatureSpec(
            name=self.name,
            kind=self.type,
            bins=self.bins,
            strategy=self.strategy,
            edges=self.edges,
            max_categories=self.max_categories,
        )

    def effective_thresholds(self, monitor: ScoringScope) -> ThresholdsConfig:
        """This feature's own threshold policy, else the monitor's."""
        return self.thresholds if self.thresholds is not None else monitor.thresholds

    def effective_smoothing(self, monitor: ScoringScope) -> float:
        """This feature's own smoothing, else the monitor's."""
        return self.smoothing if self.smoothing is not None else monitor.smoothing


def check_calibration_draws(scope: ScoringScope) -> None:
    """Every calibrated feature of ``scope`` draws at most MAX_CALIBRATION_DRAWS counts."""
    for f in scope.features:
        policy = f.effective_thresholds(scope)
        if not isinstance(policy, CalibratedThresholds):
            continue
        draws = policy.windows * f.value_bins
        if draws > MAX_CALIBRATION_DRAWS:
            raise fail(
                f"feature {f.name!r}: calibrated thresholds would draw windows x bins = "
                f"{policy.windows:,} x {f.value_bins:,} = {draws:,} counts; expected at "
                f"most {MAX_CALIBRATION_DRAWS:,} (lower thresholds.windows, or the "
                "feature's bins or max_categories)"
            )


def check_features(items: tuple[FeatureConfig, ...]) -> None:
    """At least one feature, unique names (a monitor's or a comparison's)."""
    _non_empty_unique(items, "feature")


class MonitorConfig(ConfigModel):
    """One monitor: when it runs, what it compares, and which features."""

    name: Name = Field(description="Monitor name, unique; used in results, metrics, alerts.")
    enabled: bool = Field(
        default=True,
        description="Disabled monitors are neither scheduled nor run.",
    )
    schedule: ScheduleConfig = Field(description="When to run: {every: 5m} or {cron: '...'}.")
    reference: ReferenceConfig = Field(
        description="Reference data: {path: ...}, {url: ...}, a past window of the live "
        "source: {from_live: {offset: ..., window: ...}}, or a saved profile: {profile: FILE}."
    )
    live: LiveSourceConfig = Field(
        description="Live data, optionally windowed by timestamp_column and window."
    )
    features: tuple[FeatureConfig, ...] = Field(
        description="Features to monitor, at least one, unique names."
    )
    thresholds: ThresholdsConfig = Field(
        default_factory=SignificanceThresholds,
        description="Threshold policy for every feature without its own; default: "
        "significance (G-test at alpha 0.01 / 0.001), whose false-alarm rate holds at every "
        "window size.",
    )
    smoothing: Float = Field(
        default=DEFAULT_SMOOTHING,
        gt=0.0,
        description="Pseudo-count (rows) added to empty reference bins holding live mass.",
    )
    reference_is_sample: bool = Field(
        default=True,
        description="Reference is a sample (two-sample G-test) rather than exact truth.",
    )
    source_timeout: Timeout | None = Field(
        default=DEFAULT_SOURCE_TIMEOUT,
        description="Longest a run may spend reading one source; null: no limit.",
    )
    catch_up: CatchUpConfig | None = Field(
        default_factory=lambda: CatchUpConfig(within=DEFAULT_CATCH_UP),
        description="Score late the scheduled windows missed since the last stored one on "
        "start, and those a late tick skipped while running (time-windowed live sources "
        "only), bounded by a duration (24h) or {windows: N}; null: only the current window.",
    )

    @field_validator("name")
    @classmethod
    def _check_name_length(cls, value: str) -> str:
        return _fits_results_database(value, "monitor")

    @field_validator("features")
    @classmethod
    def _unique_features(cls, value: tuple[FeatureConfig, ...]) -> tuple[FeatureConfig, ...]:
        _non_empty_unique(value, "feature")
        return value

    @model_validator(mode="after")
    def _rolling_reference_has_a_window(self) -> MonitorConfig:
        check_rolling(self.name, self.reference, self.live.window)
        return self

    @property
    def rolling(self) -> FromLiveReference | None:
        """The rolling reference, when the reference is a past window of the live source."""
        return self.reference if isinstance(self.reference, FromLiveReference) else None

    @model_validator(mode="after")
    def _calibration_fits_in_memory(self) -> MonitorConfig:
        check_calibration_draws(self)
        return self

    def feature(self, name: str) -> FeatureConfig:
        """The feature called ``name``; ``ConfigError`` when there is none."""
        for f in self.features:
            if f.name == name:
                return f
        known = ", ".join(f.name for f in self.features)
        raise ConfigError(f"monitor {self.name!r} has no feature {name!r}; configured: {known}")


class DatabaseConfig(ConfigModel):
    """Where results are stored."""

    url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validate_default=True,  # so the default SQLite file also lands next to the config
        repr=False,
        description="SQLAlchemy URL; a relative SQLite file is relative to the config file.",
    )
    echo: bool = Field(default=False, description="Log every SQL statement (debugging).")
    connect_timeout: Duration = Field(
        default=timedelta(seconds=5),
        description="Longest wait for a new connection, handshake included (PostgreSQL).",
    )
    statement_timeout: Duration | None = Field(
        default=timedelta(seconds=30),
        description="Longest a statement may run (PostgreSQL) or wait for a lock (SQLite); "
        "schema upgrades are not bounded; null: no limit.",
    )
    password: str | None = Field(
        default=None,
        repr=False,
        exclude=True,
        description="Password of the URL's user, given apart from the URL: written as is, "
        "with no URL-encoding (a ${VAR} holding @, / or # stays one password).",
    )
    spool: SpoolConfig = Field(
        default_factory=SpoolConfig,
        description="The durable spool of runs the database could not take yet (daemon).",
    )

    @classmethod
    def _prepare(cls, data: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        data.setdefault("spool", {})  # validated from {} so it sees the context (base_dir)
        password, url = data.get("password"), data.get("url", DEFAULT_DATABASE_URL)
        if not isinstance(password, str) or not isinstance(url, str):
            return data  # field validation names the wrong type
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            return data  # the url field's validation explains it
        if parsed.password is not None:
            raise fail("give the password in url or in password, not in both")
        if parsed.username is None:
            raise fail(f"password needs a user name in url, got {mask_url(url)!r}")
        # SQLAlchemy encodes the password as the URL needs it; the URL is parsed back the same.
        return {**data, "url": parsed.set(password=password).render_as_string(hide_password=False)}

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str, info: ValidationInfo) -> str:
        return check_sqlalchemy_url(value, base_dir_from(info))

    @property
    def masked_url(self) -> str:
        """The URL with its password hidden, safe to log."""
        return mask_url(self.url)


class ServerConfig(ConfigModel):
    """The HTTP server for /metrics and /healthz."""

    host: NonEmptyStr = Field(
        default="127.0.0.1",
        description="Address to bind; local-only by default.",
    )
    port: Int = Field(default=9464, ge=0, le=65535, description="TCP port; 0 picks a free one.")
    external_url: str | None = Field(
        default=None,
        description=(
            "How people reach the daemon (http or https URL, e.g. behind a proxy): the "
            "pages' links start with its path, and alerts link to the pages through it."
        ),
    )

    @field_validator("external_url")
    @classmethod
    def _check_external_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return check_external_url(value)


def check_external_url(value: str) -> str:
    """``value`` without a trailing slash if it is an absolute http(s) URL of a place, with
    no user, query or fragment (the pages and the alert links append their paths to it)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises on a port that is not a number in range)
    except ValueError as exc:
        raise fail(f"expected an http or https URL, got {value!r} ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise fail(f"expected an http or https URL with a host, got {value!r}")
    if parts.username is not None or parts.password is not None:
        raise fail(f"expected a URL without a user or password, got {value!r}")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise fail(f"expected a URL without a query or fragment, got {value!r}")
    if any(c.isspace() or ord(c) < 32 for c in value):
        raise fail(f"expected a URL without spaces or control characters, got {value!r}")
    return value.rstrip("/")


class RetentionConfig(ConfigModel):
    """How long stored runs are kept."""

    max_age: Duration | None = Field(
        default=DEFAULT_RETENTION,
        description="Runs older than this are pruned; null keeps everything.",
    )


class LogConfig(ConfigModel):
    """Logging of the daemon and CLI."""

    level: LogLevel = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    format: LogFormat = Field(
        default="text",
        description="text for people, json for log collectors.",
    )

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


DEFAULT_SHUTDOWN_GRACE = timedelta(seconds=20)


class EngineConfig(ConfigModel):
    """How many cores scoring may use (caps for hosts shared with other work), and how long
    runs may go on when the daemon is stopped."""

    threads: Int | None = Field(
        default=None,
        ge=1,
        description="Most threads counting one window's columns at a time, in all scoring "
        "processes together; null: every core the process may run on.",
    )
    processes: Int | None = Field(
        default=None,
        ge=0,
        description="Processes `driftmon run` scores monitors in, apart from the one serving "
        "HTTP; 0 scores in the daemon's own process; null: one per core (at most threads), "
        "at most one per enabled monitor.",
    )
    shutdown_grace: Timeout = Field(
        default=DEFAULT_SHUTDOWN_GRACE,
        description="How long runs in progress may go on after SIGTERM or SIGINT before they "
        "are abandoned (nothing of them is stored); `driftmon run` exits at most 5 s later. "
        "Keep it 5 s under the supervisor's stop timeout (Kubernetes gives 30 s).",
    )


class Config(ConfigModel):
    """A whole configuration file, validated; ``path`` and ``base_dir`` come from the loader."""

    database: DatabaseConfig = Field(
        default_factory=DatabaseConfig, description="Results database."
    )
    server: ServerConfig = Field(default_factory=ServerConfig, description="HTTP server.")
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="Pruning of old runs."
    )
    log: LogConfig = Field(default_factory=LogConfig, description="Logging.")
    engine: EngineConfig = Field(
        default_factory=EngineConfig, description="Threads and processes used for scoring."
    )
    monitors: tuple[MonitorConfig, ...] = Field(
        description="The monitors, at least one, unique names."
    )
    path: SkipJsonSchema[Path] = Field(
        default=Path("<in-memory>"),
        exclude=True,
        description="The config file (set by the loader).",
    )
    base_dir: SkipJsonSchema[Path] = Field(
        default_factory=Path.cwd,
        exclude=True,
        description="Folder relative paths resolve against (set by the loader).",
    )

    _internal_fields: ClassVar[frozenset[str]] = frozenset({"path", "base_dir"})

    @classmethod
    def _prepare(cls, data: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # Absent sections are validated from {} so they see the context (base_dir) too.
        for section in ("database", "server", "retention", "log", "engine"):
            data.setdefault(section, {})
        ctx = info.context
        if isinstance(ctx, Mapping):
            if ctx.get("path") is not None:
                data["path"] = Path(ctx["path"])
            if ctx.get("base_dir") is not None:
                data["base_dir"] = Path(ctx["base_dir"])
        return data

    @field_validator("monitors")
    @classmethod
    def _unique_monitors(cls, value: tuple[MonitorConfig, ...]) -> tuple[MonitorConfig, ...]:
        _non_empty_unique(value, "monitor")
        return value

    def monitor(self, name: str) -> MonitorConfig:
        """The monitor called ``name``; ``ConfigError`` naming the configured ones otherwise."""
        for m in self.monitors:
            if m.name == name:
                return m
        known = ", ".join(m.name for m in self.monitors)
        raise ConfigError(f"unknown monitor {name!r}; configured: {known}")
