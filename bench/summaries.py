"""A wave's summary rows counted by numpy and bulk-loaded with binary COPY: the benchmark's fast
way to the rows the app's fold keeps (`reports.publication._fold`, `reports.fold_sql`).

Folding a 100,000-response wave with `fold_sql` costs two to three CPU-minutes, most of it
PostgreSQL forming and inserting 9.6 million `SummaryItem` rows one INSERT ... SELECT row at a
time; ten of those were most of the time to generate the million-response data set. The data
set's waves are loaded whole and never folded again, so the generator counts them here: every
response in each of its variants (its group with its tenure; its role band over every tenure,
`BAND_TOTAL`; once more under each demographic answer), each variant's items (every answer and
the any-experienced pseudo-item), the respondent's mean per dimension (at least half of the
dimension's items answered, reverse-scored items as 6 - x) and the complete-case sums for
Cronbach's alpha; counted per response unit with `np.bincount` over packed keys, rolled up the
tree a level at a time, and written in primary-key order with COPY, which inserts a page of
rows at a time.

The rows are the same as the fold's: `tests/bench/test_summaries.py` loads one set of random
responses into two waves, folds one with `fold_sql` and counts the other here, and compares
every row (counts exactly, float sums up to the order of addition).
"""

from dataclasses import dataclass

import numpy as np

from bench.pgcopy import copy_binary

_VALUE_OFFSET = 1 << 15  # smallint values packed as non-negative 16-bit numbers
_RANK_BITS = 4


@dataclass(frozen=True)
class Tree:
    """Units by index: `ids` in ascending order (the primary keys' order), `parent` the index
    of each unit's parent (-1 for a root)."""

    ids: np.ndarray
    parent: np.ndarray

    def __post_init__(self):
        if np.any(np.diff(self.ids) <= 0):
            raise ValueError("unit ids must be ascending")

    def depth(self) -> np.ndarray:
        depth = np.zeros(len(self.ids), dtype=np.int64)
        current = self.parent.copy()
        while np.any(current >= 0):
            depth += current >= 0
            current = np.where(current >= 0, self.parent[np.maximum(current, 0)], -1)
        return depth


@dataclass(frozen=True)
class Responses:
    """One wave's responses (by index) and their answers (sorted or not)."""

    unit: np.ndarray  # unit index in the tree
    role_lo: np.ndarray  # role-level ranks; role_hi = role_lo when not merged
    role_hi: np.ndarray
    tenure: np.ndarray  # tenure-band rank, 0 when not recorded
    person: np.ndarray  # per answer: the response's index
    question: np.ndarray  # per answer: the question id
    value: np.ndarray


@dataclass
class Table:
    """Rows for one summary table, as columns in primary-key order."""

    columns: dict[str, tuple[str, np.ndarray]]  # name -> (binary COPY type, values)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))[1]) if self.columns else 0


@dataclass
class Summaries:
    groups: Table
    items: Table
    dimensions: Table
    reliability: list[dict]  # per dimension: n, item_sums, item_sumsq, total_sum, total_sumsq


def _pack_variant(demo_question, demo_value, role_lo, role_hi, tenure) -> np.ndarray:
    """A variant key as one int64 that sorts as (demo_question, demo_value, role_lo, role_hi,
    tenure), the order of the primary keys after wave and unit: 31 bits of demo question (up
    to BAND_TOTAL), 16 of demographic value, 4 of each rank."""
    key = np.asarray(demo_question, dtype=np.int64) << 16
    key = key | (np.asarray(demo_value, dtype=np.int64) + _VALUE_OFFSET)
    for part in (role_lo, role_hi, tenure):
        part = np.asarray(part, dtype=np.int64)
        if np.any((part < 0) | (part >= 1 << _RANK_BITS)):
            raise ValueError("a rank outside 0-15")
        key = (key << _RANK_BITS) | part
    return key


def _unpack_variant(key: np.ndarray) -> dict[str, np.ndarray]:
    rank = (1 << _RANK_BITS) - 1
    return {
        "demo_question": key >> (16 + 3 * _RANK_BITS),
        "demo_value": ((key >> (3 * _RANK_BITS)) & 0xFFFF) - _VALUE_OFFSET,
        "role_lo": (key >> (2 * _RANK_BITS)) & rank,
        "role_hi": (key >> _RANK_BITS) & rank,
        "tenure": key & rank,
    }


def _expand(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenated ranges [start, start + length) of each row, without a Python loop."""
    total = int(lengths.sum())
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(total)


def _roll_up(counts: np.ndarray, tree: Tree, depth: np.ndarray) -> None:
    """Add every unit's counts (rows of `counts`, by unit index) to each of its ancestors',
    the deepest level first, so that each level adds only its children's finished rows."""
    for level in range(int(depth.max()), 0, -1):
        children = np.flatnonzero(depth == level)
        parents = tree.parent[children]
        order = np.argsort(parents, kind="stable")
        children, parents = children[order], parents[order]
        starts = np.flatnonzero(np.r_[True, parents[1:] != parents[:-1]])
        counts[parents[starts]] += np.add.reduceat(counts[children], starts, axis=0)


def summarise(tree: Tree, responses: Responses, questions) -> Summaries:
    """The summary rows of these responses for every ancestor unit, as `_fold` counts them.
    `questions` are the instrument's questions (model instances)."""
    from reports.models import BAND_TOTAL
    from reports.publication import ANY_EXPERIENCED

    r = responses
    n, units = len(r.unit), len(tree.ids)
    by_id = {q.pk: q for q in questions}
    known = np.array(sorted(by_id), dtype=np.int64)
    if not np.isin(r.question, known).all():
        raise ValueError("answers to questions outside the instrument")

    def having(condition) -> np.ndarray:
        return np.array([pk for pk, q in sorted(by_id.items()) if condition(q)], dtype=np.int64)

    person = np.asarray(r.person, dtype=np.int64)
    question = np.asarray(r.question, dtype=np.int64)
    value = np.asarray(r.value, dtype=np.int64)

    # Items: every answer, plus (0, 1) for respondents with any `experienced` item >= 2.
    experienced = np.isin(question, having(lambda q: q.purpose == "experienced")) & (value >= 2)
    any_experienced = np.zeros(n, dtype=bool)
    any_experienced[person[experienced]] = True
    extra = np.flatnonzero(any_experienced)
    item_person = np.concatenate([person, extra])
    item_keys = np.concatenate([question, np.full(len(extra), ANY_EXPERIENCED)]) << 16
    item_keys |= np.concatenate([value, np.ones(len(extra), dtype=np.int64)]) + _VALUE_OFFSET
    items, item_code = np.unique(item_keys, return_inverse=True)

    # Variants: the base group, the band total, one per demographic answer.
    demographic = np.isin(question, having(lambda q: q.purpose == "demographic"))
    demo_person = person[demographic]
    every = np.arange(n)
    variant_keys = np.concatenate(
        [
            _pack_variant(0, 0, r.role_lo, r.role_hi, r.tenure),
            _pack_variant(BAND_TOTAL, 0, r.role_lo, r.role_hi, 0),
            _pack_variant(
                question[demographic],
                value[demographic],
                r.role_lo[demo_person],
                r.role_hi[demo_person],
                0,
            ),
        ]
    )
    variant_person = np.concatenate([every, every, demo_person])
    variants, variant_code = np.unique(variant_keys, return_inverse=True)
    n_variants, n_items = len(variants), len(items)
    cell = np.asarray(r.unit, dtype=np.int64)[variant_person] * n_variants + variant_code

    # Dimensions: the respondent's mean where at least half of the items are answered.
    scored_ids = having(lambda q: q.dimension_id and q.kind in ("agree5", "freq5"))
    dimension_ids = np.unique([by_id[pk].dimension_id for pk in scored_ids.tolist()])
    n_dims = len(dimension_ids)
    item_dimension = np.searchsorted(
        dimension_ids, [by_id[pk].dimension_id for pk in scored_ids.tolist()]
    )
    reverse = np.array([by_id[pk].reverse_scored for pk in scored_ids.tolist()], dtype=bool)
    m = np.bincount(item_dimension, minlength=n_dims)
    scored = np.isin(question, scored_ids) & (value >= 1) & (value <= 5)
    s_person, s_question = person[scored], question[scored]
    s_item = np.searchsorted(scored_ids, s_question)  # the item's index among scored_ids
    x = np.where(reverse[s_item], 6 - value[scored], value[scored]).astype(np.float64)
    per = s_person * max(n_dims, 1) + item_dimension[s_item]
    answered = np.bincount(per, minlength=n * n_dims).reshape(n, n_dims)
    totals = np.bincount(per, weights=x, minlength=n * n_dims).reshape(n, n_dims)
    counted = (answered > 0) & (answered * 2 >= m)
    means = np.divide(totals, answered, out=np.zeros_like(totals), where=answered > 0)

    depth = tree.depth()
    # Groups: respondents per (unit, variant).
    groups = np.bincount(cell, minlength=units * n_variants).reshape(units, n_variants)
    _roll_up(groups, tree, depth)
    # Items: each variant row joined with its respondent's items.
    order = np.argsort(item_person, kind="stable")
    sorted_codes = item_code[order]
    per_person = np.bincount(item_person, minlength=n)
    firsts = np.cumsum(per_person) - per_person
    lengths = per_person[variant_person]
    keys = np.repeat(cell, lengths) * n_items
    keys += sorted_codes[_expand(firsts[variant_person], lengths)]
    item_counts = np.bincount(keys, minlength=units * n_variants * n_items)
    del keys
    item_counts = item_counts.reshape(units, n_variants * n_items)
    _roll_up(item_counts, tree, depth)
    # Dimensions: each variant row with its respondent's counted means.
    chosen = counted[variant_person]
    dim_keys = (cell[:, None] * n_dims + np.arange(n_dims))[chosen]
    chosen_means = means[variant_person][chosen]
    size = units * n_variants * n_dims
    dim_n = np.bincount(dim_keys, minlength=size).reshape(units, -1)
    dim_total = np.bincount(dim_keys, weights=chosen_means, minlength=size).reshape(units, -1)
    dim_sq = np.bincount(dim_keys, weights=chosen_means**2, minlength=size).reshape(units, -1)
    for array in (dim_n, dim_total, dim_sq):
        _roll_up(array, tree, depth)

    def key_columns(flat: np.ndarray, block: int, per_variant: int) -> dict:
        unit, rest = np.divmod(flat, block)
        variant = _unpack_variant(variants[rest // per_variant])
        return {
            "unit_id": ("int8", tree.ids[unit]),
            "role_lo": ("int2", variant["role_lo"].astype(np.int16)),
            "role_hi": ("int2", variant["role_hi"].astype(np.int16)),
            "tenure": ("int2", variant["tenure"].astype(np.int16)),
            "demo_question": ("int4", variant["demo_question"].astype(np.int32)),
            "demo_value": ("int2", variant["demo_value"].astype(np.int16)),
        }

    flat = np.flatnonzero(groups)
    group_table = key_columns(flat, n_variants, 1)
    group_table["respondents"] = ("int4", groups.ravel()[flat])
    flat = np.flatnonzero(item_counts)
    item_table = key_columns(flat, n_variants * n_items, n_items)
    item = items[flat % n_items]
    item_table["question_id"] = ("int4", (item >> 16).astype(np.int32))
    item_table["value"] = ("int2", ((item & 0xFFFF) - _VALUE_OFFSET).astype(np.int16))
    item_table["count"] = ("int4", item_counts.ravel()[flat].astype(np.int32))
    flat = np.flatnonzero(dim_n)
    dim_table = key_columns(flat, n_variants * n_dims, n_dims)
    dim_table["dimension_id"] = ("int4", dimension_ids[flat % n_dims])
    dim_table["n"] = ("int4", dim_n.ravel()[flat])
    dim_table["total"] = ("float8", dim_total.ravel()[flat])
    dim_table["total_sq"] = ("float8", dim_sq.ravel()[flat])

    # Cronbach's alpha: complete cases only, item sums in question id order.
    reliability = []
    x_matrix = np.zeros((n, len(scored_ids)))
    x_matrix[s_person, s_item] = x
    for d, dimension_id in enumerate(dimension_ids.tolist()):
        complete = answered[:, d] == m[d]
        if not complete.any():
            continue
        columns = x_matrix[complete][:, item_dimension == d]
        total = totals[complete, d]
        reliability.append(
            {
                "dimension_id": dimension_id,
                "n": int(complete.sum()),
                "item_sums": columns.sum(axis=0).tolist(),
                "item_sumsq": (columns**2).sum(axis=0).tolist(),
                "total_sum": float(total.sum()),
                "total_sumsq": float((total**2).sum()),
            }
        )
    return Summaries(
        groups=Table(group_table),
        items=Table(item_table),
        dimensions=Table(dim_table),
        reliability=reliability,
    )


def store(cursor, wave_id: int, summaries: Summaries, *, chunk: int = 1_000_000) -> None:
    """Write a wave's summary rows (it must have none yet) and its reliability sums."""
    from reports.models import ReliabilitySum, SummaryDimension, SummaryGroup, SummaryItem

    for model, table in (
        (SummaryGroup, summaries.groups),
        (SummaryItem, summaries.items),
        (SummaryDimension, summaries.dimensions),
    ):
        if not len(table):
            continue
        columns = {"wave_id": ("int8", np.full(len(table), wave_id, dtype=np.int64))}
        columns |= table.columns
        copy_binary(cursor, model._meta.db_table, columns, chunk)
    ReliabilitySum.objects.bulk_create(
        ReliabilitySum(wave_id=wave_id, **sums) for sums in summaries.reliability
    )
