"""What the test environment provides, and the rule for what it lacks: skip locally, fail in CI.

CI (``CI=true``, as .ci/run is started) must run every test: a missing PostgreSQL server or
external tool there is a failure, never a silent skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

import pytest

PG_ENV = "DRIFTMON_TEST_POSTGRES_URL"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def postgres_server_url() -> str:
    """The test PostgreSQL server's URL; skip without one, but fail when CI is set."""
    url = os.environ.get(PG_ENV)
    if url:
        return url
    message = f"{PG_ENV} is not set (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
    if in_ci():
        pytest.fail(f"{message}, and CI must run the PostgreSQL tests")
    pytest.skip(message)


def require_tool(names: str | Sequence[str], apt_package: str) -> str:
    """Path of the first of ``names`` on PATH; skip without one, but fail when CI is set."""
    candidates = [names] if isinstance(names, str) else list(names)
    for name in candidates:
        path = shutil.which(name)
        if path is not None:
            return path
    message = (
        f"{' / '.join(candidates)} is not installed "
        f"(apt-get install -y --no-install-recommends {apt_package})"
    )
    if in_ci():
        pytest.fail(f"{message}, and CI must run this check")
    pytest.skip(message)
