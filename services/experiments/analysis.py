"""The statistics of a read-out: Welch's t-test with CUPED, sample-ratio mismatch, guardrails.

Pure functions over per-profile values, so the same code serves the service's report and the
simulations that check it (known effects recovered, A/A false-positive rate).

- Welch: the difference of means with a t interval on Welch–Satterthwaite degrees of freedom
  (`scipy.stats.ttest_ind(equal_var=False)` gives the p-value).
- CUPED (Deng et al. 2013): y' = y - theta * (x - mean(x)) with the pre-period value x of the same
  profile and theta = cov(x, y) / var(x) pooled over all arms; used when the pre-period varies.
- Sample-ratio mismatch: a chi-square test of exposed profiles per arm against the configured
  shares; p < 0.001 flags a broken split.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "SRM_ALPHA",
    "ArmData",
    "Comparison",
    "compare",
    "cuped_theta",
    "sample_ratio_mismatch",
]

SRM_ALPHA = 0.001


@dataclass(frozen=True)
class ArmData:
    """Per-profile values of one arm: the metric, and the same metric before exposure."""

    values: Sequence[float]
    pre: Sequence[float] | None = None


@dataclass(frozen=True)
class Comparison:
    profiles: int
    mean: float
    delta: float
    ci_low: float
    ci_high: float
    relative_delta: float
    p_value: float
    cuped: bool
    variance_reduction: float


def cuped_theta(arms: Sequence[ArmData]) -> float | None:
    """theta pooled over arms; None when there is no usable pre-period."""
    if any(a.pre is None or len(a.pre) != len(a.values) for a in arms):
        return None
    x = np.concatenate([np.asarray(a.pre, dtype=float) for a in arms])
    y = np.concatenate([np.asarray(a.values, dtype=float) for a in arms])
    if len(x) < 3 or float(np.var(x)) == 0.0:
        return None
    return float(np.cov(x, y, ddof=1)[0, 1] / np.var(x, ddof=1))


def _adjusted(arm: ArmData, theta: float | None, pre_mean: float) -> np.ndarray:
    y = np.asarray(arm.values, dtype=float)
    if theta is None or arm.pre is None:
        return y
    return y - theta * (np.asarray(arm.pre, dtype=float) - pre_mean)


def compare(
    control: ArmData, treatment: ArmData, *, confidence: float = 0.95, use_cuped: bool = True
) -> Comparison:
    """treatment - control with a Welch interval (on CUPED-adjusted values when possible)."""
    theta = cuped_theta([control, treatment]) if use_cuped else None
    pre_mean = 0.0
    if theta is not None:
        pres = np.concatenate([np.asarray(a.pre, dtype=float) for a in (control, treatment)])  # type: ignore[arg-type]
        pre_mean = float(pres.mean())
    c = _adjusted(control, theta, pre_mean)
    t = _adjusted(treatment, theta, pre_mean)
    raw_c = np.asarray(control.values, dtype=float)
    raw_t = np.asarray(treatment.values, dtype=float)
    mean_c = float(raw_c.mean()) if len(raw_c) else 0.0
    mean_t = float(raw_t.mean()) if len(raw_t) else 0.0
    if len(c) < 2 or len(t) < 2:
        return Comparison(len(t), mean_t, mean_t - mean_c, -math.inf, math.inf, 0.0, 1.0, False, 0)
    delta = float(t.mean() - c.mean())
    var_c, var_t = float(c.var(ddof=1)), float(t.var(ddof=1))
    se2 = var_c / len(c) + var_t / len(t)
    if se2 == 0.0:
        p_value = 1.0 if delta == 0 else 0.0
        low = high = delta
    else:
        df = se2**2 / ((var_c / len(c)) ** 2 / (len(c) - 1) + (var_t / len(t)) ** 2 / (len(t) - 1))
        half = float(stats.t.ppf(0.5 + confidence / 2, df)) * math.sqrt(se2)
        low, high = delta - half, delta + half
        p_value = float(stats.ttest_ind(t, c, equal_var=False).pvalue)
    raw_var = float(np.concatenate([raw_c, raw_t]).var(ddof=1))
    adj_var = float(np.concatenate([c, t]).var(ddof=1))
    reduction = max(0.0, 1.0 - adj_var / raw_var) if theta is not None and raw_var > 0 else 0.0
    return Comparison(
        profiles=len(t),
        mean=mean_t,
        delta=delta,
        ci_low=low,
        ci_high=high,
        relative_delta=delta / mean_c if mean_c else 0.0,
        p_value=p_value,
        cuped=theta is not None,
        variance_reduction=reduction,
    )


def sample_ratio_mismatch(
    observed: Mapping[str, int], shares_percent: Mapping[str, int]
) -> tuple[float, bool]:
    """(p-value, mismatch) of exposed profiles per arm against the configured shares."""
    arms = list(shares_percent)
    counts = np.array([observed.get(a, 0) for a in arms], dtype=float)
    total = counts.sum()
    if total == 0 or len(arms) < 2:
        return 1.0, False
    expected = np.array([shares_percent[a] for a in arms], dtype=float)
    expected = expected / expected.sum() * total
    p_value = float(stats.chisquare(counts, expected).pvalue)
    return p_value, p_value < SRM_ALPHA
