"""README's "Python API" examples run as written: every ```pycon block of the section, in
order, in one namespace, with their printed results compared as doctest compares them."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_api_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Python API")
    return text[start : text.index("\n## ", start + 1)]


def pycon_blocks(section: str) -> list[str]:
    return re.findall(r"^```pycon\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)


def test_the_section_has_the_examples_the_issue_asks_for() -> None:
    """A comparison, a pipeline gate and a profile round trip, at least."""
    code = "\n".join(pycon_blocks(python_api_section()))
    for needed in ("driftmon.compare(", ".raise_for_drift()", ".save(", "Profile.load("):
        assert needed in code


def test_the_python_api_examples_run_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the examples write reference-profile.json
    examples = "\n".join(pycon_blocks(python_api_section()))
    test = doctest.DocTestParser().get_doctest(examples, {}, "README Python API", str(README), 0)
    assert len(test.examples) > 20
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    failures: list[str] = []
    runner.run(test, out=failures.append)
    assert runner.failures == 0, "".join(failures)
    assert (tmp_path / "reference-profile.json").is_file()
