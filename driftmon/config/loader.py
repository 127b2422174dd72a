"""Reading a config file into a validated ``Config``, with every failure a ``ConfigError``.

A message names the file, the key path (with the name of the monitor or feature it is
in) and what was expected, e.g.::

    config/example.yaml: monitors[0] (name 'example').features[2] (name 'amount').bins:
    expected an integer >= 1, got 0
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from driftmon.config import profile_reference, rolling, sources, thresholds
from driftmon.config._base import CONFIG_ERROR_TYPE, describe_value
from driftmon.config.interpolation import InterpolationError, interpolate
from driftmon.config.models import Config
from driftmon.errors import ConfigError
from driftmon.secrets import scrub

MAX_REPORTED_ERRORS = 20
MAX_VALUES = 1_000_000
_UNION_TAGS = sources.TAGS | rolling.TAGS | profile_reference.TAGS | thresholds.TAGS


def load_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read, interpolate and validate the YAML file at ``path``; see the module docstring.

    ``environ`` replaces ``os.environ`` for ``${VAR}`` references (tests).
    """
    display = str(path)
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{display}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{display}: is a directory, expected a YAML file") from None
    except PermissionError:
        raise ConfigError(f"{display}: cannot read the file: permission denied") from None
    except OSError as exc:
        raise ConfigError(f"{display}: cannot read the file: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{display}: expected UTF-8 text, got byte 0x{raw[exc.start]:02x} at offset {exc.start}"
        ) from None
    data = _parse_yaml(text, display)
    _check_size(data, display)
    absolute = file.absolute()
    return config_from_dict(
        data, path=absolute, base_dir=absolute.parent, environ=environ, display_name=display
    )


def config_from_dict(
    data: Any,
    *,
    path: str | Path = "<in-memory>",
    base_dir: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    display_name: str | None = None,
) -> Config:
    """Interpolate and validate already-parsed config data, as ``load_config`` does.

    ``base_dir`` (default: the current directory) is where relative paths resolve.
    """
    name = display_name if display_name is not None else str(path)
    if data is None:
        raise ConfigError(f"{name}: the file is empty; expected a mapping with 'monitors'")
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{name}: expected a mapping at the top level (database, server, monitors, ...), "
            f"got {describe_value(data)}"
        )
    try:
        result = interpolate(data, os.environ if environ is None else environ)
    except InterpolationError as exc:
        raise ConfigError(f"{name}: {format_loc(exc.loc, data)}: {exc.message}") from None
    context = {
        "path": Path(path),
        "base_dir": Path(base_dir) if base_dir is not None else Path.cwd(),
    }
    try:
        return Config.model_validate(result.data, context=context)
    except ValidationError as exc:
        message = validation_message(exc, result.data, name)
        raise ConfigError(scrub(message, tuple(result.secrets))) from None
    except (TypeError, ValueError, ArithmeticError, OSError) as exc:
        # A library raised where a validator should have; still a config error, not a crash.
        message = f"{name}: invalid configuration: {exc}"
        raise ConfigError(scrub(message, tuple(result.secrets))) from exc


def validation_message(exc: ValidationError, data: Any, prefix: str) -> str:
    """One line per error (at most MAX_REPORTED_ERRORS): ``prefix: key path: message``."""
    lines = [
        f"{prefix}: {format_loc(_strip_tags(e['loc']), data)}: {error_text(e)}"
        for e in exc.errors()
    ]
    if len(lines) > MAX_REPORTED_ERRORS:
        more = len(lines) - MAX_REPORTED_ERRORS
        lines = [*lines[:MAX_REPORTED_ERRORS], f"{prefix}: ... and {more} more errors"]
    return "\n".join(lines)


def _parse_yaml(text: str, display: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = exc.problem or exc.context or "malformed YAML"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        raise ConfigError(f"{display}: {where}invalid YAML: {problem}{context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{display}: invalid YAML: {exc}") from None
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        # PyYAML's scalar constructors raise these for values such as `2026-02-30`,
        # `!!int abc` or `!!timestamp x`: the file's mistake, not a crash.
        raise ConfigError(
            f"{display}: invalid YAML: a date or tagged value cannot be read ({exc}); "
            "quote it to keep it as text"
        ) from None
    except RecursionError:
        raise ConfigError(f"{display}: invalid YAML: nested too deeply") from None


def _check_size(data: Any, display: str) -> None:
    """Refuse a document that its aliases expand past MAX_VALUES values (a "billion laughs"
    file, or an alias inside its own anchor) before anything walks it."""
    stack, seen = [data], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise ConfigError(
                f"{display}: invalid YAML: more than {MAX_VALUES:,} values once aliases are "
                "expanded (is an alias inside its own anchor?)"
            )
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _strip_tags(loc: Sequence[str | int]) -> tuple[str | int, ...]:
    return tuple(part for part in loc if part not in _UNION_TAGS)


def format_loc(loc: Sequence[str | int], data: Any) -> str:
    """A key path like ``monitors[0] (name 'x').schedule.every``; list items show their name."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list | tuple) and part < len(node) else None
            item_name = node.get("name") if isinstance(node, Mapping) else None
            if isinstance(item_name, str):
                out += f" (name {item_name!r})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, Mapping) else None
    return out or "top level"


def _bound(op: str, key: str) -> Callable[[Mapping[str, Any]], str]:
    def text(ctx: Mapping[str, Any]) -> str:
        bound = ctx[key]
        kind = "an integer" if isinstance(bound, int) else "a number"
        shown = f"{bound:g}" if isinstance(bound, float) else str(bound)
        return f"expected {kind} {op} {shown}"

    return text


def _fixed(text: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda ctx: text


# pydantic's error types, rephrased as "expected ..."; "got <input>" is appended.
_EXPECTATIONS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "int_type": _fixed("expected an integer"),
    "int_parsing": _fixed("expected an integer"),
    "int_from_float": _fixed("expected an integer"),
    "float_type": _fixed("expected a number"),
    "float_parsing": _fixed("expected a number"),
    "finite_number": _fixed("expected a finite number"),
    "bool_type": _fixed("expected true or false"),
    "bool_parsing": _fixed("expected true or false"),
    "string_type": _fixed("expected a string"),
    "list_type": _fixed("expected a list"),
    "tuple_type": _fixed("expected a list"),
    "dict_type": _fixed("expected a mapping"),
    "model_type": _fixed("expected a mapping"),
    "greater_than": _bound(">", "gt"),
    "greater_than_equal": _bound(">=", "ge"),
    "less_than": _bound("<", "lt"),
    "less_than_equal": _bound("<=", "le"),
    "too_short": lambda ctx: f"expected at least {ctx['min_length']} item(s)",
    "literal_error": lambda ctx: f"expected {ctx['expected']}",
}


def error_text(error: ErrorDetails) -> str:
    """The message of one pydantic error, as "expected ..., got ..." where possible."""
    kind = error["type"]
    if kind == CONFIG_ERROR_TYPE:
        return error["msg"]
    if kind == "missing":
        return "missing required key"
    rephrase = _EXPECTATIONS.get(kind)
    if rephrase is None:
        return f"{error['msg']}, got {describe_value(error['input'])}"
    return f"{rephrase(error.get('ctx', {}))}, got {describe_value(error['input'])}"
