"""Where a monitor reads rows: a file source (path or glob), a SQL source (query or table)
or a Spark source (a table, query or files read by a Spark cluster through Spark Connect).

The kind is chosen by the keys present: ``path`` makes a file source, ``url`` a SQL source,
``spark`` a Spark source.
Relative file paths and relative SQLite database files are resolved against the config
file's folder when the loader passes ``base_dir`` in the validation context.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from driftmon.config._base import ConfigModel, Int, NonEmptyStr, describe_value, fail
from driftmon.config.durations import Duration
from driftmon.drivers import missing_driver
from driftmon.secrets import mask_url, scrub

FileFormat = Literal["csv", "parquet"]
# Same values as driftmon.sources.timestamps.EpochUnit; mypy checks them where they meet.
TimestampUnit = Literal["s", "ms", "us", "ns"]
FORMAT_BY_SUFFIX: dict[str, FileFormat] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zst", ".lz4")
DEFAULT_BATCH_ROWS = 65_536
MAX_BATCH_ROWS = 10_000_000  # one batch is held in memory whole

# Union tags; the loader drops them from key paths.
FILE_TAG = "file source"
SQL_TAG = "sql source"
SPARK_TAG = "spark source"
TAGS = frozenset({FILE_TAG, SQL_TAG, SPARK_TAG})
_KIND_KEYS = {"path": FILE_TAG, "url": SQL_TAG, "spark": SPARK_TAG}
_KIND_NAMES = {"path": "file source", "url": "SQL source", "spark": "Spark source"}
SPARK_CONNECT_SCHEME = "sc://"


def base_dir_from(info: ValidationInfo) -> Path | None:
    """The folder relative paths resolve against, when the loader provided one."""
    ctx = info.context
    if isinstance(ctx, Mapping) and ctx.get("base_dir") is not None:
        return Path(ctx["base_dir"])
    return None


def resolve_path(path: str, base_dir: Path | None) -> str:
    """``path`` (which may hold glob characters) made absolute against ``base_dir``."""
    p = Path(path).expanduser()
    if base_dir is None or p.is_absolute():
        return str(p)
    # Lexical normalisation only: config/../data/x.csv reads as data/x.csv in messages.
    return os.path.normpath(base_dir / p)


def check_sqlalchemy_url(url: str, base_dir: Path | None) -> str:
    """``url`` after parsing with SQLAlchemy; a relative SQLite file made absolute."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise fail(
            "expected an SQLAlchemy database URL such as sqlite:///driftmon.db or "
            f"postgresql+psycopg://user:password@host/db, got {mask_url(url)!r} ({exc})"
        ) from None
    problem = missing_driver(parsed)
    if problem is not None:
        raise fail(f"{mask_url(url)}: {problem}")
    database = parsed.database
    if (
        base_dir is not None
        and parsed.get_backend_name() in ("sqlite", "duckdb")
        and database
        and database != ":memory:"
        and not database.startswith("file:")
        and not Path(database).expanduser().is_absolute()
    ):
        parsed = parsed.set(database=os.path.normpath(base_dir / Path(database).expanduser()))
        return parsed.render_as_string(hide_password=False)
    return url


def check_refresh(fingerprint: str, refresh: timedelta | None) -> None:
    """``refresh`` spaces out reads of the data fingerprint; with ``definition`` there are none."""
    if refresh is not None and fingerprint != "data":
        raise fail(
            f"'refresh' applies to fingerprint: data (the data is never read with "
            f"fingerprint: {fingerprint}); remove one of them"
        )


class FileSourceConfig(ConfigModel):
    """Rows from CSV or Parquet files: one path, or a glob matching several files."""

    kind: ClassVar[Literal["file"]] = "file"

    path: NonEmptyStr = Field(
        description="File or glob, relative to the config file's folder; absolute once loaded."
    )
    format: FileFormat | None = Field(
        default=None,
        description="csv or parquet; inferred from the path's extension when omitted "
        "(always set once loaded).",
    )
    batch_rows: Int = Field(
        default=DEFAULT_BATCH_ROWS,
        ge=1,
        le=MAX_BATCH_ROWS,
        description="Rows per record batch read from the files.",
    )
    null_values: tuple[str, ...] | None = Field(
        default=None,
        description="CSV only: the texts, besides an empty field, that mean a missing value "
        "in any column; null uses pyarrow's default list (NA, NULL, NaN, N/A, ...); [] makes "
        "only empty fields missing.",
    )

    @classmethod
    def _prepare(cls, data: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        path = data.get("path")
        if data.get("format") is None and isinstance(path, str) and path.strip():
            suffix = Path(path).suffix.lower()
            if suffix in COMPRESSION_SUFFIXES:  # data.csv.gz: the format is the inner suffix
                suffix = Path(Path(path).stem).suffix.lower()
            if suffix not in FORMAT_BY_SUFFIX:
                known = ", ".join(FORMAT_BY_SUFFIX)
                raise fail(
                    f"cannot infer the format of {path!r} from its extension "
                    f"(known: {known}); set format: csv or format: parquet"
                )
            data["format"] = FORMAT_BY_SUFFIX[suffix]
        return data

    @field_validator("path")
    @classmethod
    def _resolve(cls, value: str, info: ValidationInfo) -> str:
        return resolve_path(value, base_dir_from(info))

    @model_validator(mode="after")
    def _null_values_for_csv(self) -> FileSourceConfig:
        if self.null_values is not None and self.format != "csv":
            raise fail(
                f"'null_values' applies to CSV files only; {self.path!r} is read as "
                f"{self.format}, which stores missing values as nulls"
            )
        return self


class SqlSourceConfig(ConfigModel):
    """Rows from a database through SQLAlchemy: a query, or a whole table."""

    kind: ClassVar[Literal["sql"]] = "sql"

    url: str = Field(
        repr=False,
        description="SQLAlchemy URL of the database; use ${VAR} for passwords.",
    )
    query: NonEmptyStr | None = Field(
        default=None, description="SELECT returning the rows; windowed reads bind :start and :end."
    )
    table: NonEmptyStr | None = Field(default=None, description="Table to read instead of a query.")
    db_schema: NonEmptyStr | None = Field(
        default=None, alias="schema", description="Schema of the table (table sources only)."
    )
    batch_rows: Int = Field(
        default=DEFAULT_BATCH_ROWS,
        ge=1,
        le=MAX_BATCH_ROWS,
        description="Rows fetched per record batch.",
    )
    pushdown: bool = Field(
        default=True,
        description="Count histograms and fit the reference in the database (PostgreSQL, "
        "SQLite, DuckDB) instead of pulling rows; false pulls rows.",
    )
    fingerprint: Literal["data", "definition"] = Field(
        default="data",
        description="What tells a table reference has changed: data (its row count and "
        "latest timestamp, a count per run) or definition (URL and table only; rebuild "
        "with `driftmon reference rebuild`).",
    )
    refresh: Duration | None = Field(
        default=None,
        description="With fingerprint: data, read the data fingerprint at most this often "
        "in a running daemon (and once at its start); null: every run.",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str, info: ValidationInfo) -> str:
        return check_sqlalchemy_url(value, base_dir_from(info))

    @model_validator(mode="after")
    def _query_or_table(self) -> SqlSourceConfig:
        check_refresh(self.fingerprint, self.refresh)
        if (self.query is None) == (self.table is None):
            given = "both" if self.query is not None else "neither"
            raise fail(f"expected exactly one of 'query' or 'table', got {given}")
        if self.db_schema is not None and self.table is None:
            raise fail("'schema' applies only with 'table', not with 'query'")
        return self

    @property
    def masked_url(self) -> str:
        """The URL with its password hidden, safe to log."""
        return mask_url(self.url)


class SparkInput(ConfigModel):
    """What a Spark source reads, and the Spark Connect server that reads it."""

    remote: str = Field(
        repr=False,
        description="Spark Connect URL, sc://host:port[/;param=value...] (Databricks: "
        "sc://<workspace>:443/;use_ssl=true;token=${TOKEN};x-databricks-cluster-id=<id>); "
        "use ${VAR} for the token.",
    )
    table: NonEmptyStr | None = Field(
        default=None, description="Table or view in the Spark catalog, e.g. sales.events."
    )
    query: NonEmptyStr | None = Field(
        default=None, description="Spark SQL query returning the rows (no :start/:end)."
    )
    path: NonEmptyStr | None = Field(
        default=None,
        description="Files as the Spark cluster sees them (s3a://, abfss://, hdfs://, or an "
        "absolute path on the cluster), read with format.",
    )
    format: NonEmptyStr | None = Field(
        default=None, description="Spark data source of path: parquet, csv, json, orc, delta, ..."
    )
    options: dict[str, str] = Field(
        default_factory=dict,
        description="Reader options of path (csv: header and inferSchema default to true).",
    )
    read_schema: NonEmptyStr | None = Field(
        default=None,
        alias="schema",
        description="DDL schema of path, e.g. 'ts TIMESTAMP, amount DOUBLE' (null: Spark infers).",
    )

    @field_validator("remote")
    @classmethod
    def _check_remote(cls, value: str) -> str:
        if not value.startswith(SPARK_CONNECT_SCHEME) or len(value) == len(SPARK_CONNECT_SCHEME):
            raise fail(
                "expected a Spark Connect URL such as sc://spark.example.com:15002, got "
                f"{scrub(value)!r}"
            )
        return value

    @model_validator(mode="after")
    def _one_input(self) -> SparkInput:
        given = [k for k in ("table", "query", "path") if getattr(self, k) is not None]
        if len(given) != 1:
            what = ", ".join(repr(k) for k in given) if given else "none"
            raise fail(f"expected exactly one of 'table', 'query' or 'path', got {what}")
        if self.path is None:
            extra = [
                key
                for key, value in (
                    ("format", self.format),
                    ("options", self.options or None),
                    ("schema", self.read_schema),
                )
                if value is not None
            ]
            if extra:
                raise fail(f"{', '.join(repr(k) for k in extra)} apply only with 'path'")
        elif self.format is None:
            raise fail(f"'path' {self.path!r} needs 'format' (parquet, csv, json, orc, ...)")
        return self

    @property
    def masked_remote(self) -> str:
        """The URL with its token hidden, safe to log."""
        return scrub(self.remote)


class SparkSourceConfig(ConfigModel):
    """Rows a Spark cluster reads; histograms are counted there (Spark Connect)."""

    kind: ClassVar[Literal["spark"]] = "spark"

    spark: SparkInput = Field(description="The Spark Connect server and what it reads.")
    batch_rows: Int = Field(
        default=DEFAULT_BATCH_ROWS,
        ge=1,
        le=MAX_BATCH_ROWS,
        description="Most rows per record batch when rows must be pulled from Spark.",
    )
    pushdown: bool = Field(
        default=True,
        description="Count histograms and fit the reference in Spark; false pulls rows.",
    )
    fingerprint: Literal["data", "definition"] = Field(
        default="data",
        description="What tells a table or path reference has changed: data (its row count "
        "and latest timestamp, a Spark job per run) or definition (the settings only).",
    )
    refresh: Duration | None = Field(
        default=None,
        description="With fingerprint: data, run that job at most this often in a running "
        "daemon (and once at its start); null: every run.",
    )

    @model_validator(mode="after")
    def _refresh_needs_data(self) -> SparkSourceConfig:
        check_refresh(self.fingerprint, self.refresh)
        return self


class LiveOptions(ConfigModel):
    """What makes a source live: the time window read per run, and the minimum rows."""

    timestamp_column: NonEmptyStr | None = Field(
        default=None, description="Column holding each row's time; needed with window."
    )
    window: Duration | None = Field(
        default=None, description="Length of the window that ends at the scheduled time."
    )
    min_rows: Int = Field(
        default=1, ge=1, description="Fewer rows than this: the run is stored as insufficient_data."
    )
    timezone: str = Field(
        default="UTC", description="Zone in which naive timestamps in the source are interpreted."
    )
    timestamp_unit: TimestampUnit = Field(
        default="s",
        description="What an integer timestamp counts since 1970-01-01 UTC: s (seconds), "
        "ms, us or ns; timestamps stored as dates or times are not affected.",
    )

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: name too long
            raise fail(
                f"expected an IANA time zone such as UTC or Europe/Berlin, got {value!r}"
            ) from None
        return value

    @model_validator(mode="after")
    def _both_or_neither(self) -> LiveOptions:
        if (self.timestamp_column is None) != (self.window is None):
            missing = "window" if self.window is None else "timestamp_column"
            raise fail(
                f"'timestamp_column' and 'window' go together; {missing!r} is missing "
                "(give both to read a time window, or neither to read the whole source)"
            )
        return self

    @property
    def zone(self) -> ZoneInfo:
        """``timezone`` as a ``ZoneInfo``."""
        return ZoneInfo(self.timezone)


class LiveFileSourceConfig(LiveOptions, FileSourceConfig):
    """A file source read as live data."""


class LiveSqlSourceConfig(LiveOptions, SqlSourceConfig):
    """A SQL source read as live data."""


class LiveSparkSourceConfig(LiveOptions, SparkSourceConfig):
    """A Spark source read as live data."""


_CONFIGS = (FileSourceConfig, SqlSourceConfig, SparkSourceConfig)


def _kind_tag(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return next((tag for key, tag in _KIND_KEYS.items() if key in value), SQL_TAG)
    if isinstance(value, FileSourceConfig):
        return FILE_TAG
    return SPARK_TAG if isinstance(value, SparkSourceConfig) else SQL_TAG


def _check_kind(value: Any) -> Any:
    if isinstance(value, _CONFIGS):
        return value
    if not isinstance(value, Mapping):
        raise fail(
            "expected a mapping with 'path' (file source), 'url' (SQL source) or 'spark' "
            f"(Spark source), got {describe_value(value)}"
        )
    present = [key for key in _KIND_KEYS if key in value]
    if len(present) > 1:
        named = [f"{k!r} ({_KIND_NAMES[k]})" for k in present]
        listed = ", ".join(named[:-1]) + f" and {named[-1]}"
        raise fail(f"has {'both ' if len(named) == 2 else ''}{listed}; expected exactly one")
    if not present:
        keys = ", ".join(repr(str(k)) for k in value) or "none"
        raise fail(
            "expected 'path' (a CSV/Parquet file or glob), 'url' (an SQLAlchemy URL, "
            "with 'query' or 'table') or 'spark' (a Spark Connect server and its table, "
            f"query or path); got keys: {keys}"
        )
    return value


SourceConfig = Annotated[
    Annotated[FileSourceConfig, Tag(FILE_TAG)]
    | Annotated[SqlSourceConfig, Tag(SQL_TAG)]
    | Annotated[SparkSourceConfig, Tag(SPARK_TAG)],
    Discriminator(_kind_tag),
    BeforeValidator(_check_kind),
]
"""A reference source: ``FileSourceConfig``, ``SqlSourceConfig`` or ``SparkSourceConfig``."""

LiveSourceConfig = Annotated[
    Annotated[LiveFileSourceConfig, Tag(FILE_TAG)]
    | Annotated[LiveSqlSourceConfig, Tag(SQL_TAG)]
    | Annotated[LiveSparkSourceConfig, Tag(SPARK_TAG)],
    Discriminator(_kind_tag),
    BeforeValidator(_check_kind),
]
"""A live source: ``LiveFileSourceConfig``, ``LiveSqlSourceConfig`` or
``LiveSparkSourceConfig``."""
