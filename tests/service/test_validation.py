"""validate's checks beyond the file: each source it opens is closed again; a spool folder
that cannot be used is reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from driftmon.service import validation
from driftmon.service.validation import ProblemKind, find_problems
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


def test_a_spool_folder_that_cannot_be_created_is_a_spool_problem(tmp_path: Path) -> None:
    """Found by validate, as `driftmon run` would refuse to start on it; null has none."""
    write_parquet(tmp_path / "reference.parquet", reference_columns())
    write_parquet(tmp_path / "live.parquet", live_columns())
    (tmp_path / "taken").write_text("")
    url = f"sqlite:///{tmp_path / 'r.db'}"
    taken = {"url": url, "spool": {"path": "taken/spool"}}
    cfg = make_config(tmp_path, url, monitor_dict(), database=taken)
    (problem,) = find_problems(cfg)
    assert problem.kind == ProblemKind.SPOOL
    assert problem.message.startswith(
        f"database.spool.path in {cfg.path}: the spool directory "
        f"{tmp_path / 'taken' / 'spool'} cannot be used: {tmp_path / 'taken'} is not a folder"
    )
    memory_only = {"url": url, "spool": {"path": None}}
    assert find_problems(make_config(tmp_path, url, monitor_dict(), database=memory_only)) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "live.parquet",
        "reference.parquet",
        "taken",
    ], "validate created the spool folder or the results database"
