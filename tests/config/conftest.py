"""External tools the configuration tests run: skipped where missing, required in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ci import require_tool

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_tool("promtool", "prometheus")


@pytest.fixture(scope="session")
def amtool() -> str:
    return require_tool("amtool", "prometheus-alertmanager")


@pytest.fixture(scope="session")
def docker_compose() -> str:
    return require_tool("docker-compose", "docker-compose")
