"""``${VAR}`` and ``${VAR:-default}`` in string values of the parsed YAML; ``$${`` is ``${``.

Substitution happens after parsing, inside strings only, and the result is not parsed or
rescanned again: an environment value can never add YAML structure or another reference.
``${VAR:-default}`` uses the default when VAR is unset or empty, as in the shell.

The text substitution produces is bounded (``MAX_INTERPOLATED_CHARS``): YAML aliases share
one string however often they repeat it, but each substituted copy is new, so a small file
whose aliased string holds a ``${VAR}`` would otherwise expand to gigabytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Loc = tuple[str | int, ...]

_REFERENCE = re.compile(r"\$\$\{|\$\{(?P<body>[^{}]*)\}|\$\{")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Values of variables whose names look like this are removed from error messages.
_SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|KEY|CREDENTIAL", re.IGNORECASE)
MAX_INTERPOLATED_CHARS = 10_000_000
"""Most characters all strings holding a reference may add up to once substituted."""


class InterpolationError(ValueError):
    """A reference that cannot be substituted, at key path ``loc``."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


@dataclass
class Interpolated:
    """The data with references substituted, and the secret-looking values used."""

    data: Any
    secrets: list[str] = field(default_factory=list)


def interpolate(
    data: Any, environ: Mapping[str, str], *, max_chars: int = MAX_INTERPOLATED_CHARS
) -> Interpolated:
    """Substitute references in every string value of ``data`` (keys are left alone).

    ``InterpolationError`` when the substituted strings add up to more than ``max_chars``.
    """
    secrets: list[str] = []
    produced = 0  # characters of the substituted strings so far

    def spend(n: int, loc: Loc) -> None:
        nonlocal produced
        produced += n
        if produced > max_chars:
            raise InterpolationError(
                loc,
                f"${{VAR}} substitution makes the configuration's text longer than "
                f"{max_chars:,} characters (is a string with ${{...}} repeated by YAML "
                "aliases?)",
            )

    def substitute(text: str, loc: Loc) -> str:
        if "${" not in text:
            return text
        spend(len(text), loc)  # the literal text around the references

        def replace(m: re.Match[str]) -> str:
            if m.group(0) == "$${":
                return "${"
            body = m.group("body")
            if body is None:
                raise InterpolationError(
                    loc,
                    f"invalid reference in {text!r}: expected ${{NAME}} or "
                    "${NAME:-default} (nested references are not supported; "
                    "write $${ for a literal ${)",
                )
            name, sep, default = body.partition(":-")
            if not _VAR_NAME.fullmatch(name):
                raise InterpolationError(
                    loc,
                    f"invalid reference '${{{body}}}': expected ${{NAME}} or "
                    "${NAME:-default} with NAME made of letters, digits and _",
                )
            value = environ.get(name)
            if not value and sep:
                spend(len(default), loc)
                return default
            if value is None:
                raise InterpolationError(
                    loc,
                    f"environment variable {name!r} is not set and has no default "
                    f"(set it, or write ${{{name}:-default}})",
                )
            if _SECRET_NAME.search(name) and value:
                secrets.append(value)
            spend(len(value), loc)
            return value

        return _REFERENCE.sub(replace, text)

    def walk(node: Any, loc: Loc) -> Any:
        if isinstance(node, str):
            return substitute(node, loc)
        if isinstance(node, Mapping):
            return {k: walk(v, (*loc, str(k))) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [walk(v, (*loc, i)) for i, v in enumerate(node)]
        return node

    return Interpolated(walk(data, ()), secrets)
