"""Data of the Python API tests: a reference and a live DataFrame, the live one drifted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def frames(
    n_ref: int = 4_000, n_live: int = 1_500, *, shift: float = 0.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """x ~ N(0, 1) (live: + shift), c in {a, b, c}; the live c gains a share of 'd'."""
    rng = np.random.default_rng(3)
    ref = pd.DataFrame(
        {
            "x": rng.normal(0.0, 1.0, n_ref),
            "n": rng.integers(0, 100, n_ref),
            "c": rng.choice(["a", "b", "c"], n_ref),
        }
    )
    live = pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, n_live),
            "n": rng.integers(0, 100, n_live),
            "c": rng.choice(
                ["a", "b", "c", "d"],
                n_live,
                p=[0.3, 0.3, 0.3, 0.1] if shift else [0.34, 0.33, 0.33, 0.0],
            ),
        }
    )
    return ref, live


@pytest.fixture
def same() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reference and a live frame from the same distributions."""
    return frames()


@pytest.fixture
def drifted() -> tuple[pd.DataFrame, pd.DataFrame]:
    """x shifted by one standard deviation, a new category in c; n unchanged."""
    return frames(shift=1.0)
