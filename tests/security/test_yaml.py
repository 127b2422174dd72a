"""Configuration YAML is parsed with ``yaml.safe_load`` only: tags that build Python objects
are a ConfigError, and nothing they name is run."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from driftmon.config import load_config
from driftmon.errors import ConfigError

from .conftest import no_hang

REPO = Path(__file__).resolve().parents[2]
# Every yaml attribute the package may use: the safe loader, safe dumpers, error classes.
ALLOWED_YAML_NAMES = {
    "safe_load",
    "safe_load_all",
    "safe_dump",
    "safe_dump_all",
    "YAMLError",
    "MarkedYAMLError",
}

MONITOR = """
monitors:
  - name: {name}
    schedule: {{every: 1h}}
    reference: {{path: r.parquet}}
    live: {{path: l.parquet}}
    features: [{{name: x}}]
"""


def payloads(marker: Path) -> list[str]:
    touch = f"touch {marker}"
    return [
        f'!!python/object/apply:os.system ["{touch}"]',
        MONITOR.format(name=f'!!python/object/apply:os.system ["{touch}"]'),
        MONITOR.format(name=f"!!python/object/apply:subprocess.check_call [[touch, {marker}]]"),
        MONITOR.format(name=f'!!python/object/new:os.system ["{touch}"]'),
        f'database: {{url: !!python/object/apply:os.system ["{touch}"]}}\n'
        + MONITOR.format(name="m"),
        MONITOR.format(name="!!python/name:os.system"),
        MONITOR.format(name="!!python/module:os"),
        f"server: !!python/object:pathlib.Path {{}}\n{MONITOR.format(name='m')}",
        # A custom tag in a flow sequence, and one an anchor/alias pair repeats.
        f'x: &a !!python/object/apply:os.system ["{touch}"]\ny: *a\n',
    ]


@pytest.mark.parametrize("index", range(9))
def test_python_object_tags_are_a_config_error_and_run_nothing(index: int, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    config = tmp_path / "driftmon.yaml"
    config.write_text(payloads(marker)[index])
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ={})
    message = str(caught.value)
    assert message.startswith(f"{config}: ")
    assert "python/" in message  # names the tag it refused
    assert not marker.exists()


def _laughs(levels: int = 9, width: int = 9) -> str:
    """A "billion laughs" document: a few hundred bytes, width**levels values expanded."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("retention: {max_age: 2026-02-30}\n", "date or tagged value cannot be read"),
        ("x: !!timestamp soon\n", "date or tagged value cannot be read"),
        ("x: !!int abc\n", "date or tagged value cannot be read"),
        ("x: !!bool maybe\n", "date or tagged value cannot be read"),
        ("[" * 5000, "nested too deeply"),
        ("monitors: &a [*a]\n", "aliases are expanded"),
        ("database: &a {url: *a}\n", "aliases are expanded"),
        (_laughs(), "aliases are expanded"),
    ],
    ids=["bad-date", "bad-timestamp", "bad-int", "bad-bool", "deep", "self-alias", "self-map",
         "billion-laughs"],
)  # fmt: skip
def test_malformed_yaml_is_a_config_error_not_a_crash_or_a_hang(
    text: str, expected: str, tmp_path: Path
) -> None:
    config = tmp_path / "driftmon.yaml"
    config.write_text(text)
    with no_hang(20), pytest.raises(ConfigError, match=expected):
        load_config(config, environ={})


def _yaml_names(tree: ast.AST) -> set[str]:
    """Names taken from the yaml module: ``yaml.X`` and ``from yaml import X``."""
    aliases = {"yaml"}
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names if a.name == "yaml"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "yaml":
            names |= {f"from {node.module} import {a.name}" for a in node.names}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            names.add(node.attr)
    return names


def test_the_package_uses_no_yaml_loader_but_safe_load() -> None:
    files = sorted((REPO / "driftmon").rglob("*.py"))
    assert len(files) > 20
    used: dict[str, set[str]] = {}
    for f in files:
        names = _yaml_names(ast.parse(f.read_text(), filename=str(f)))
        if names:
            used[str(f.relative_to(REPO))] = names
        text = f.read_text()
        for bad in ("yaml.load(", "yaml.unsafe_load", "yaml.Loader", "yaml.FullLoader"):
            assert bad not in text, f"{f}: {bad}"
    assert "safe_load" in set().union(*used.values()), used
    for path, names in used.items():
        assert names <= ALLOWED_YAML_NAMES, f"{path}: {sorted(names - ALLOWED_YAML_NAMES)}"


def test_the_name_scan_would_see_an_unsafe_loader() -> None:
    """The scan above is not vacuous: it reports each way of reaching a full loader."""
    code = (
        "import yaml\nimport yaml as y\nfrom yaml import Loader\n"
        "yaml.load(s, Loader=yaml.Loader)\ny.unsafe_load(s)\n"
    )
    names = _yaml_names(ast.parse(code))
    assert {"load", "Loader", "unsafe_load", "from yaml import Loader"} <= names
