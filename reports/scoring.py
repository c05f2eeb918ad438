"""Scores, shares and their 95% intervals, computed from pre-aggregated counts.

Pure Python (numpy/scipy only, no Django): every function takes the counts the summary tables
hold for one group and returns a small frozen dataclass. See DESIGN.md, "Measures".

Conventions shared by every function here:

* All arguments are keyword-only.
* Nothing raises on thin or odd data. Too few people to estimate something gives ``None``:
  no respondents gives ``value=None``, and a variance-based interval needs ``n >= 2``.
  Inconsistent input (negative counts, more successes than trials, non-finite sums) also gives
  ``None`` rather than a misleading number.
* Percentages are on 0..100 (the safe-place score on -100..100); ``wilson`` alone returns 0..1.
* Intervals are two-sided 95% intervals and are clipped to the range the measure can take.
* "Prefer not to say" codes: ``favourable_share`` and ``prevalence`` count only the scale points
  1..5, ``safe_place_score`` only 0..10, and ``mean_of_values`` only the points of its ``scale``
  (default 0..10), so 9 (yes/no "prefer not to say") and 99 are ignored wherever they are not a
  scale point. ``reporting_funnel`` expects the yes/no counts without 9 and keeps every reason
  value it is given. The other functions take totals that the caller has already filtered.
* No function here applies the anonymity guard: every figure still passes ``reports.anonymity``
  before it leaves ``reports``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from scipy import stats

__all__ = [
    "Z95",
    "Difference",
    "Estimate",
    "Funnel",
    "Reason",
    "cronbach_alpha",
    "difference",
    "dimension_score",
    "favourable_share",
    "headline_gap",
    "mean_of_values",
    "pooled_favourable",
    "power_gap",
    "prevalence",
    "reporting_funnel",
    "response_rate",
    "reverse_score",
    "safe_place_score",
    "trend",
    "wilson",
]

#: Standard normal 97.5% quantile, i.e. the z of a two-sided 95% interval.
Z95 = 1.959963984540054

_FIVE_POINTS = frozenset(range(1, 6))
_ELEVEN_POINTS = frozenset(range(0, 11))


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% interval and the number of people it rests on.

    ``value`` is None when there is nobody to estimate from (or the input is inconsistent);
    ``low``/``high`` are None when ``value`` is None or the sample is too small for an interval.
    When all three are set, ``low <= value <= high``. ``n`` is the number of people (respondents,
    answers or invitations, as each function documents) behind the figure.
    """

    value: float | None
    low: float | None
    high: float | None
    n: int


@dataclass(frozen=True)
class Difference:
    """A difference ``a - b`` with its 95% interval.

    ``significant`` is True only when both bounds are set and the interval excludes 0
    (``low > 0`` or ``high < 0``); a missing value or interval is never significant.
    """

    value: float | None
    low: float | None
    high: float | None
    significant: bool


@dataclass(frozen=True)
class Reason:
    """One answer to "why did you not report it?": its value, count and share of non-reporters."""

    value: int
    count: int
    share: Estimate


@dataclass(frozen=True)
class Funnel:
    """Experienced -> reported, and why not.

    ``reported_share`` is the percentage of yes among yes/no answers to "did you report it?"
    (Wilson interval, ``n = reported + not_reported``). ``reasons`` holds one ``Reason`` per
    reason value, as a percentage of ``not_reported`` (several reasons may be ticked, so shares
    need not sum to 100), most frequent first, ties by ascending value.
    """

    experienced: int
    reported: int
    not_reported: int
    reported_share: Estimate
    reasons: tuple[Reason, ...]


_NO_ESTIMATE_DIFFERENCE = Difference(value=None, low=None, high=None, significant=False)


# --------------------------------------------------------------------------------------------
# private helpers


def _empty(n: object = 0) -> Estimate:
    """All-None estimate; ``n`` is kept when it is a non-negative integer, else 0."""
    return Estimate(value=None, low=None, high=None, n=max(int(n), 0) if _is_int(n) else 0)


def _is_int(x: object) -> bool:
    """True for Python and numpy integers (not bools)."""
    return type(x) is int or (isinstance(x, numbers.Integral) and not isinstance(x, bool))


def _finite(*xs: float) -> bool:
    try:
        return all(math.isfinite(float(x)) for x in xs)
    except (TypeError, ValueError):
        return False


def _clip(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


@lru_cache(maxsize=256)
def _t975(df: int) -> float:
    """97.5% quantile of Student's t with ``df`` degrees of freedom."""
    return float(stats.t.ppf(0.975, df))


def _sample_variance(n: int, total: float, total_sq: float) -> float:
    """Sample variance (ddof=1) from n, sum and sum of squares; rounding negatives -> 0."""
    return max((total_sq - total * total / n) / (n - 1), 0.0)


def _valid_counts(counts: Mapping[int, int], points: frozenset[int]) -> dict[int, int] | None:
    """The counts on ``points`` only (other values dropped); None if any count is negative."""
    kept: dict[int, int] = {}
    try:
        items = list(counts.items())
    except AttributeError:
        return None
    for value, count in items:
        if not _is_int(count) or count < 0:
            return None
        if value in points and count:
            kept[value] = kept.get(value, 0) + int(count)
    return kept


def _wilson_p(p: float, n: float, z: float) -> tuple[float, float]:
    """Wilson score interval for an observed proportion ``p`` over ``n`` (n > 0, 0 <= p <= 1)."""
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    low = 0.0 if p <= 0.0 else _clip(centre - half, 0.0, p)
    high = 1.0 if p >= 1.0 else _clip(centre + half, p, 1.0)
    return low, high


def _share(successes: int, n: int) -> Estimate:
    """Percentage ``successes / n`` with its Wilson interval; None values unless 0 <= s <= n > 0."""
    if not (_is_int(successes) and _is_int(n)) or n <= 0 or not 0 <= successes <= n:
        return _empty(n)
    low, high = _wilson_p(successes / n, n, Z95)
    return Estimate(value=100.0 * successes / n, low=100.0 * low, high=100.0 * high, n=int(n))


def _t_interval_from_counts(
    counts: Mapping[int, int], points: frozenset[int], lo: float, hi: float
) -> Estimate:
    kept = _valid_counts(counts, points)
    if kept is None:
        return _empty()
    n = sum(kept.values())
    if n == 0:
        return _empty()
    mean = sum(v * c for v, c in kept.items()) / n
    value = _clip(mean, lo, hi)
    if n < 2:
        return Estimate(value=value, low=None, high=None, n=n)
    var = sum(c * (v - mean) ** 2 for v, c in kept.items()) / (n - 1)
    half = _t975(n - 1) * math.sqrt(var / n)
    low, high = _clip(mean - half, lo, hi), _clip(mean + half, lo, hi)
    return Estimate(value=value, low=low, high=high, n=n)


def _standard_error(e: Estimate) -> float | None:
    """Standard error recovered from a 95% interval: its larger side divided by z.

    The larger side (rather than the mean half-width) keeps the true half-width when the interval
    was clipped at one end of the scale, and is conservative for asymmetric (Wilson) intervals.
    For t-intervals it over-states the SE by t/z, which is also conservative.
    """
    if e.value is None or e.low is None or e.high is None:
        return None
    return max(e.value - e.low, e.high - e.value, 0.0) / Z95


# --------------------------------------------------------------------------------------------
# public API


def reverse_score(*, value: int) -> int:
    """The reverse-scored point of a 5-point item: ``6 - value`` (1<->5, 2<->4, 3 stays 3).

    The aggregation applies this before summing respondent means into dimension totals.
    """
    return 6 - value


def wilson(*, successes: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval ``(low, high)`` for ``successes`` out of ``n``, as proportions in 0..1.

    Guarantees ``0 <= low <= successes/n <= high <= 1``, with ``low == 0`` exactly at 0 successes
    and ``high == 1`` exactly at n successes. Returns ``(None, None)`` when ``n <= 0``, when
    ``successes`` is outside ``0..n`` or when ``z`` is not a positive finite number.
    """
    if not (_is_int(successes) and _is_int(n)) or n <= 0 or not 0 <= successes <= n:
        return None, None
    if not _finite(z) or z <= 0:
        return None, None
    return _wilson_p(successes / n, n, float(z))


def dimension_score(*, n: int, total: float, total_sq: float) -> Estimate:
    """Dimension score on 0..100 with a 95% t-interval.

    ``total`` and ``total_sq`` are the sum and the sum of squares over the ``n`` respondents of
    their dimension mean on the 1..5 scale (reverse-scored items already turned). The score is
    ``(mean - 1) / 4 * 100``; the interval is ``mean +- t(0.975, n-1) * s / sqrt(n)`` on the
    respondent means, rescaled the same way. Value and bounds are clipped to [0, 100].
    ``n`` of the result is the number of respondents. ``n == 0`` (or non-finite sums) gives None
    values; ``n == 1`` gives a value but no interval.
    """
    if not _is_int(n) or n <= 0 or not _finite(total, total_sq):
        return _empty(n)
    mean = total / n

    def to_score(x: float) -> float:
        return _clip((x - 1.0) / 4.0 * 100.0, 0.0, 100.0)

    value = to_score(mean)
    if n < 2:
        return Estimate(value=value, low=None, high=None, n=n)
    half = _t975(n - 1) * math.sqrt(_sample_variance(n, total, total_sq) / n)
    return Estimate(value=value, low=to_score(mean - half), high=to_score(mean + half), n=n)


def favourable_share(*, counts: Mapping[int, int], reverse: bool = False) -> Estimate:
    """Percentage favourable on a 5-point item, with a Wilson 95% interval.

    Favourable is 4 or 5, or 1 or 2 when the item is ``reverse``-scored. Only the scale points
    1..5 are counted: 9 / 99 ("prefer not to say") and any other value are ignored.
    ``n`` of the result is the number of answers on 1..5; none gives None values.
    """
    kept = _valid_counts(counts, _FIVE_POINTS)
    if kept is None:
        return _empty()
    good = (1, 2) if reverse else (4, 5)
    return _share(sum(kept.get(v, 0) for v in good), sum(kept.values()))


def pooled_favourable(*, favourable: int, answered: int, respondents: int) -> Estimate:
    """Dimension favourable %: favourable answers over all answers to the dimension's items.

    The value is ``favourable / answered``. The answers of one person are not independent, so the
    Wilson interval uses the observed proportion with an effective sample size of ``respondents``
    (people with at least one answered item), capped at ``answered``. This is the design effect
    of fully correlated answers within a person: conservative (never narrower than the true
    interval under the usual model), and exact when everyone answered one item.
    ``n`` of the result is ``respondents``. ``answered == 0`` or inconsistent counts give None
    values; ``respondents == 0`` with answers gives a value but no interval.
    """
    ints = all(_is_int(x) for x in (favourable, answered, respondents))
    if not ints or answered <= 0 or respondents < 0 or not 0 <= favourable <= answered:
        return _empty(respondents)
    p = favourable / answered
    if respondents == 0:
        return Estimate(value=100.0 * p, low=None, high=None, n=0)
    low, high = _wilson_p(p, min(respondents, answered), Z95)
    return Estimate(value=100.0 * p, low=100.0 * low, high=100.0 * high, n=int(respondents))


def prevalence(*, counts: Mapping[int, int]) -> Estimate:
    """Percentage answering a frequency item with 2..5 ("at least once"), Wilson 95% interval.

    Only the scale points 1..5 count; 9 / 99 and any other value are ignored. ``n`` of the
    result is the number of answers on 1..5; none gives None values.
    """
    kept = _valid_counts(counts, _FIVE_POINTS)
    if kept is None:
        return _empty()
    answered = sum(kept.values())  # on 1..5 only: "at least once" is every point but 1
    return _share(answered - kept.get(1, 0), answered)


def difference(*, a: Estimate, b: Estimate) -> Difference:
    """``a - b`` with a normal-approximation 95% interval.

    Each SE is recovered from its 95% interval as the larger side of the interval divided by
    1.96 (see ``_standard_error``); ``se = sqrt(se_a^2 + se_b^2)`` and the interval is
    ``value +- 1.96 * se``. The value is None when either value is None; the interval is None
    when either interval is missing. ``significant`` iff the interval excludes 0.
    """
    if a.value is None or b.value is None:
        return _NO_ESTIMATE_DIFFERENCE
    value = a.value - b.value
    se_a, se_b = _standard_error(a), _standard_error(b)
    if se_a is None or se_b is None:
        return Difference(value=value, low=None, high=None, significant=False)
    half = Z95 * math.hypot(se_a, se_b)
    low, high = value - half, value + half
    return Difference(value=value, low=low, high=high, significant=low > 0 or high < 0)


def power_gap(*, by_rank: Mapping[int, Estimate]) -> Difference:
    """Highest role level minus lowest role level, among the levels that have a value.

    ``by_rank`` maps a role level's rank (larger = higher in the hierarchy) to its estimate;
    levels with ``value is None`` (e.g. suppressed or empty) are skipped, so a missing middle
    rank changes nothing. Fewer than two levels with a value give a Difference of None values.
    """
    ranks = sorted(r for r, e in by_rank.items() if e is not None and e.value is not None)
    if len(ranks) < 2:
        return _NO_ESTIMATE_DIFFERENCE
    return difference(a=by_rank[ranks[-1]], b=by_rank[ranks[0]])


def headline_gap(*, gaps: Mapping[str, Difference]) -> tuple[str, Difference] | None:
    """The headline dimension and its power gap, as ``(name, gap)``; None if no gap has a value.

    Significant gaps come first; among them (or among all, if none is significant) the largest
    absolute value wins. Tie-break on equal absolute values: the alphabetically first name, so
    the choice never depends on the order of ``gaps``.
    """
    candidates = [(name, g) for name, g in gaps.items() if g is not None and g.value is not None]
    if not candidates:
        return None
    return min(candidates, key=lambda item: (not item[1].significant, -abs(item[1].value), item[0]))


def trend(*, current: Estimate, previous: Estimate | None) -> Difference:
    """Change since the previous wave: ``current - previous``, as ``difference`` computes it.

    No previous wave (``None``) or a missing value gives a Difference of None values.
    """
    if previous is None:
        return _NO_ESTIMATE_DIFFERENCE
    return difference(a=current, b=previous)


def safe_place_score(*, counts: Mapping[int, int]) -> Estimate:
    """Safe-place score: % answering 9-10 minus % answering 0-6 on the 0..10 item, on -100..100.

    Only the points 0..10 count; 99 and any other value are ignored. The interval is the normal
    (Wald) interval with ``var = (p_pro + p_det - (p_pro - p_det)^2) / n``, the variance of a
    difference of two multinomial proportions, clipped to [-100, 100]. ``n`` of the result is
    the number of answers on 0..10; none gives None values; one gives a value but no interval.
    """
    kept = _valid_counts(counts, _ELEVEN_POINTS)
    if kept is None:
        return _empty()
    n = sum(kept.values())
    if n == 0:
        return _empty()
    p_pro = sum(c for v, c in kept.items() if v >= 9) / n
    p_det = sum(c for v, c in kept.items() if v <= 6) / n
    d = p_pro - p_det
    value = 100.0 * d
    if n < 2:
        return Estimate(value=value, low=None, high=None, n=n)
    half = Z95 * math.sqrt(max(p_pro + p_det - d * d, 0.0) / n)
    low = _clip(100.0 * (d - half), -100.0, 100.0)
    high = _clip(100.0 * (d + half), -100.0, 100.0)
    return Estimate(value=value, low=low, high=high, n=n)


def reporting_funnel(
    *, experienced: int, reported: int, why_not: Mapping[int, int], not_reported: int
) -> Funnel:
    """Reporting funnel for one group: see ``Funnel`` for what each field holds.

    ``reported`` and ``not_reported`` are the yes (1) and no (2) answers to "did you report it?"
    (9, "prefer not to say", is left out by the caller). ``why_not`` maps each reason value to
    its count; every value given is kept, including a "prefer not to say" option. Shares whose
    count is negative or exceeds ``not_reported`` come out as None values.
    """
    answered = reported + not_reported if _is_int(reported) and _is_int(not_reported) else 0
    reported_share = _share(reported, answered)
    reasons = []
    try:
        reason_items = list(why_not.items())
    except AttributeError:
        reason_items = []
    for value, count in reason_items:
        c = int(count) if _is_int(count) else 0
        reasons.append(Reason(value=value, count=c, share=_share(c, not_reported)))
    reasons.sort(key=lambda r: (-r.count, r.value))
    return Funnel(
        experienced=experienced,
        reported=reported,
        not_reported=not_reported,
        reported_share=reported_share,
        reasons=tuple(reasons),
    )


def cronbach_alpha(
    *,
    n: int,
    item_sums: Sequence[float],
    item_sumsq: Sequence[float],
    total_sum: float,
    total_sumsq: float,
) -> float | None:
    """Cronbach's alpha of a dimension from complete-case sums.

    ``alpha = m / (m - 1) * (1 - sum(var_i) / var(T))`` with ``m`` items, ``var_i`` the sample
    variance (ddof=1) of item i and ``var(T)`` that of the respondent's item total T, all from
    the ``n`` respondents who answered every item. Returns the plain value (it can be negative,
    and is at most 1); None when ``n < 3``, ``m < 2``, the two item sequences differ in length,
    a sum is not finite, or ``var(T)`` is 0.
    """
    m = len(item_sums)
    if not _is_int(n) or n < 3 or m < 2 or len(item_sumsq) != m:
        return None
    if not _finite(total_sum, total_sumsq, *item_sums, *item_sumsq):
        return None
    var_t = _sample_variance(n, total_sum, total_sumsq)
    # A zero variance computed from sums can come out as rounding noise; treat that as zero.
    if var_t <= 1e-12 * max(1.0, abs(total_sumsq) / n):
        return None
    var_items = sum(_sample_variance(n, s, sq) for s, sq in zip(item_sums, item_sumsq, strict=True))
    return m / (m - 1) * (1.0 - var_items / var_t)


def response_rate(*, responded: int, invited: int) -> Estimate:
    """Percentage of invited people who responded, with a Wilson 95% interval.

    ``n`` of the result is ``invited``. None values when ``invited == 0`` or when ``responded``
    is negative or larger than ``invited``.
    """
    return _share(responded, invited)


def mean_of_values(*, counts: Mapping[int, int], scale: tuple[int, int] = (0, 10)) -> Estimate:
    """Mean answer on the item's own scale, with a 95% t-interval (df = n - 1).

    Only the points ``scale[0]..scale[1]`` count (default 0..10, the recommendation item; pass
    ``(1, 5)`` for a 5-point item so that 9 is ignored there); 99 and other values are ignored.
    Value and bounds are clipped to the scale. ``n`` of the result is the number of answers
    counted; none gives None values, one gives a value but no interval.
    """
    lo, hi = scale
    return _t_interval_from_counts(counts, frozenset(range(lo, hi + 1)), float(lo), float(hi))
