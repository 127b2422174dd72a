"""The base every configuration model shares, and the small field types they use.

Every model is frozen, rejects unknown keys with a message that lists the allowed ones,
and raises ``PydanticCustomError`` with a finished message (see ``fail``) so the loader can
report it verbatim next to the file and key path.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

# Error type of every message this package writes itself; the loader prints it unchanged.
CONFIG_ERROR_TYPE = "driftmon_config"


def fail(message: str) -> PydanticCustomError:
    """A validation error whose text is ``message`` exactly (no brace formatting applies)."""
    return PydanticCustomError(CONFIG_ERROR_TYPE, "{message}", {"message": message})


def describe_value(value: Any) -> str:
    """A short, YAML-flavoured rendering of a value for "got ..." in messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        n = len(value)
        return "an empty list" if n == 0 else f"a list of {n} item{'s' if n > 1 else ''}"
    return f"a {type(value).__name__}"


def _int_not_bool(value: Any) -> Any:
    # pydantic's lax mode turns true into 1; in a config file that is always a mistake.
    if isinstance(value, bool):
        raise fail(f"expected an integer, got {describe_value(value)}")
    return value


def _float_not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise fail(f"expected a number, got {describe_value(value)}")
    return value


def _check_name(value: str) -> str:
    if not value.strip():
        raise fail(f"expected a non-empty name, got {value!r}")
    bad = [c for c in value if unicodedata.category(c) in ("Cc", "Zl", "Zp")]
    if bad:
        raise fail(f"expected a name without control characters, got {value!r}")
    return value


def _check_non_empty(value: str) -> str:
    if not value.strip():
        raise fail(f"expected a non-empty string, got {value!r}")
    return value


Int = Annotated[int, BeforeValidator(_int_not_bool)]
"""An integer; numeric strings (from ``${VAR}``) are accepted, booleans are not."""

Float = Annotated[float, BeforeValidator(_float_not_bool)]
"""A finite number; integers and numeric strings are accepted, booleans are not."""

Name = Annotated[str, AfterValidator(_check_name)]
"""A monitor or feature name: any unicode, not blank, no control characters."""

NonEmptyStr = Annotated[str, AfterValidator(_check_non_empty)]
"""A string that is not empty or only whitespace."""


class ConfigModel(BaseModel):
    """Frozen, strict about keys; subclasses may override ``_prepare`` to adjust raw input."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        allow_inf_nan=False,
        validate_by_name=True,
        validate_by_alias=True,
    )

    # Fields the loader fills in; a user writing them in YAML gets "unknown key".
    _internal_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def user_keys(cls) -> list[str]:
        """The keys a user may write for this model, as spelled in YAML."""
        return [
            f.alias or name
            for name, f in cls.model_fields.items()
            if name not in cls._internal_fields
        ]

    @model_validator(mode="before")
    @classmethod
    def _check_keys(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            raise fail(
                f"expected a mapping with keys {', '.join(cls.user_keys())}, "
                f"got {describe_value(data)}"
            )
        allowed = set(cls.user_keys()) | {
            n for n in cls.model_fields if n not in cls._internal_fields
        }
        unknown = [k for k in data if k not in allowed]
        if unknown:
            raise fail(_unknown_keys_message(unknown, cls.user_keys()))
        return cls._prepare(dict(data), info)

    @classmethod
    def _prepare(cls, data: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """Adjust the raw mapping before field validation (defaults that depend on context)."""
        return data


def _unknown_keys_message(unknown: list[Any], allowed: list[str]) -> str:
    names = ", ".join(repr(str(k)) for k in unknown)
    noun = "key" if len(unknown) == 1 else "keys"
    msg = f"unknown {noun} {names}; allowed keys: {', '.join(allowed)}"
    if len(unknown) == 1:
        close = difflib.get_close_matches(str(unknown[0]), allowed, n=1)
        if close:
            msg += f" (did you mean {close[0]!r}?)"
    return msg
