"""The bundled example (config/example.yaml) does what README's Quick start says it does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from driftmon.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "config" / "example.yaml"


def quick_start_example_text() -> str:
    """README's "Run the example" paragraph, whitespace collapsed."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("**1. Run the example**")
    end = text.index("**2. Run the tests**")
    return " ".join(text[start:end].split())


@pytest.fixture
def example_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, str]]:
    """``driftmon check --json`` on the example as shipped (results in a temporary SQLite)."""
    monkeypatch.setenv("DRIFTMON_DATABASE_URL", f"sqlite:///{tmp_path / 'example.db'}")
    code = main(["check", "-c", str(EXAMPLE), "--json"])
    (run,) = json.loads(capsys.readouterr().out)
    return code, {f["feature"]: f["status"] for f in run["features"]}


def test_the_example_uses_the_default_thresholds_and_min_rows() -> None:
    """So a newcomer sees the defaults at work, not a hand-tuned configuration."""
    text = EXAMPLE.read_text(encoding="utf-8")
    assert not re.search(r"^\s*thresholds:", text, re.MULTILINE)
    assert "min_rows" not in text


def test_the_example_shows_drift_clearly_under_the_defaults(
    example_run: tuple[int, dict[str, str]],
) -> None:
    code, statuses = example_run
    assert code == 1
    assert statuses == {
        "age": "ok",
        "income": "critical",
        "session_seconds": "critical",
        "country": "ok",
        "device": "critical",
    }


def test_readme_names_the_features_the_example_flags_and_its_log_line(
    example_run: tuple[int, dict[str, str]],
) -> None:
    _, statuses = example_run
    text = quick_start_example_text()
    drifting = [f for f, s in statuses.items() if s in ("warning", "critical")]
    calm = [f for f, s in statuses.items() if s == "ok"]
    assert f"drifted={len(drifting)}" in text
    assert "status=critical" in text
    assert "worst_feature=device" in text
    assert 'window_start=""' in text  # the example reads the whole file: no window start
    assert re.search(r"window_end=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", text)
    for name in drifting:
        assert f"`{name}` (" in text, name  # named, with what changed in the data
    assert f"all `{statuses[drifting[0]]}`" in text
    assert len({statuses[f] for f in drifting}) == 1
    assert " and ".join(f"`{f}`" for f in calm) + " stay `ok`" in text
