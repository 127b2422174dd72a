"""load_config: reading the file, defaults, path resolution, and errors with file and key path."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from driftmon.config import (
    AlphaLevels,
    Config,
    FileSourceConfig,
    SignificanceThresholds,
    config_from_dict,
    load_config,
)
from driftmon.config.models import DEFAULT_DATABASE_URL
from driftmon.errors import ConfigError

from .conftest import ErrorLoader, Loader, Writer, minimal_config, with_feature, with_monitor


def test_minimal_config_gets_documented_defaults(load: Loader) -> None:
    cfg = load(minimal_config())
    assert cfg.database.echo is False
    assert cfg.server.host == "127.0.0.1"
    assert cfg.server.port == 9464
    assert cfg.server.external_url is None
    assert cfg.retention.max_age == timedelta(days=90)
    assert (cfg.log.level, cfg.log.format) == ("INFO", "text")
    m = cfg.monitors[0]
    assert m.enabled is True
    assert m.smoothing == 0.5
    assert m.reference_is_sample is True
    assert m.source_timeout == timedelta(minutes=5)
    assert m.thresholds == SignificanceThresholds(
        policy="significance",
        alpha=AlphaLevels(warning=0.01, critical=0.001),
        min_effect=0.0,
        correction="none",
    )
    assert m.live.min_rows == 1
    assert m.live.timezone == "UTC"
    assert isinstance(m.reference, FileSourceConfig)
    assert m.reference.batch_rows == 65536
    age = m.features[0]
    assert (age.type, age.bins, age.strategy, age.edges) == ("numeric", 10, "quantile", None)
    assert m.features[2].max_categories == 50


def test_loader_sets_path_and_base_dir(write: Writer) -> None:
    path = write(minimal_config())
    cfg = load_config(path, environ={})
    assert cfg.path == path.absolute()
    assert cfg.base_dir == path.absolute().parent


def test_relative_config_path_resolves_against_its_folder(
    write: Writer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path like config/x.yaml given relative to the cwd still anchors at config/."""
    nested = tmp_path / "conf"
    nested.mkdir()
    write(minimal_config()).rename(nested / "driftmon.yaml")
    monkeypatch.chdir(tmp_path)
    cfg = load_config("conf/driftmon.yaml", environ={})
    assert cfg.monitors[0].reference.path == str(nested / "data/reference.parquet")  # type: ignore[union-attr]


def test_relative_file_paths_and_globs_resolve_against_config_folder(
    load: Loader, tmp_path: Path
) -> None:
    cfg = load(minimal_config())
    m = cfg.monitors[0]
    assert m.reference.path == str(tmp_path / "data" / "reference.parquet")  # type: ignore[union-attr]
    assert m.live.path == str(tmp_path / "data" / "live" / "*.parquet")  # type: ignore[union-attr]


def test_absolute_file_path_is_kept(load: Loader) -> None:
    cfg = load(with_monitor(reference={"path": "/srv/data/ref.csv"}))
    assert cfg.monitors[0].reference.path == "/srv/data/ref.csv"  # type: ignore[union-attr]


def test_default_sqlite_database_lives_next_to_the_config(load: Loader, tmp_path: Path) -> None:
    cfg = load(minimal_config())
    assert DEFAULT_DATABASE_URL == "sqlite:///driftmon.db"
    assert cfg.database.url == f"sqlite:///{tmp_path / 'driftmon.db'}"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///results/r.db", "sqlite:///{dir}/results/r.db"),
        ("sqlite+pysqlite:///r.db", "sqlite+pysqlite:///{dir}/r.db"),
        ("sqlite:////abs/r.db", "sqlite:////abs/r.db"),
        ("sqlite://", "sqlite://"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql+psycopg://u:pw@db:5432/x", "postgresql+psycopg://u:pw@db:5432/x"),
    ],
)
def test_database_url_relative_sqlite_file_resolves(
    load: Loader, tmp_path: Path, url: str, expected: str
) -> None:
    cfg = load(minimal_config(database={"url": url}))
    assert cfg.database.url == expected.format(dir=tmp_path)


def test_sql_source_relative_sqlite_url_resolves(load: Loader, tmp_path: Path) -> None:
    cfg = load(with_monitor(reference={"url": "sqlite:///wh.db", "table": "t"}))
    assert cfg.monitors[0].reference.url == f"sqlite:///{tmp_path / 'wh.db'}"  # type: ignore[union-attr]


def test_sql_source_relative_duckdb_url_resolves(load: Loader, tmp_path: Path) -> None:
    """duckdb:///wh.duckdb is a file next to the config, as for SQLite."""
    cfg = load(with_monitor(reference={"url": "duckdb:///wh.duckdb", "table": "t"}))
    assert cfg.monitors[0].reference.url == f"duckdb:///{tmp_path / 'wh.duckdb'}"  # type: ignore[union-attr]


def test_database_password_is_hidden_in_repr_and_masked_url(load: Loader) -> None:
    cfg = load(minimal_config(database={"url": "postgresql://u:hunter2@db/x"}))
    assert "hunter2" not in repr(cfg)
    assert "hunter2" not in cfg.database.masked_url
    assert cfg.database.url == "postgresql://u:hunter2@db/x"


def test_monitor_lookup_by_name(load: Loader) -> None:
    data = minimal_config()
    second = dict(data["monitors"][0], name="second")
    data["monitors"].append(second)
    cfg = load(data)
    assert cfg.monitor("second").name == "second"
    with pytest.raises(ConfigError, match=r"unknown monitor 'x'; configured: example, second"):
        cfg.monitor("x")


def test_config_is_frozen(load: Loader) -> None:
    cfg = load(minimal_config())
    with pytest.raises(ValueError, match="frozen"):
        cfg.server = cfg.server


def test_config_from_dict_validates_like_the_loader(tmp_path: Path) -> None:
    cfg = config_from_dict(minimal_config(), path=tmp_path / "x.yaml", base_dir=tmp_path)
    assert cfg.monitors[0].live.path == str(tmp_path / "data/live/*.parquet")  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"^x\.yaml: monitors: missing required key"):
        config_from_dict({}, path="x.yaml")


# --- file-level failures --------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match=r"absent\.yaml: file not found"):
        load_config(path)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_unreadable_file(write: Writer, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(minimal_config())

    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(
        ConfigError, match=r"driftmon\.yaml: cannot read the file: permission denied"
    ):
        load_config(path)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("monitors: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.yaml: expected UTF-8 text, got byte 0xe9"):
        load_config(path)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file(load_error: ErrorLoader, text: str) -> None:
    assert "the file is empty" in load_error(text)


@pytest.mark.parametrize(
    ("text", "got"), [("- a\n- b\n", "a list of 2 items"), ("just text\n", "'just text'")]
)
def test_top_level_must_be_a_mapping(load_error: ErrorLoader, text: str, got: str) -> None:
    message = load_error(text)
    assert "expected a mapping at the top level" in message
    assert got in message


def test_malformed_yaml_reports_line_and_column(load_error: ErrorLoader) -> None:
    text = "monitors:\n  - name: a\n    schedule: {every: 5m\n"
    message = load_error(text)
    assert "invalid YAML" in message
    assert "line 4, column 1" in message


def test_yaml_mapping_error_reports_its_position(load_error: ErrorLoader) -> None:
    message = load_error("server:\n  host: a: b\n")
    assert "line 2, column 10: invalid YAML: mapping values are not allowed here" in message


# --- key-level failures name the file, the key path and the expectation ----------------


def test_unknown_top_level_key_lists_allowed_keys(load_error: ErrorLoader) -> None:
    message = load_error(minimal_config(monitor=[]))
    assert "top level: unknown key 'monitor'" in message
    assert "allowed keys: database, server, retention, log, engine, monitors" in message
    assert "did you mean 'monitors'?" in message


def test_loader_fields_cannot_be_written_by_the_user(load_error: ErrorLoader) -> None:
    message = load_error(minimal_config(base_dir="/etc"))
    assert "top level: unknown key 'base_dir'" in message


def test_unknown_nested_key_names_the_monitor_and_feature(load_error: ErrorLoader) -> None:
    message = load_error(with_feature(1, bnis=3))
    assert "monitors[0] (name 'example').features[1] (name 'amount'): unknown key 'bnis'" in message
    assert "allowed keys: name, type, bins" in message


def test_message_matches_the_documented_form(load_error: ErrorLoader, write: Writer) -> None:
    data = minimal_config()
    data["monitors"][0]["features"][2] = {"name": "country", "bins": 0}
    message = load_error(data)
    assert message == (
        f"{write(data)}: monitors[0] (name 'example').features[2] (name 'country').bins: "
        "expected an integer >= 1, got 0"
    )


@pytest.mark.parametrize(
    ("data", "path", "expected"),
    [
        (minimal_config(server={"port": "http"}), "server.port", "expected an integer, got 'http'"),
        (minimal_config(server={"port": 70000}), "server.port", "expected an integer <= 65535"),
        (minimal_config(server={"port": -1}), "server.port", "expected an integer >= 0"),
        (minimal_config(server={"host": ""}), "server.host", "expected a non-empty string"),
        (
            minimal_config(server={"external_url": "driftmon.example.com"}),
            "server.external_url",
            "expected an http or https URL with a host, got 'driftmon.example.com'",
        ),
        (
            minimal_config(server={"external_url": "ftp://example.com/"}),
            "server.external_url",
            "expected an http or https URL with a host",
        ),
        (
            minimal_config(server={"external_url": "https://u:pw@example.com"}),
            "server.external_url",
            "without a user or password",
        ),
        (
            minimal_config(server={"external_url": "https://example.com/?a=1"}),
            "server.external_url",
            "without a query or fragment",
        ),
        (
            minimal_config(server={"external_url": "https://example.com:99999/"}),
            "server.external_url",
            "Port out of range",
        ),
        (minimal_config(database={"echo": "maybe"}), "database.echo", "expected true or false"),
        (minimal_config(database={"url": 5}), "database.url", "expected a string, got 5"),
        (minimal_config(log={"level": "LOUD"}), "log.level", "expected 'DEBUG', 'INFO'"),
        (minimal_config(log={"format": "xml"}), "log.format", "expected 'json' or 'text'"),
        (minimal_config(retention={"max_age": "forever"}), "retention.max_age", "a duration"),
        (
            minimal_config(monitors=[]),
            "monitors",
            "expected at least one monitor, got an empty list",
        ),
        (minimal_config(monitors={"a": 1}), "monitors", "expected a list, got a mapping"),
        (
            minimal_config(server=[1]),
            "server",
            "expected a mapping with keys host, port, external_url",
        ),
        (with_monitor(name=7), "monitors[0].name", "expected a string, got 7"),
        (with_monitor(enabled="sometimes"), "monitors[0] (name 'example').enabled", "true or"),
        (with_monitor(features=[]), "(name 'example').features", "at least one feature"),
        (with_monitor(smoothing=0), "(name 'example').smoothing", "expected a number > 0, got 0"),
        (with_monitor(source_timeout="0s"), "(name 'example').source_timeout", "duration > 0"),
    ],
)
def test_wrong_types_and_ranges(
    load_error: ErrorLoader, data: dict[str, object], path: str, expected: str
) -> None:
    message = load_error(data)
    assert f"{path}: " in message
    assert expected in message


@pytest.mark.parametrize("missing", ["name", "schedule", "reference", "live", "features"])
def test_missing_required_monitor_key(load_error: ErrorLoader, missing: str) -> None:
    data = minimal_config()
    del data["monitors"][0][missing]
    message = load_error(data)
    assert "monitors[0]" in message
    assert f".{missing}: missing required key" in message


def test_duplicate_monitor_names(load_error: ErrorLoader) -> None:
    data = minimal_config()
    data["monitors"].append(dict(data["monitors"][0]))
    assert "monitors: duplicate monitor name 'example'" in load_error(data)


def test_several_errors_are_all_reported(load_error: ErrorLoader) -> None:
    message = load_error(minimal_config(server={"port": "x"}, log={"level": "LOUD"}))
    lines = message.splitlines()
    assert len(lines) == 2
    assert all("driftmon.yaml: " in line for line in lines)


def test_valid_config_roundtrips_through_model_dump(load: Loader) -> None:
    cfg = load(minimal_config())
    again = Config.model_validate(cfg.model_dump(), context={"base_dir": cfg.base_dir})
    assert again.monitors == cfg.monitors


def test_relative_paths_are_normalised(load: Loader, tmp_path: Path) -> None:
    cfg = load(with_monitor(reference={"path": "../shared/./ref.csv"}))
    expected = str(tmp_path.parent / "shared" / "ref.csv")
    assert cfg.monitors[0].reference.path == expected  # type: ignore[union-attr]


def test_overlong_time_zone_is_a_config_error(load_error: ErrorLoader) -> None:
    message = load_error(with_monitor(live={"path": "l.csv", "timezone": "x" * 300}))
    assert "live.timezone: expected an IANA time zone" in message


def test_json_schema_describes_only_what_users_write() -> None:
    schema = Config.model_json_schema()
    assert set(schema["properties"]) == {
        "database",
        "server",
        "retention",
        "log",
        "engine",
        "monitors",
    }
    assert schema["required"] == ["monitors"]


def test_timestamp_unit_defaults_to_seconds_and_accepts_ms(load: Loader) -> None:
    assert load(with_monitor()).monitors[0].live.timestamp_unit == "s"
    live = {"path": "l.csv", "timestamp_column": "ts", "window": "1h", "timestamp_unit": "ms"}
    assert load(with_monitor(live=live)).monitors[0].live.timestamp_unit == "ms"


def test_an_unknown_timestamp_unit_names_the_key(load_error: ErrorLoader) -> None:
    message = load_error(with_monitor(live={"path": "l.csv", "timestamp_unit": "min"}))
    assert "live.timestamp_unit" in message
    assert "'s', 'ms', 'us' or 'ns'" in message


def test_null_values_on_a_parquet_source_names_the_key(load_error: ErrorLoader) -> None:
    message = load_error(with_monitor(reference={"path": "r.parquet", "null_values": ["NA"]}))
    assert "reference: 'null_values' applies to CSV files only" in message


def test_null_values_must_be_a_list_of_strings(load_error: ErrorLoader) -> None:
    message = load_error(with_monitor(reference={"path": "r.csv", "null_values": ["NA", 1]}))
    assert "reference.null_values[1]" in message


def test_external_url_loses_its_trailing_slash(load: Loader) -> None:
    cfg = load(minimal_config(server={"external_url": "https://ops.example.com/driftmon/"}))
    assert cfg.server.external_url == "https://ops.example.com/driftmon"
