"""A folder that cannot be written, and a child process that permissions apply to, even
when the tests run as root.

``chmod`` does not stop root: its capabilities CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
pass every permission check. So the code under test runs in a child process that, under
root, drops those two from its capability bounding set before ``exec`` (``prctl``): it
stays root and owns the same files, but a folder's mode 0555 now holds for it. Where that
cannot be done (no CAP_SETPCAP, not Linux) the test is skipped, except under CI, where it
fails (``tests/ci.py``).
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from .ci import in_ci

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2


def _drop_permission_capabilities() -> None:
    """In the child before ``exec``: root without the capabilities that ignore modes."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"prctl(PR_CAPBSET_DROP, {cap})")


def run_unprivileged(
    argv: Sequence[str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python argv...`` in a child that file permissions apply to."""
    env = {k: v for k, v in os.environ.items() if k != "DRIFTMON_CONFIG"}
    as_root = os.geteuid() == 0
    try:
        return subprocess.run(
            [sys.executable, *argv],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            preexec_fn=_drop_permission_capabilities if as_root else None,
        )
    except subprocess.SubprocessError as exc:
        if isinstance(exc, subprocess.TimeoutExpired):
            raise
        reason = f"cannot start a child without root's permission capabilities: {exc}"
        if in_ci():
            pytest.fail(f"{reason}, and CI must run the read-only folder tests")
        pytest.skip(reason)


def read_only_folder(path: Path) -> Path:
    """``path`` as a folder a ``run_unprivileged`` child can read and list, not write."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o555)
    return path
