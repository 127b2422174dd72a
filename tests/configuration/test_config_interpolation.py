"""${VAR} and ${VAR:-default} in string values, the $${ escape, and their errors."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from driftmon.config import load_config
from driftmon.config.interpolation import MAX_INTERPOLATED_CHARS, InterpolationError, interpolate
from driftmon.errors import ConfigError

from .conftest import ErrorLoader, Loader, Writer, minimal_config, with_monitor


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("pre-${A}-post", {"A": "x"}, "pre-x-post"),
        ("${A}${B}", {"A": "1", "B": "2"}, "12"),
        ("${A:-fallback}", {}, "fallback"),
        ("${A:-fallback}", {"A": ""}, "fallback"),
        ("${A:-fallback}", {"A": "set"}, "set"),
        ("${A:-}", {}, ""),
        ("${A:-a b:c/d?}", {}, "a b:c/d?"),
        ("${A}", {"A": ""}, ""),
        ("$${A}", {"A": "x"}, "${A}"),
        ("cost: $$5 and $${literal}", {}, "cost: $$5 and ${literal}"),
        ("$A and $ alone", {"A": "x"}, "$A and $ alone"),
        ("${A}", {"A": "${B}"}, "${B}"),
    ],
)
def test_substitution(text: str, env: dict[str, str], expected: str) -> None:
    assert interpolate({"k": text}, env).data == {"k": expected}


def test_only_string_values_are_touched_not_keys() -> None:
    data = {"${A}": ["${A}", 5, None, True, {"n": "${A}"}]}
    assert interpolate(data, {"A": "x"}).data == {"${A}": ["x", 5, None, True, {"n": "x"}]}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("${A:-${B}}", "nested references are not supported"),
        ("${unterminated", "invalid reference"),
        ("${1BAD}", "invalid reference '${1BAD}'"),
        ("${}", "invalid reference '${}'"),
    ],
)
def test_invalid_references(text: str, fragment: str) -> None:
    with pytest.raises(InterpolationError) as info:
        interpolate({"a": [{"b": text}]}, {})
    assert fragment in info.value.message
    assert info.value.loc == ("a", 0, "b")


def test_environment_values_cannot_inject_yaml_structure(load: Loader) -> None:
    """A value that looks like YAML stays one string: parsing happened before substitution."""
    data = minimal_config()
    data["monitors"][0]["features"][0]["column"] = "${COL}"
    injected = "age\n  bins: 99\nserver: {port: 1}"
    cfg = load(data, environ={"COL": injected})
    assert cfg.monitors[0].features[0].column == injected
    assert cfg.monitors[0].features[0].bins == 10
    assert cfg.server.port == 9464


def test_injected_mapping_text_stays_a_string(load: Loader) -> None:
    cfg = load(with_monitor(name="${NAME}"), environ={"NAME": "{a: 1}"})
    assert cfg.monitors[0].name == "{a: 1}"


def test_interpolated_numbers_and_durations_are_validated(load: Loader) -> None:
    data = minimal_config(server={"port": "${PORT:-9000}"}, database={"echo": "${ECHO}"})
    data["monitors"][0]["schedule"] = {"every": "${EVERY:-10m}"}
    cfg = load(data, environ={"ECHO": "true", "EVERY": "90"})
    assert cfg.server.port == 9000
    assert cfg.database.echo is True
    assert cfg.monitors[0].schedule.every is not None
    assert cfg.monitors[0].schedule.every.total_seconds() == 90


def test_database_url_password_from_environment(load: Loader) -> None:
    data = minimal_config(database={"url": "postgresql+psycopg://u:${DB_PASSWORD}@db/x"})
    cfg = load(data, environ={"DB_PASSWORD": "s3cret"})
    assert cfg.database.url == "postgresql+psycopg://u:s3cret@db/x"


def test_escaped_reference_reaches_the_value(load: Loader) -> None:
    cfg = load(with_monitor(name="cost $${USD}"))
    assert cfg.monitors[0].name == "cost ${USD}"


def test_missing_variable_names_the_variable_and_key_path(load_error: ErrorLoader) -> None:
    data = minimal_config()
    data["monitors"][0]["reference"] = {"url": "postgresql://u:${WH_PASSWORD}@h/db", "table": "t"}
    message = load_error(data)
    assert "monitors[0] (name 'example').reference.url" in message
    assert "environment variable 'WH_PASSWORD' is not set and has no default" in message


def test_invalid_reference_in_a_file_names_the_key(load_error: ErrorLoader) -> None:
    message = load_error(minimal_config(database={"url": "${A:-${B}}"}))
    assert "database.url: invalid reference" in message


def test_secret_values_do_not_appear_in_errors(load_error: ErrorLoader) -> None:
    """A password substituted into an invalid value is scrubbed from the message."""
    data = minimal_config(server={"host": "${API_TOKEN}", "port": "${API_TOKEN}"})
    message = load_error(data, environ={"API_TOKEN": "tok-very-secret"})
    assert "server.port" in message
    assert "tok-very-secret" not in message


def test_url_password_is_masked_in_errors(load_error: ErrorLoader) -> None:
    message = load_error(minimal_config(database={"url": "postgresql://u:pw123@h:port/x"}))
    assert "database.url" in message
    assert "pw123" not in message


def _aliased_reference_bomb(levels: int = 5, width: int = 9, text_chars: int = 2000) -> str:
    """A few KB of YAML: one ~2 KB string with ${HOME}, repeated width**levels times by aliases."""
    lines = [f's: &s "${{HOME}}{"x" * text_chars}"', f"l0: &l0 [{', '.join(['*s'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def test_aliased_reference_cannot_expand_the_config_past_the_bound(write: Writer) -> None:
    """A 6 KB file that aliases a ${HOME} string 59,049 times (120 MB once substituted) is
    refused with a clear error, without allocating the expansion."""
    text = _aliased_reference_bomb()
    assert len(text) < 7_000
    path = write(text)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ConfigError) as info:
            load_config(path, environ={"HOME": "/home/someone"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 10
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MiB while interpolating"
    message = str(info.value)
    assert f"longer than {MAX_INTERPOLATED_CHARS:,} characters" in message
    assert "aliases" in message
    assert message.startswith(f"{path}: l")  # names the key path where the bound was crossed


def test_one_string_with_many_references_is_bounded_too() -> None:
    with pytest.raises(InterpolationError, match="longer than 1,000 characters") as info:
        interpolate({"a": "${V}" * 200}, {"V": "0123456789"}, max_chars=1_000)
    assert info.value.loc == ("a",)


def test_strings_without_references_do_not_count_toward_the_bound() -> None:
    """Plain (aliased) strings are shared, not copied: only substituted text is bounded."""
    plain = "x" * 600
    data = {"a": [plain] * 10, "b": "${V}"}
    assert interpolate(data, {"V": "v"}, max_chars=1_000).data == {"a": [plain] * 10, "b": "v"}
