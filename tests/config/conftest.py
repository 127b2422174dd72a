"""External tools the configuration tests run: skipped where missing, required in CI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def require_tool(name: str, apt_package: str) -> str:
    """Path of executable ``name``; skip without it, but fail when CI is set."""
    path = shutil.which(name)
    if path is not None:
        return path
    message = f"{name} is not installed (apt-get install -y --no-install-recommends {apt_package})"
    if _in_ci():
        pytest.fail(f"{message}, and CI must run this check")
    pytest.skip(message)


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
