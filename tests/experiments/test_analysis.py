"""The read-out's statistics on simulated profiles whose true effect is known: an effect is found
with the right sign and an interval that covers it at the stated rate, an A/A test shows the
stated false-positive rate, CUPED narrows the interval, and a broken split is flagged."""

from __future__ import annotations

import numpy as np

from services.experiments.analysis import ArmData, compare, sample_ratio_mismatch


def _arm(rng: np.random.Generator, n: int, lift: float) -> ArmData:
    # Heavy-ish tailed per-profile intensity (some profiles watch a lot), plays ~ Poisson.
    intensity = rng.gamma(shape=1.5, scale=1.4, size=n)
    pre = rng.poisson(intensity)
    post = rng.poisson(intensity * (1.0 + lift))
    return ArmData(values=post.astype(float).tolist(), pre=pre.astype(float).tolist())


def test_a_known_lift_is_found_and_its_interval_covers_the_truth_at_the_stated_rate() -> None:
    rng = np.random.default_rng(20261128)
    runs, covered, significant_right_sign = 200, 0, 0
    true_delta = 1.5 * 1.4 * 0.10  # E[intensity] * lift
    for _ in range(runs):
        result = compare(_arm(rng, 1500, 0.0), _arm(rng, 1500, 0.10), confidence=0.95)
        covered += result.ci_low <= true_delta <= result.ci_high
        significant_right_sign += result.p_value < 0.05 and result.delta > 0
    # 95% intervals: coverage within 3 binomial standard deviations of 0.95 over 200 runs.
    assert 0.90 <= covered / runs <= 0.995
    assert significant_right_sign / runs >= 0.9


def test_an_aa_test_reports_no_effect_at_the_stated_false_positive_rate() -> None:
    rng = np.random.default_rng(7)
    runs = 400
    false_positives = sum(
        compare(_arm(rng, 400, 0.0), _arm(rng, 400, 0.0)).p_value < 0.05 for _ in range(runs)
    )
    # alpha = 0.05; 3 binomial standard deviations over 400 runs is 0.033.
    assert 0.017 <= false_positives / runs <= 0.083


def test_cuped_narrows_the_interval_without_moving_the_estimate() -> None:
    rng = np.random.default_rng(3)
    control, treatment = _arm(rng, 3000, 0.0), _arm(rng, 3000, 0.05)
    plain = compare(control, treatment, use_cuped=False)
    adjusted = compare(control, treatment)
    assert adjusted.cuped and not plain.cuped
    assert adjusted.variance_reduction > 0.3
    assert (adjusted.ci_high - adjusted.ci_low) < 0.85 * (plain.ci_high - plain.ci_low)
    assert abs(adjusted.delta - plain.delta) < (plain.ci_high - plain.ci_low) / 2


def test_without_a_pre_period_the_plain_welch_test_is_used() -> None:
    result = compare(ArmData([1.0, 2.0, 3.0, 4.0]), ArmData([2.0, 3.0, 4.0, 5.0]))
    assert not result.cuped
    assert result.delta == 1.0
    assert result.ci_low < 1.0 < result.ci_high
    assert result.relative_delta == 1.0 / 2.5


def test_sample_ratio_mismatch_flags_a_broken_split_and_passes_a_fair_one() -> None:
    shares = {"control": 50, "treatment": 50}
    p_fair, fair = sample_ratio_mismatch({"control": 5031, "treatment": 4969}, shares)
    p_broken, broken = sample_ratio_mismatch({"control": 5250, "treatment": 4750}, shares)
    assert not fair and p_fair > 0.5
    assert broken and p_broken < 1e-5
    _, uneven_ok = sample_ratio_mismatch({"a": 2012, "b": 7988}, {"a": 20, "b": 80})
    assert not uneven_ok
