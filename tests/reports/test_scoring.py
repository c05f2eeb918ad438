"""Tests for reports.scoring: every expected number is worked out by hand in the comment beside it.

Constants used in the arithmetic:
    z = 1.959963984540054, z^2 = 3.8414588206941254
    t(0.975, df=3) = 3.182446305284263 (tables: 3.182)
Wilson for s successes of n, p = s/n:
    centre = (p + z^2/2n) / (1 + z^2/n), half = z/(1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2)
Runs without Django: pytest -p no:django tests/reports/test_scoring.py
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports.scoring import (
    Z95,
    Difference,
    Estimate,
    Funnel,
    Reason,
    cronbach_alpha,
    difference,
    dimension_score,
    favourable_share,
    headline_gap,
    mean_of_values,
    pooled_favourable,
    power_gap,
    prevalence,
    reporting_funnel,
    response_rate,
    reverse_score,
    safe_place_score,
    trend,
    wilson,
)

TOL = 1e-9  # absolute tolerance on 0..1 proportions
PCT = 1e-7  # absolute tolerance on percentages / scores


def approx(x: float, tol: float = PCT):
    return pytest.approx(x, abs=tol)


def none_estimate(e: Estimate) -> bool:
    return e.value is None and e.low is None and e.high is None


def none_difference(d: Difference) -> bool:
    return d.value is None and d.low is None and d.high is None and d.significant is False


# Wilson 3 of 5 (p = 0.6), used by several functions below:
#   1 + z^2/5 = 1.7682917641
#   centre = (0.6 + 3.8414588207/10) / 1.7682917641 = 0.9841458821 / 1.7682917641 = 0.5565517535
#   half = 1.959963985 / 1.7682917641 * sqrt(0.24/5 + 3.8414588207/100)
#        = 1.1083938063 * sqrt(0.0864145882) = 1.1083938063 * 0.2939635830 = 0.3258274722
#   low = 0.2307242813, high = 0.8823792258
W3_5 = (0.2307242812760128, 0.882379225767352)


# ------------------------------------------------------------------------------------ wilson


def test_wilson_zero_successes():
    # p = 0: centre = half = (z^2/2n)/(1 + z^2/n) = z^2 / (2(n + z^2)), so low = 0 exactly and
    # high = z^2/(n + z^2) = 3.8414588207 / 13.8414588207 = 0.2775327999
    assert wilson(successes=0, n=10) == (0.0, approx(0.2775327998628892, TOL))


def test_wilson_all_successes():
    # mirror image: low = n/(n + z^2) = 10 / 13.8414588207 = 0.7224672001, high = 1 exactly
    assert wilson(successes=10, n=10) == (approx(0.7224672001371107, TOL), 1.0)


def test_wilson_zero_successes_is_exactly_zero_not_rounding_noise():
    # centre - half for 0/12 is 2.8e-17 in floating point; the bound must be exactly 0
    low, high = wilson(successes=0, n=12)
    assert low == 0.0
    # high = z^2/(12 + z^2) = 3.8414588207 / 15.8414588207 = 0.2424940067
    assert high == approx(0.24249400665524085, TOL)


def test_wilson_three_of_five():
    low, high = wilson(successes=3, n=5)
    assert (low, high) == (approx(W3_5[0], TOL), approx(W3_5[1], TOL))


def test_wilson_custom_z():
    # z = 1: 0 of 1 -> high = z^2/(n + z^2) = 1/2
    assert wilson(successes=0, n=1, z=1.0) == (0.0, approx(0.5, TOL))


@pytest.mark.parametrize(("successes", "n"), [(0, 0), (1, 0), (-1, 5), (6, 5), (1, -3)], ids=str)
def test_wilson_degenerate_inputs_give_none(successes, n):
    assert wilson(successes=successes, n=n) == (None, None)


def test_wilson_bad_z_gives_none():
    assert wilson(successes=1, n=2, z=0.0) == (None, None)
    assert wilson(successes=1, n=2, z=math.nan) == (None, None)


# --------------------------------------------------------------------------- dimension score


def test_dimension_score_t_interval():
    # respondent means 3, 3.5, 4, 4.5: n = 4, total = 15, total_sq = 9 + 12.25 + 16 + 20.25 = 57.5
    # mean = 3.75 -> score (3.75 - 1)/4*100 = 68.75
    # s^2 = (57.5 - 15^2/4)/3 = (57.5 - 56.25)/3 = 0.4166667; se = sqrt(0.4166667/4) = 0.3227486
    # half (1..5 scale) = 3.1824463 * 0.3227486 = 1.0271301 -> x25 = 25.6782532
    # low = 68.75 - 25.6782532 = 43.0717468, high = 68.75 + 25.6782532 = 94.4282532
    e = dimension_score(n=4, total=15.0, total_sq=57.5)
    assert e == Estimate(
        value=approx(68.75), low=approx(43.071746790489016), high=approx(94.42825320951098), n=4
    )


def test_dimension_score_tiny_sample_is_clipped_to_0_100():
    # means 1 and 5: n = 2, total 6, total_sq 26, mean 3 -> 50
    # s^2 = (26 - 36/2)/1 = 8, se = sqrt(8/2) = 2, t(0.975, 1) = 12.7062 -> half 25.4 on 1..5,
    # i.e. far beyond the scale, so both bounds are clipped: [0, 100]
    assert dimension_score(n=2, total=6.0, total_sq=26.0) == Estimate(50.0, 0.0, 100.0, 2)


def test_dimension_score_no_spread_gives_zero_width_interval():
    # three respondents all at 5: total 15, total_sq 75, s^2 = (75 - 225/3)/2 = 0 -> [100, 100]
    assert dimension_score(n=3, total=15.0, total_sq=75.0) == Estimate(100.0, 100.0, 100.0, 3)


def test_dimension_score_reverse_scored_total():
    # one reverse-scored item, raw answers 1, 2, 2: reversed 5, 4, 4 (6 - x)
    # total = 13, total_sq = 25 + 16 + 16 = 57, mean 13/3 = 4.3333 -> (4.3333 - 1)/4*100 = 83.3333
    reversed_means = [reverse_score(value=v) for v in (1, 2, 2)]
    assert reversed_means == [5, 4, 4]
    total, total_sq = sum(reversed_means), sum(x * x for x in reversed_means)
    assert dimension_score(n=3, total=total, total_sq=total_sq).value == approx(250 / 3)


def test_dimension_score_small_n():
    # n = 1: mean 4 -> 75, no variance, so no interval; n = 0: nothing at all
    assert dimension_score(n=1, total=4.0, total_sq=16.0) == Estimate(75.0, None, None, 1)
    assert dimension_score(n=0, total=0.0, total_sq=0.0) == Estimate(None, None, None, 0)
    assert none_estimate(dimension_score(n=3, total=math.nan, total_sq=1.0))


# ------------------------------------------------------------------------- favourable shares


def test_favourable_share_ignores_prefer_not_to_say():
    # {1:1, 2:1, 4:2, 5:1, 9:3}: 9 is not a scale point -> n = 5, favourable 4,5 = 3 -> 60%
    # Wilson 3/5 -> [23.0724281, 88.2379226] %
    e = favourable_share(counts={1: 1, 2: 1, 4: 2, 5: 1, 9: 3})
    assert e == Estimate(60.0, approx(100 * W3_5[0]), approx(100 * W3_5[1]), 5)


def test_favourable_share_reverse():
    # same counts, reverse-scored item: favourable is 1,2 -> 2/5 = 40%
    # Wilson 2/5 is the mirror image of 3/5: [1 - 0.8823792, 1 - 0.2307243] = [11.762077, 76.927572]
    e = favourable_share(counts={1: 1, 2: 1, 4: 2, 5: 1, 99: 1}, reverse=True)
    assert e == Estimate(40.0, approx(100 * (1 - W3_5[1])), approx(100 * (1 - W3_5[0])), 5)


def test_favourable_share_empty():
    assert favourable_share(counts={}) == Estimate(None, None, None, 0)
    assert favourable_share(counts={9: 4}) == Estimate(None, None, None, 0)
    assert none_estimate(favourable_share(counts={4: -1, 5: 3}))


def test_pooled_favourable_uses_respondents_as_effective_n():
    # 12 favourable of 20 answers from 5 people: p = 0.6 -> 60%, Wilson with n = 5 i.e. the same
    # interval as 3 of 5: [23.0724281, 88.2379226]. (With n = 20 it would be much narrower:
    # [38.658, 78.119].)
    e = pooled_favourable(favourable=12, answered=20, respondents=5)
    assert e == Estimate(60.0, approx(100 * W3_5[0]), approx(100 * W3_5[1]), 5)


def test_pooled_favourable_edges():
    assert pooled_favourable(favourable=0, answered=0, respondents=0) == Estimate(
        None, None, None, 0
    )
    assert none_estimate(pooled_favourable(favourable=5, answered=4, respondents=2))
    # respondents = 0 with answers is inconsistent upstream: a value, but no interval
    assert pooled_favourable(favourable=1, answered=2, respondents=0) == Estimate(
        50.0, None, None, 0
    )
    # zero favourable: low is exactly 0
    assert pooled_favourable(favourable=0, answered=9, respondents=3).low == 0.0


def test_prevalence_at_least_once():
    # freq5 {1:6, 2:2, 3:1, 5:1, 9:2}: 9 ignored -> n = 10, answered >= 2: 2 + 1 + 1 = 4 -> 40%
    # Wilson 4/10: 1 + z^2/10 = 1.3841459; centre = (0.4 + 0.1920729)/1.3841459 = 0.4277533
    # half = 1.959964/1.3841459 * sqrt(0.024 + 0.0096036) = 1.4160099 * 0.1833128 = 0.2595730
    # -> [16.818033, 68.732623] %
    e = prevalence(counts={1: 6, 2: 2, 3: 1, 5: 1, 9: 2})
    assert e == Estimate(40.0, approx(16.818032970623614), approx(68.73262302663417), 10)


def test_prevalence_empty():
    assert prevalence(counts={}) == Estimate(None, None, None, 0)


def test_response_rate():
    # 30 of 40: p = 0.75; 1 + z^2/40 = 1.0960365; centre = (0.75 + 0.0480182)/1.0960365 = 0.7280946
    # half = 1.959964/1.0960365 * sqrt(0.0046875 + 0.0006002) = 1.7882295 * 0.0727157 = 0.1300342
    # -> [59.806039, 85.812881] %
    e = response_rate(responded=30, invited=40)
    assert e == Estimate(75.0, approx(59.80603857923197), approx(85.8128813609037), 40)


def test_response_rate_edges():
    assert response_rate(responded=0, invited=0) == Estimate(None, None, None, 0)
    assert none_estimate(response_rate(responded=41, invited=40))


# ----------------------------------------------------------------------- differences and gaps


def test_difference_significant():
    # a = 60 [50, 70], b = 40 [30, 50]: se_a = se_b = 10/z; se = sqrt(2) * 10 / z
    # half = z * se = 10 * sqrt(2) = 14.1421356 -> 20 +- 14.1421356 = [5.8578644, 34.1421356]
    d = difference(a=Estimate(60.0, 50.0, 70.0, 20), b=Estimate(40.0, 30.0, 50.0, 20))
    assert d == Difference(approx(20.0), approx(5.857864376269049), approx(34.14213562373095), True)


def test_difference_not_significant():
    # a = 60 [50, 70], b = 52 [42, 62]: 8 +- 14.1421356 = [-6.1421356, 22.1421356] contains 0
    d = difference(a=Estimate(60.0, 50.0, 70.0, 20), b=Estimate(52.0, 42.0, 62.0, 20))
    assert d == Difference(
        approx(8.0), approx(-6.142135623730951), approx(22.14213562373095), False
    )


def test_difference_negative_significant():
    # b - a of the first example: -20 +- 14.1421356 = [-34.1421356, -5.8578644], excludes 0
    d = difference(a=Estimate(40.0, 30.0, 50.0, 20), b=Estimate(60.0, 50.0, 70.0, 20))
    assert d.significant is True and d.high == approx(-5.857864376269049)


def test_difference_uses_larger_side_of_asymmetric_interval():
    # a = 60 [55, 70]: larger side 10 (not the mean half-width 7.5); b = 40 [30, 50]: side 10
    # -> same interval as the symmetric example: 20 +- 14.1421356
    d = difference(a=Estimate(60.0, 55.0, 70.0, 20), b=Estimate(40.0, 30.0, 50.0, 20))
    assert (d.low, d.high) == (approx(5.857864376269049), approx(34.14213562373095))


def test_difference_missing_parts():
    full = Estimate(60.0, 50.0, 70.0, 20)
    assert none_difference(difference(a=full, b=Estimate(None, None, None, 0)))
    assert none_difference(difference(a=Estimate(None, None, None, 0), b=full))
    # value present, interval missing (n = 1): the value, never significant
    assert difference(a=full, b=Estimate(10.0, None, None, 1)) == Difference(
        50.0, None, None, False
    )


def test_trend():
    # 60 [50, 70] now vs 40 [30, 50] before: as in test_difference_significant
    d = trend(current=Estimate(60.0, 50.0, 70.0, 20), previous=Estimate(40.0, 30.0, 50.0, 20))
    assert d == Difference(approx(20.0), approx(5.857864376269049), approx(34.14213562373095), True)
    assert none_difference(trend(current=Estimate(60.0, 50.0, 70.0, 20), previous=None))


def test_power_gap_skips_missing_middle_rank():
    # ranks 1, 3 and 4 (rank 2 not present, rank 3 suppressed): highest with a value is 4,
    # lowest is 1 -> 70 - 40 = 30, half = 10 * sqrt(2) = 14.1421356 -> [15.8578644, 44.1421356]
    by_rank = {
        1: Estimate(40.0, 30.0, 50.0, 12),
        3: Estimate(None, None, None, 3),
        4: Estimate(70.0, 60.0, 80.0, 8),
    }
    d = power_gap(by_rank=by_rank)
    assert d == Difference(
        approx(30.0), approx(15.857864376269049), approx(44.14213562373095), True
    )


def test_power_gap_top_rank_missing_uses_next_highest():
    # rank 4 has no value, so the gap is rank 2 - rank 1 = 45 - 40 = 5, +- 14.1421356: not sig.
    by_rank = {
        4: Estimate(None, None, None, 0),
        2: Estimate(45.0, 35.0, 55.0, 9),
        1: Estimate(40.0, 30.0, 50.0, 12),
    }
    d = power_gap(by_rank=by_rank)
    assert d.value == approx(5.0) and d.significant is False


def test_power_gap_needs_two_ranks():
    assert none_difference(power_gap(by_rank={}))
    assert none_difference(power_gap(by_rank={1: Estimate(40.0, 30.0, 50.0, 12)}))
    only_one = {1: Estimate(40.0, 30.0, 50.0, 12), 2: Estimate(None, None, None, 2)}
    assert none_difference(power_gap(by_rank=only_one))


def test_headline_gap_prefers_significant_then_size_then_name():
    gaps = {
        "voice": Difference(-30.0, -65.0, 5.0, False),  # largest, but not significant
        "leadership": Difference(-20.0, -30.0, -10.0, True),
        "fairness": Difference(20.0, 10.0, 30.0, True),  # |20| ties with leadership
        "incivility": Difference(12.0, 2.0, 22.0, True),
        "harassment": Difference(None, None, None, False),
    }
    # significant first -> {leadership, fairness, incivility}; largest |value| 20 is a tie;
    # tie-break: alphabetical -> "fairness"
    assert headline_gap(gaps=gaps) == ("fairness", gaps["fairness"])
    # same answer whatever the order of the mapping
    assert headline_gap(gaps=dict(reversed(list(gaps.items())))) == ("fairness", gaps["fairness"])


def test_headline_gap_without_significant_takes_largest_absolute():
    gaps = {
        "voice": Difference(-30.0, -65.0, 5.0, False),
        "fairness": Difference(25.0, -5.0, 55.0, False),
    }
    assert headline_gap(gaps=gaps) == ("voice", gaps["voice"])


def test_headline_gap_nothing_to_show():
    assert headline_gap(gaps={}) is None
    assert headline_gap(gaps={"voice": Difference(None, None, None, False)}) is None


# -------------------------------------------------------------------------------- safe place


def test_safe_place_score():
    # {0:1, 5:1, 6:1, 7:2, 8:1, 9:2, 10:2, 99:1}: 99 ignored -> n = 10
    # promoters (9-10) = 4 -> 0.4; detractors (0-6) = 3 -> 0.3; score = 40 - 30 = 10
    # var = (0.4 + 0.3 - 0.1^2)/10 = 0.069; se = 0.2626785; half = z * se = 0.5148404 -> 51.48404
    # -> [10 - 51.48404, 10 + 51.48404] = [-41.484042, 61.484042]
    e = safe_place_score(counts={0: 1, 5: 1, 6: 1, 7: 2, 8: 1, 9: 2, 10: 2, 99: 1})
    assert e == Estimate(approx(10.0), approx(-41.484042054591505), approx(61.484042054591505), 10)


def test_safe_place_score_clipped_and_small():
    # 4 promoters, 1 detractor: p_pro 0.8, p_det 0.2, score 60;
    # var = (1.0 - 0.36)/5 = 0.128, se = sqrt(0.128) = 0.35777088, half = z * se = 0.70121803
    # -> [60 - 70.121803, 60 + 70.121803] = [-10.121803, 130.121803] -> high clipped to 100
    e = safe_place_score(counts={10: 4, 0: 1})
    assert e == Estimate(approx(60.0), approx(-10.121803246126525), 100.0, 5)
    assert safe_place_score(counts={8: 1}) == Estimate(0.0, None, None, 1)
    assert safe_place_score(counts={}) == Estimate(None, None, None, 0)
    assert safe_place_score(counts={99: 3}) == Estimate(None, None, None, 0)


# ----------------------------------------------------------------------------------- funnel


def test_reporting_funnel():
    # 20 experienced something; "did you report?" yes 4, no 12 (4 preferred not to say)
    # reported share 4/16 = 25%: 1 + z^2/16 = 1.2400912; centre = (0.25 + 0.1200456)/1.2400912
    # = 0.2984019; half = 1.5805093 * sqrt(0.01171875 + 0.0037512) = 1.5805093 * 0.1243783
    # = 0.1965812 -> [10.182067, 49.498317] %
    # why not (of the 12): 2 -> 9/12 = 75%, 1 -> 6/12 = 50%, 3 -> 6/12 = 50%, 4 -> 0%
    # Wilson 9/12: [46.769467, 91.105833]; 6/12: centre 0.5, half = 0.2462184 -> [25.378160,
    # 74.621840]; 0/12: [0, 24.249401]
    f = reporting_funnel(
        experienced=20, reported=4, not_reported=12, why_not={1: 6, 3: 6, 4: 0, 2: 9}
    )
    assert isinstance(f, Funnel)
    assert (f.experienced, f.reported, f.not_reported) == (20, 4, 12)
    assert f.reported_share == Estimate(
        25.0, approx(10.182067491213048), approx(49.498316535508774), 16
    )
    assert [r.value for r in f.reasons] == [2, 1, 3, 4]  # by count, ties by value
    assert f.reasons[0] == Reason(
        2, 9, Estimate(75.0, approx(46.76946650664343), approx(91.10583316059452), 12)
    )
    half = Estimate(50.0, approx(25.37815976337061), approx(74.62184023662939), 12)
    assert f.reasons[1] == Reason(1, 6, half)
    assert f.reasons[2] == Reason(3, 6, half)
    assert f.reasons[3] == Reason(4, 0, Estimate(0.0, 0.0, approx(24.249400665524085), 12))


def test_reporting_funnel_empty():
    f = reporting_funnel(experienced=0, reported=0, not_reported=0, why_not={})
    assert f.reported_share == Estimate(None, None, None, 0)
    assert f.reasons == ()
    f = reporting_funnel(experienced=3, reported=3, not_reported=0, why_not={1: 0})
    assert f.reported_share.value == 100.0 and f.reported_share.high == 100.0
    assert none_estimate(f.reasons[0].share)


# ---------------------------------------------------------------------------- cronbach alpha

# 5 respondents x 3 items (complete cases):
#        i1 i2 i3 |  T
#   r1    4  5  4 | 13
#   r2    3  3  2 |  8
#   r3    5  4  5 | 14
#   r4    2  2  3 |  7
#   r5    4  4  5 | 13
ALPHA_MATRIX = [[4, 5, 4], [3, 3, 2], [5, 4, 5], [2, 2, 3], [4, 4, 5]]


def test_cronbach_alpha_by_hand():
    # i1: sum 18, sumsq 16+9+25+4+16 = 70, var = (70 - 18^2/5)/4 = (70 - 64.8)/4 = 1.3
    # i2: sum 18, sumsq 25+9+16+4+16 = 70, var = 1.3
    # i3: sum 19, sumsq 16+4+25+9+25 = 79, var = (79 - 19^2/5)/4 = (79 - 72.2)/4 = 1.7
    # T:  sum 55, sumsq 169+64+196+49+169 = 647, var = (647 - 55^2/5)/4 = (647 - 605)/4 = 10.5
    # alpha = 3/2 * (1 - (1.3 + 1.3 + 1.7)/10.5) = 1.5 * 6.2/10.5 = 9.3/10.5 = 31/35 = 0.8857143
    alpha = cronbach_alpha(
        n=5, item_sums=[18, 18, 19], item_sumsq=[70, 70, 79], total_sum=55, total_sumsq=647
    )
    assert alpha == pytest.approx(31 / 35, abs=1e-12)


def _alpha_from_matrix(x: np.ndarray) -> float:
    """Reference: alpha from the raw respondent x item matrix, with numpy."""
    m = x.shape[1]
    return m / (m - 1) * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1))


def _alpha_from_sums(x: np.ndarray) -> float | None:
    t = x.sum(axis=1)
    return cronbach_alpha(
        n=x.shape[0],
        item_sums=x.sum(axis=0).tolist(),
        item_sumsq=(x**2).sum(axis=0).tolist(),
        total_sum=float(t.sum()),
        total_sumsq=float((t**2).sum()),
    )


def test_cronbach_alpha_matches_numpy_on_raw_matrix():
    x = np.array(ALPHA_MATRIX, dtype=float)
    # the sums quoted in test_cronbach_alpha_by_hand are the ones of this matrix
    assert x.sum(axis=0).tolist() == [18, 18, 19]
    assert (x**2).sum(axis=0).tolist() == [70, 70, 79]
    assert x.sum(axis=1).tolist() == [13, 8, 14, 7, 13]
    assert _alpha_from_matrix(x) == pytest.approx(31 / 35, abs=1e-12)
    assert _alpha_from_sums(x) == pytest.approx(_alpha_from_matrix(x), abs=1e-12)


def test_cronbach_alpha_none_cases():
    # n < 3
    assert (
        cronbach_alpha(n=2, item_sums=[3, 3], item_sumsq=[5, 5], total_sum=6, total_sumsq=20)
        is None
    )
    # m < 2
    assert (
        cronbach_alpha(n=5, item_sums=[18], item_sumsq=[70], total_sum=18, total_sumsq=70) is None
    )
    # var(T) = 0: everyone's total is 6 (e.g. rows 2,4 / 4,2 / 3,3): sum 18, sumsq 108
    assert (
        cronbach_alpha(n=3, item_sums=[9, 9], item_sumsq=[29, 29], total_sum=18, total_sumsq=108)
        is None
    )
    # mismatched lengths
    assert cronbach_alpha(n=5, item_sums=[1, 2], item_sumsq=[1], total_sum=3, total_sumsq=9) is None


# ---------------------------------------------------------------------------- mean of values


def test_mean_of_values_five_point_scale_ignores_9():
    # scale 1..5, {2:1, 3:2, 4:1, 9:1}: 9 ignored -> n = 4, mean 12/4 = 3
    # s^2 = (1 + 0 + 0 + 1)/3 = 0.6666667; se = sqrt(0.6666667/4) = 0.4082483
    # half = 3.1824463 * 0.4082483 = 1.2992283 -> [1.7007717, 4.2992283]
    e = mean_of_values(counts={2: 1, 3: 2, 4: 1, 9: 1}, scale=(1, 5))
    assert e == Estimate(approx(3.0), approx(1.7007717363746626), approx(4.299228263625338), 4)


def test_mean_of_values_eleven_point_default_keeps_9_and_clips():
    # 0..10 item, {7:1, 8:2, 10:1, 99:1}: 99 ignored -> n = 4, mean (7 + 16 + 10)/4 = 8.25
    # s^2 = (1.5625 + 2*0.0625 + 3.0625)/3 = 1.5833333; se = sqrt(1.5833333/4) = 0.6291529
    # half = 3.1824463 * 0.6291529 = 2.0022452 -> [6.2477548, 10.2522452] -> high clipped to 10
    e = mean_of_values(counts={7: 1, 8: 2, 10: 1, 99: 1})
    assert e == Estimate(approx(8.25), approx(6.247754774663726), 10.0, 4)
    # 9 is a point of the 0..10 scale: {9:2} -> mean 9, no spread -> [9, 9]
    assert mean_of_values(counts={9: 2}) == Estimate(9.0, 9.0, 9.0, 2)


def test_mean_of_values_small():
    assert mean_of_values(counts={}) == Estimate(None, None, None, 0)
    assert mean_of_values(counts={6: 1}) == Estimate(6.0, None, None, 1)


# ---------------------------------------------------------------------------------- types


def test_results_are_frozen():
    e = Estimate(1.0, 0.0, 2.0, 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.value = 2.0  # type: ignore[misc]


def test_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        wilson(1, 2)  # type: ignore[misc]


def test_z95_is_the_normal_quantile():
    from scipy.stats import norm

    assert norm.ppf(0.975) == pytest.approx(Z95, abs=1e-12)


# ----------------------------------------------------------------------------- properties

counts_5 = st.dictionaries(st.sampled_from([1, 2, 3, 4, 5, 9, 99]), st.integers(0, 200))
counts_11 = st.dictionaries(st.sampled_from([*range(11), 99]), st.integers(0, 200))


def _contains(e: Estimate) -> bool:
    return e.low is None or (e.low <= e.value <= e.high)


@given(n=st.integers(1, 10_000), data=st.data())
def test_wilson_bounds_in_unit_interval_and_contain_p(n, data):
    s = data.draw(st.integers(0, n))
    low, high = wilson(successes=s, n=n)
    assert 0.0 <= low <= s / n <= high <= 1.0


@given(counts=counts_5, reverse=st.booleans())
def test_favourable_and_prevalence_intervals_contain_estimate(counts, reverse):
    for e in (favourable_share(counts=counts, reverse=reverse), prevalence(counts=counts)):
        if e.value is not None:
            assert 0.0 <= e.low <= e.value <= e.high <= 100.0


@given(means=st.lists(st.floats(1.0, 5.0), min_size=1, max_size=60))
def test_dimension_score_in_0_100_and_contains_estimate(means):
    e = dimension_score(n=len(means), total=sum(means), total_sq=sum(x * x for x in means))
    assert 0.0 <= e.value <= 100.0
    assert _contains(e)
    if e.low is not None:
        assert 0.0 <= e.low <= e.high <= 100.0


@given(counts=counts_11)
def test_safe_place_and_mean_contain_estimate(counts):
    sp = safe_place_score(counts=counts)
    if sp.value is not None:
        assert -100.0 <= sp.value <= 100.0 and _contains(sp)
    mv = mean_of_values(counts=counts)
    if mv.value is not None:
        assert 0.0 <= mv.value <= 10.0 and _contains(mv)


@given(
    a=st.tuples(st.floats(0, 100), st.floats(0, 30), st.floats(0, 30)),
    b=st.tuples(st.floats(0, 100), st.floats(0, 30), st.floats(0, 30)),
)
def test_difference_interval_contains_value_and_flag_matches_interval(a, b):
    ea = Estimate(a[0], a[0] - a[1], a[0] + a[2], 10)
    eb = Estimate(b[0], b[0] - b[1], b[0] + b[2], 10)
    d = difference(a=ea, b=eb)
    assert d.low <= d.value <= d.high
    assert d.significant == (d.low > 0 or d.high < 0)


@given(rows=st.lists(st.lists(st.integers(1, 5), min_size=3, max_size=3), min_size=3, max_size=40))
def test_cronbach_alpha_from_sums_matches_raw_matrix(rows):
    x = np.array(rows, dtype=float)
    alpha = _alpha_from_sums(x)
    if x.sum(axis=1).var() == 0:
        assert alpha is None
    else:
        assert alpha <= 1.0 + 1e-9
        assert alpha == pytest.approx(_alpha_from_matrix(x), abs=1e-9)
