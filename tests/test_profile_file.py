"""The profile file: what ``Profile.load`` and ``reference: {profile: FILE}`` accept."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import driftmon
from driftmon.errors import ProfileError
from driftmon.profile_file import (
    PROFILE_FILE_VERSION,
    FeatureEntry,
    ProfileFile,
    read_profile,
)

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def document(tmp_path: Path) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=500), "c": rng.choice(["a", "b"], 500)})
    driftmon.Profile.fit(ref, ["x", "c"]).save(tmp_path / "good.json")
    data: dict[str, Any] = json.loads((tmp_path / "good.json").read_text())
    return data


def _load_error(tmp_path: Path, data: Any) -> str:
    path = tmp_path / "p.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    with pytest.raises(ProfileError) as caught:
        driftmon.Profile.load(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    return message


def test_a_newer_format_is_refused_with_what_to_do(
    tmp_path: Path, document: dict[str, Any]
) -> None:
    newer = {**document, "driftmon_profile": PROFILE_FILE_VERSION + 1, "driftmon_version": "9.0"}
    message = _load_error(tmp_path, newer)
    assert message.endswith(
        f"profile format {PROFILE_FILE_VERSION + 1} (written by driftmon 9.0) is newer than "
        f"this driftmon {driftmon.__version__} reads (up to {PROFILE_FILE_VERSION}); "
        "upgrade driftmon to read it"
    )


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        node: Any = data
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value

    return change


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (
            _set("driftmon_profile", "1"),
            "driftmon_profile: expected a format version (an integer >= 1), got '1'",
        ),
        (
            _set("driftmon_profile", KeyError),
            "not a driftmon profile (expected a JSON object with 'driftmon_profile'",
        ),
        (_set("rows", -1), "rows: expected an integer >= 0, got -1"),
        (_set("features.0.counts", "x"), "features[0].counts: expected a list, got 'x'"),
        (
            _set("features.0.counts", [1, 2]),
            "features[0] (name 'x').counts: expected 11 counts (one per bin, missing included), "
            "got 2",
        ),
        (
            _set("features.0.config.bins", 0),
            "features[0].config.bins: expected an integer >= 1, got 0",
        ),
        (
            _set("features.0.bins", {"kind": "numeric", "edges": [2, 1, 3, 4, 5, 6, 7, 8, 9]}),
            "features[0] (name 'x').bins: edges must be finite and strictly increasing",
        ),
        (
            _set("features.0.bins", {"kind": "categorical", "categories": ["a"]}),
            "bins are categorical but the feature is numeric",
        ),
        (_set("features.0.bins", {"kind": "hexagonal"}), "features[0].bins: "),
        (_set("features.1.config.name", "x"), "features[1] (name 'x'): duplicate feature name"),
        (
            _set("features.1.counts", [0, 0, 0, 0]),
            "they add up to 0 rows, but the profile has rows 500",
        ),
        (_set("features.1.error", "boom"), "a feature with 'error' has no 'bins' or 'counts'"),
        (
            _set("features.1.bins", KeyError),
            "expected 'bins' and 'counts' (a fitted feature) or 'error'",
        ),
        (_set("extra", 1), "unknown key 'extra'; allowed keys: driftmon_profile"),
        (_set("thresholds", {"policy": "loose"}), "thresholds: unknown threshold policy 'loose'"),
    ],
)
def test_a_malformed_file_is_refused_with_its_key_path(
    tmp_path: Path,
    document: dict[str, Any],
    change: Callable[[dict[str, Any]], None],
    fragment: str,
) -> None:
    change(document)
    assert fragment in _load_error(tmp_path, document)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "not a JSON profile file (Expecting property name"),
        ("[1, 2]", "not a driftmon profile"),
        ("\udcff", "not a JSON profile file"),
    ],
)
def test_a_file_that_is_not_a_profile_says_so(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(ProfileError, match=fragment.replace("(", r"\(")):
        read_profile(path)


def test_a_directory_is_not_a_profile(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="is a directory, expected a profile file"):
        read_profile(tmp_path)


def test_the_readme_documents_every_key() -> None:
    """README's "Profile file" table names every key of the file and of a feature."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Profile file") :]
    section = section[: section.index("\n## ")]
    for key in ProfileFile.model_fields:
        assert f"`{key}`" in section, key
    for key in FeatureEntry.model_fields:
        assert f"`features[].{key}`" in section, key
    assert "upgrade driftmon to read it" in section
