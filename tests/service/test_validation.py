"""validate's source checks: each source it opens is closed again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from driftmon.service import validation
from driftmon.service.validation import find_problems
from driftmon.sources import FileSource
from driftmon.sources.factory import source_from_config

from .conftest import live_columns, make_config, monitor_dict, reference_columns, write_parquet


def test_every_source_validate_opens_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_parquet(tmp_path / "reference.parquet", reference_columns())
    write_parquet(tmp_path / "live.parquet", live_columns())
    cfg = make_config(tmp_path, f"sqlite:///{tmp_path / 'r.db'}", monitor_dict())
    opened: list[str] = []
    closed: list[str] = []
    real = source_from_config

    def tracked(*args: Any, **kwargs: Any) -> FileSource:
        source = real(*args, **kwargs)
        assert isinstance(source, FileSource)
        name = source.describe()
        opened.append(name)
        monkeypatch.setattr(source, "close", lambda: closed.append(name), raising=False)
        return source

    monkeypatch.setattr(validation, "source_from_config", tracked)
    assert find_problems(cfg) == []
    assert len(opened) == 2  # the reference and the live source
    assert sorted(closed) == sorted(opened)
