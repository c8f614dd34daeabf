"""Small statistics for the bench summary: bootstrap intervals of ratios, Jain's fairness index."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from migrate.model.bench import Interval

RESAMPLES = 2000


def _boot_means(x: Sequence[float], rng: np.random.Generator, n: int) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    idx = rng.integers(0, len(arr), size=(n, len(arr)))
    return arr[idx].mean(axis=1)


def mean_ci(x: Sequence[float], *, seed: int = 0, n: int = RESAMPLES) -> Interval:
    rng = np.random.default_rng(seed)
    means = _boot_means(x, rng, n)
    return Interval(value=float(np.mean(x)), low=float(np.percentile(means, 2.5)),
                    high=float(np.percentile(means, 97.5)))


def ratio_ci(num: Sequence[float], den: Sequence[float], *, seed: int = 0, n: int = RESAMPLES) -> Interval:
    """mean(num)/mean(den) with a percentile bootstrap over 1 s samples (each side resampled
    independently: the arms run at different times)."""
    rng = np.random.default_rng(seed)
    r = _boot_means(num, rng, n) / _boot_means(den, rng, n)
    return Interval(value=float(np.mean(num) / np.mean(den)), low=float(np.percentile(r, 2.5)),
                    high=float(np.percentile(r, 97.5)))


def gain_ci(new: Sequence[float], old: Sequence[float], *, seed: int = 0, n: int = RESAMPLES) -> Interval:
    """(mean(new) − mean(old)) / mean(old): the study's "utilization increase" (work per host)."""
    r = ratio_ci(new, old, seed=seed, n=n)
    return Interval(value=r.value - 1, low=r.low - 1, high=r.high - 1)


def verdict(iv: Interval, ref: float = 0.0) -> str:
    if iv.low <= ref <= iv.high:
        return "no difference"
    return "gain" if iv.value > ref else "loss"


def jain(x: Sequence[float]) -> float | None:
    """Jain's fairness index (Σx)² / (n·Σx²): 1 = perfectly fair, 1/n = one instance gets everything."""
    arr = np.asarray(x, dtype=float)
    if len(arr) == 0 or not np.any(arr):
        return None
    return float(arr.sum() ** 2 / (len(arr) * (arr**2).sum()))
