"""The PostgreSQL-fast fold: the same increments as `reports.publication._fold`, in set-based SQL.

`_fold` reads every answer into Python and counts it once per ancestor unit and per variant of
the response (its base group and one row per demographic answer). Here the database does it.
Each step is a temporary table with fresh statistics (so the planner sizes every join and
aggregate right for 5 responses or 100,000; JIT compilation is off, it cost more than it saved):

- the responses being folded and their answers,
- the units, variant keys (base group with its tenure; its role band over every tenure,
  `BAND_TOTAL`; tenure 0 and the demographic question and answer for each demographic answer),
  items and dimensions of the fold, each numbered in the order of the summary tables' primary
  keys, so that a summary key packs into one bigint (`_Sizes`) that sorts in key order,
- the variants of each response,
- its counted items (every answer, plus the ANY_EXPERIENCED pseudo-item when any `experienced`
  item is at least 2),
- its mean per dimension (agree5/freq5 items with a dimension, reverse-scored items as 6 - x,
  counted when at least half of the dimension's items are answered),
- the counts per response unit, by packed key (hashing one column, not up to eight);

then each summary table gets the sums of every ancestor unit (the ancestors come from the
materialised path), rolled up the tree a level at a time: a unit's rows are its own responses'
rows plus its children's, so each level aggregates only the rows of the level below. The rows
of units that have none in the wave yet (the whole wave at its first publication) are sorted
by packed key, unpacked and plainly inserted, the others with INSERT ... ON CONFLICT DO
UPDATE. A last query
returns the complete-case sums for Cronbach's alpha, which are added to the wave's few
ReliabilitySum rows.

Counts match `_fold` exactly; the float sums (dimension totals) match up to the order of
floating-point addition. `tests/reports/test_fold_sql.py` checks both on random data.
"""

# The SQL below is assembled from table names out of model metadata and fixed fragments;
# every value is a query parameter.
# ruff: noqa: S608

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction

from reports.models import (
    BAND_TOTAL,
    ReliabilitySum,
    SummaryDimension,
    SummaryGroup,
    SummaryItem,
)
from surveys.models import Answer, Question, Response, RoleLevel, TenureBand, Unit, Wave

# The pseudo-question of respondents who experienced at least one behaviour at least once:
# equal to reports.publication.ANY_EXPERIENCED (not imported: publication imports this module).
ANY_EXPERIENCED = 0
# Hash aggregation of a large fold (a benchmark wave of 100,000 responses) needs more than the
# default 4 MB per operation; raised for this transaction only.
FOLD_WORK_MEM = "256MB"

# Temporary tables of one fold (per session, dropped at the end of the fold or transaction):
# the responses and answers being folded, the numbered units (with every ancestor), variant
# keys, items and dimensions, each response's variants, the scored items and per-dimension
# sums, and the counts per response unit.
_R, _A = "powerclimate_fold_responses", "powerclimate_fold_answers"
_V, _UNITS = "powerclimate_fold_variants", "powerclimate_fold_units"
# The distinct variant keys of the fold, numbered from 0 in the primary keys' order.
_VK = "powerclimate_fold_variant_keys"
# The counted extras, numbered from 0 in key order: items (question, value) and dimensions.
_ITEMS, _DIMS = "powerclimate_fold_item_codes", "powerclimate_fold_dimension_codes"
_X, _PER = "powerclimate_fold_scored", "powerclimate_fold_per_dimension"
_OWN_G, _OWN_I = "powerclimate_fold_own_groups", "powerclimate_fold_own_items"
_OWN_D = "powerclimate_fold_own_dimensions"
# The sums of one summary table for every unit, by packed key (dropped at once).
_NEW = "powerclimate_fold_new_rows"
# Marks a statement that only runs when some ancestor already has rows in the wave.
_IF_EXISTING = "-- existing\n"
_TEMPORARY = [_R, _A, _VK, _ITEMS, _DIMS, _V, _UNITS, _X, _PER, _OWN_G, _OWN_I, _OWN_D]
_KEY = ["role_lo", "role_hi", "tenure", "demo_question", "demo_value"]
# The same columns in the primary keys' order, after wave and unit: variants are numbered in it.
_KEY_ORDER = list(SummaryGroup.KEY_FIELDS[2:])
_SCORED = "dimension_id IS NOT NULL AND kind IN ('agree5', 'freq5')"


def supports_sql_fold() -> bool:
    """Whether the default database can run `fold_sql` (PostgreSQL only)."""
    return connection.vendor == "postgresql"


@dataclass(frozen=True)
class _Tables:
    response: str
    answer: str
    question: str
    unit: str
    role: str
    tenure: str
    group: str
    item: str
    dimension: str


def _tables() -> _Tables:
    quote = connection.ops.quote_name
    return _Tables(
        response=quote(Response._meta.db_table),
        answer=quote(Answer._meta.db_table),
        question=quote(Question._meta.db_table),
        unit=quote(Unit._meta.db_table),
        role=quote(RoleLevel._meta.db_table),
        tenure=quote(TenureBand._meta.db_table),
        group=quote(SummaryGroup._meta.db_table),
        item=quote(SummaryItem._meta.db_table),
        dimension=quote(SummaryDimension._meta.db_table),
    )


def _temporary(name: str, select: str) -> list[str]:
    """Create a temporary table from `select` and give it statistics."""
    return [f"CREATE TEMPORARY TABLE {name} ON COMMIT DROP AS {select}", f"ANALYZE {name}"]


def _prepare_keys(*, by_ids: bool) -> list[str]:
    """Statements that build the fold's first temporary tables, each with statistics (so that
    the planner sizes every join and aggregate right from 5 responses to 100,000): the
    responses and answers, and the numbered units, variant keys, items and dimensions."""
    t = _tables()
    condition = "r.id = ANY(%(ids)s::uuid[])" if by_ids else "NOT r.published"
    order = ", ".join(_KEY_ORDER)
    return [
        *_temporary(
            _R,
            f"""SELECT r.id, r.unit_id, lo.rank AS role_lo, COALESCE(hi.rank, lo.rank) AS role_hi,
                   COALESCE(tb.rank, 0) AS tenure
            FROM {t.response} r
            JOIN {t.role} lo ON lo.id = r.role_level_id
            LEFT JOIN {t.role} hi ON hi.id = r.role_level_to_id
            LEFT JOIN {t.tenure} tb ON tb.id = r.tenure_band_id
            WHERE r.wave_id = %(wave)s AND {condition}""",
        ),
        *_temporary(
            _A,
            f"""SELECT a.response_id, a.question_id, a.value, q.kind, q.purpose, q.dimension_id,
                   q.reverse_scored
            FROM {_R} r
            JOIN {t.answer} a ON a.response_id = r.id
            JOIN {t.question} q ON q.id = a.question_id""",
        ),
        # Variant keys: the base group, its role band over every tenure (BAND_TOTAL), then one
        # per demographic answer (tenure 0), numbered from 0 in the order of the primary keys.
        *_temporary(
            _VK,
            f"""SELECT {", ".join(_KEY)},
                   (row_number() OVER (ORDER BY {order}) - 1)::integer AS variant
            FROM (
                SELECT role_lo, role_hi, tenure, 0 AS demo_question, 0 AS demo_value FROM {_R}
                UNION
                SELECT role_lo, role_hi, 0, {BAND_TOTAL}, 0 FROM {_R}
                UNION
                SELECT r.role_lo, r.role_hi, 0, a.question_id, a.value
                FROM {_A} a JOIN {_R} r ON r.id = a.response_id
                WHERE a.purpose = 'demographic'
            ) keys""",
        ),
        # Every unit of these responses and each of its ancestors, with its parent and depth,
        # all from the materialised path, and whether it has summary rows in this wave already. A
        # unit without a SummaryGroup row has no SummaryItem or SummaryDimension row either
        # (every item and dimension row's group is counted with it), so its rows are plainly
        # inserted, which is much cheaper than INSERT ... ON CONFLICT; a row that exists after
        # all (a second writer not holding the publication lock) fails the primary key instead
        # of being lost. Units are numbered (rank) in id order.
        *_temporary(
            _UNITS,
            f"""WITH units AS (
                SELECT u.id AS unit_id, p.steps[cardinality(p.steps) - 1] AS parent_id,
                       cardinality(p.steps) AS depth, EXISTS (
                           SELECT 1 FROM {t.group} g
                           WHERE g.wave_id = %(wave)s AND g.unit_id = u.id) AS existing,
                       (row_number() OVER (ORDER BY u.id) - 1)::bigint AS rank
                FROM {t.unit} u
                CROSS JOIN LATERAL (
                    SELECT string_to_array(trim(both '/' from u.path), '/')::int[] AS steps) p
                WHERE u.id IN (
                    SELECT unnest(string_to_array(trim(both '/' from r.path), '/')::int[])
                    FROM {t.unit} r WHERE r.id IN (SELECT DISTINCT unit_id FROM {_R})))
            SELECT u.*, p.rank AS parent_rank FROM units u
            LEFT JOIN units p ON p.unit_id = u.parent_id""",
        ),
        *_temporary(
            _ITEMS,
            f"""SELECT question_id, value,
                   (row_number() OVER (ORDER BY question_id, value) - 1)::integer AS code
            FROM (SELECT question_id, value FROM {_A}
                  UNION SELECT {ANY_EXPERIENCED}, 1) items""",
        ),
        *_temporary(
            _DIMS,
            f"""SELECT dimension_id,
                   (row_number() OVER (ORDER BY dimension_id) - 1)::integer AS code
            FROM (SELECT DISTINCT dimension_id FROM {t.question}
                  WHERE instrument_id = %(instrument)s AND {_SCORED}) dimensions""",
        ),
    ]


def _prepare_counts(sizes: "_Sizes") -> list[str]:
    """Statements that count, per response unit, every key of the three summary tables, each
    key packed into one bigint (see `_Sizes`)."""
    t = _tables()
    variants, items, dimensions = sizes.variants, sizes.items, sizes.dimensions
    return [
        # Each response's variants, as (unit rank, variant) cells.
        *_temporary(
            _V,
            f"""SELECT r.id AS response_id, u.rank * {variants:d} + k.variant AS cell
            FROM {_R} r JOIN {_UNITS} u ON u.unit_id = r.unit_id
            JOIN {_VK} k ON k.role_lo = r.role_lo AND k.role_hi = r.role_hi
                AND k.tenure = r.tenure AND k.demo_question = 0 AND k.demo_value = 0
            UNION ALL
            SELECT r.id, u.rank * {variants:d} + k.variant
            FROM {_R} r JOIN {_UNITS} u ON u.unit_id = r.unit_id
            JOIN {_VK} k ON k.role_lo = r.role_lo AND k.role_hi = r.role_hi
                AND k.tenure = 0 AND k.demo_question = {BAND_TOTAL} AND k.demo_value = 0
            UNION ALL
            SELECT r.id, u.rank * {variants:d} + k.variant
            FROM {_A} a JOIN {_R} r ON r.id = a.response_id
            JOIN {_UNITS} u ON u.unit_id = r.unit_id
            JOIN {_VK} k ON k.role_lo = r.role_lo AND k.role_hi = r.role_hi AND k.tenure = 0
                AND k.demo_question = a.question_id AND k.demo_value = a.value
            WHERE a.purpose = 'demographic'""",
        ),
        # Scored answers (agree5/freq5 items with a dimension, reverse-scored as 6 - x).
        *_temporary(
            _X,
            f"""SELECT response_id, dimension_id, question_id,
                   CASE WHEN reverse_scored THEN 6 - value ELSE value END AS x
            FROM {_A} WHERE {_SCORED} AND value BETWEEN 1 AND 5""",
        ),
        *_temporary(
            _PER,
            f"""SELECT x.response_id, x.dimension_id, items.m, count(*) AS answered,
                   sum(x.x) AS total
            FROM {_X} x JOIN (
                SELECT dimension_id, count(*) AS m FROM {t.question}
                WHERE instrument_id = %(instrument)s AND {_SCORED} GROUP BY dimension_id
            ) items ON items.dimension_id = x.dimension_id
            GROUP BY x.response_id, x.dimension_id, items.m""",
        ),
        # Counts per response unit first (teams compress a little, then every ancestor reads
        # less).
        *_temporary(
            _OWN_G,
            f"SELECT cell AS key, count(*)::integer AS respondents FROM {_V} GROUP BY cell",
        ),
        # Items counted per response: its answers and the any-experienced pseudo-item.
        *_temporary(
            _OWN_I,
            f"""SELECT v.cell * {items:d} + c.code AS key, count(*)::integer AS "count"
            FROM {_V} v JOIN (
                SELECT a.response_id, i.code FROM {_A} a
                JOIN {_ITEMS} i ON i.question_id = a.question_id AND i.value = a.value
                UNION ALL
                SELECT e.response_id, i.code FROM (
                    SELECT DISTINCT response_id FROM {_A}
                    WHERE purpose = 'experienced' AND value >= 2) e
                JOIN {_ITEMS} i ON i.question_id = {ANY_EXPERIENCED} AND i.value = 1
            ) c ON c.response_id = v.response_id
            GROUP BY 1""",
        ),
        # A respondent's mean per dimension when at least half of its items are answered.
        *_temporary(
            _OWN_D,
            f"""SELECT v.cell * {dimensions:d} + p.code AS key, count(*)::integer AS n,
                   sum(p.mean) AS total,
                   sum(p.mean * p.mean) AS total_sq
            FROM {_V} v JOIN (
                SELECT p.response_id, d.code, p.total::float8 / p.answered AS mean
                FROM {_PER} p JOIN {_DIMS} d ON d.dimension_id = p.dimension_id
                WHERE p.answered * 2 >= p.m
            ) p ON p.response_id = v.response_id
            GROUP BY 1""",
        ),
    ]


@dataclass(frozen=True)
class _Sizes:
    """How many units, variant keys, items and dimensions the fold numbered.

    Every summary key is packed into one bigint, ((unit rank x variants) + variant) x extras +
    extra, where the extra is the item's code (SummaryItem), the dimension's (SummaryDimension)
    or nothing (SummaryGroup, one extra). Each part is numbered in key order, so the packed keys
    sort in the order of the summary tables' primary keys: aggregates hash one column instead
    of up to eight and the rows are sorted by one integer before they are inserted."""

    units: int
    variants: int
    items: int
    dimensions: int

    def __post_init__(self):
        # At least one of each, so that a part of an empty fold divides by one, not zero.
        for name in ("units", "variants", "items", "dimensions"):
            object.__setattr__(self, name, max(getattr(self, name), 1))

    def check(self) -> None:
        """Refuse a fold whose keys would not fit in a bigint (far beyond any organisation)."""
        if self.units * self.variants * max(self.items, self.dimensions) >= 2**62:
            raise ValueError(f"too many keys to fold at once: {self}")


def _rollup(
    table: str,
    source: str,
    extra: dict[str, str],
    values: dict[str, str],
    depths: Sequence[int],
    *,
    variants: int,
    extras: int,
) -> list[str]:
    """Add `source` (sums per response unit, by packed key) to `table` for every ancestor unit.

    The sums are rolled up the tree a level at a time into a temporary table: a unit's rows are
    its own responses' rows plus its children's rolled-up rows (their keys moved to the
    parent's rank), so every level aggregates only the rows of the level below it (a team's
    rows are copied as they are), not every response unit's rows once per ancestor. Then the
    rows of units without rows in this wave are plainly inserted in key order (the primary key's
    index is filled from one end), and those of the others (usually few: the upper units of an
    earlier batch) with INSERT ... ON CONFLICT DO UPDATE, only when there are any. `extra` maps
    each extra key column to its expression over the codes joined as `x`; `values` maps each
    counted column to its final expression."""
    quote = connection.ops.quote_name
    block = variants * extras  # keys per unit
    keys = [quote(c) for c in ["wave_id", "unit_id", *_KEY, *extra]]
    names = ", ".join(quote(c) for c in values)
    summed = ", ".join(f"sum({quote(c)}) AS {quote(c)}" for c in values)
    columns = ", ".join([*keys, *(quote(c) for c in values)])
    selected = ", ".join(
        ["%(wave)s", "u.unit_id", *(f"k.{c}" for c in _KEY), *extra.values(), *values.values()]
    )
    codes = ""
    if extra:
        codes = f" JOIN {_CODES[source]} x ON x.code = mod(n.key, {extras:d})"
    updates = ", ".join(f"{quote(c)} = {table}.{quote(c)} + EXCLUDED.{quote(c)}" for c in values)
    own = f"SELECT s.key, {names} FROM {source} s JOIN {_UNITS} u ON u.rank = s.key / {block:d}"
    statements = [
        f"CREATE TEMPORARY TABLE {_NEW} ON COMMIT DROP AS {own} WHERE false",
        # Hash aggregates: the planner would sort the rows of a level instead (on disk for a
        # large fold).
        "SELECT set_config('enable_sort', 'off', true)",
    ]
    for level, depth in enumerate(depths):
        if level == 0:  # the deepest units: their own rows are their sums
            statements.append(f"INSERT INTO {_NEW} {own} WHERE u.depth = {depth:d}")
            continue
        statements.append(
            f"""INSERT INTO {_NEW}
            SELECT y.key, {summed} FROM (
                {own} WHERE u.depth = {depth:d}
                UNION ALL
                SELECT c.key + (u.parent_rank - u.rank) * {block:d}, {names} FROM {_NEW} c
                JOIN {_UNITS} u ON u.rank = c.key / {block:d}
                WHERE u.depth = {depths[level - 1]:d}
            ) y GROUP BY y.key"""
        )
    # Sorted by the packed key, then unpacked: the hash joins keep the order of their outer
    # (the sorted rows), so rows reach the table in its primary key's order.
    insert = (
        f"INSERT INTO {table} ({columns}) SELECT {selected} FROM ("
        f"SELECT * FROM {_NEW} WHERE key / {block:d} IN ("
        f"SELECT rank FROM {_UNITS} WHERE {{}} existing) ORDER BY key) n "
        f"JOIN {_UNITS} u ON u.rank = n.key / {block:d} "
        f"JOIN {_VK} k ON k.variant = mod(n.key / {extras:d}, {variants:d}){codes}"
    )
    return [
        *statements,
        "SELECT set_config('enable_sort', %(enable_sort)s, true)",
        insert.format("NOT"),
        _IF_EXISTING
        + insert.format("")
        + f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}",
        f"DROP TABLE {_NEW}",
    ]


# The numbered extras of each table's own counts.
_CODES = {_OWN_I: _ITEMS, _OWN_D: _DIMS}


def _statements(sizes: _Sizes, depths: Sequence[int]) -> list[str]:
    """The summary inserts, after `_prepare_counts`; `depths` are the units' depths, deepest
    first."""
    t = _tables()
    return [
        *_rollup(
            t.group,
            _OWN_G,
            {},
            {"respondents": "respondents::integer"},
            depths,
            variants=sizes.variants,
            extras=1,
        ),
        *_rollup(
            t.item,
            _OWN_I,
            {"question_id": "x.question_id", "value": "x.value"},
            {"count": "n.count::integer"},
            depths,
            variants=sizes.variants,
            extras=sizes.items,
        ),
        *_rollup(
            t.dimension,
            _OWN_D,
            {"dimension_id": "x.dimension_id"},
            {"n": "n.n::integer", "total": "n.total", "total_sq": "n.total_sq"},
            depths,
            variants=sizes.variants,
            extras=sizes.dimensions,
        ),
    ]


def _reliability_statement() -> str:
    """The complete-case sums for Cronbach's alpha (once per response, not per ancestor): per
    dimension a totals row, then one row per item in question id order."""
    return f"""
        WITH complete AS (
            SELECT response_id, dimension_id, total FROM {_PER} WHERE answered = m)
        SELECT c.dimension_id, NULL::integer AS question_id, count(*)::bigint,
               sum(c.total)::float8, sum(c.total * c.total)::float8
        FROM complete c GROUP BY c.dimension_id
        UNION ALL
        SELECT c.dimension_id, x.question_id, count(*)::bigint, sum(x.x)::float8,
               sum(x.x * x.x)::float8
        FROM complete c JOIN {_X} x ON x.response_id = c.response_id
                                 AND x.dimension_id = c.dimension_id
        GROUP BY c.dimension_id, x.question_id
        ORDER BY 1, 2 NULLS FIRST"""


def fold_sql(*, wave: Wave, response_ids: Sequence | None = None) -> None:
    """Add the counts of these responses of `wave` (all its unpublished responses when
    `response_ids` is None) to the summary rows of every ancestor unit and to the wave's
    reliability sums: the same increments as `reports.publication._fold`, computed by
    PostgreSQL in a few set-based statements. Does not mark anything published; the caller
    does that in the same transaction, holding the publication lock (as `publish` does), so
    that no other fold of the wave runs at the same time. PostgreSQL only (see
    `supports_sql_fold`)."""
    if not supports_sql_fold():
        raise NotImplementedError("fold_sql needs PostgreSQL; use reports.publication._fold")
    params = {"wave": wave.pk, "instrument": wave.instrument_id}
    if response_ids is not None:
        if not response_ids:
            return
        params["ids"] = [str(pk) for pk in response_ids]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{FOLD_WORK_MEM}'")
        # The planner's cost of a large fold is far above the JIT threshold, and compiling
        # the statements took longer than running them (7.6 s of 10,000 responses' fold).
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SELECT current_setting('enable_sort')")
        params["enable_sort"] = cursor.fetchone()[0]
        for statement in _prepare_keys(by_ids=response_ids is not None):
            cursor.execute(statement, params)
        cursor.execute(
            f"""SELECT bool_or(existing), array_agg(DISTINCT depth ORDER BY depth DESC),
                   count(*), (SELECT count(*) FROM {_VK}), (SELECT count(*) FROM {_ITEMS}),
                   (SELECT count(*) FROM {_DIMS})
            FROM {_UNITS}"""
        )
        existing, depths, *counts = cursor.fetchone()
        sizes = _Sizes(*counts)
        sizes.check()
        for statement in [*_prepare_counts(sizes), *_statements(sizes, depths)]:
            if existing or not statement.startswith(_IF_EXISTING):
                cursor.execute(statement, params)
        cursor.execute(_reliability_statement(), params)
        rows = cursor.fetchall()
        cursor.execute(f"DROP TABLE {', '.join(_TEMPORARY)}")
        _add_reliability(wave, rows)


def _add_reliability(wave: Wave, rows: list[tuple]) -> None:
    """Add the complete-case sums (per dimension: a totals row, then one row per item in
    question id order) to the wave's ReliabilitySum rows, as `_fold` does."""
    sums: dict[int, dict] = {}
    for dimension_id, question_id, n, total, total_sq in rows:
        acc = sums.setdefault(dimension_id, {"items": []})
        if question_id is None:
            acc.update(n=n, total_sum=total, total_sumsq=total_sq)
        else:
            acc["items"].append((total, total_sq))
    for dimension_id, acc in sums.items():
        row, _ = ReliabilitySum.objects.get_or_create(wave=wave, dimension_id=dimension_id)
        m = len(acc["items"])
        item_sums = row.item_sums or [0.0] * m
        item_sumsq = row.item_sumsq or [0.0] * m
        row.n += acc["n"]
        row.item_sums = [a + b for a, (b, _) in zip(item_sums, acc["items"], strict=True)]
        row.item_sumsq = [a + b for a, (_, b) in zip(item_sumsq, acc["items"], strict=True)]
        row.total_sum += acc["total_sum"]
        row.total_sumsq += acc["total_sumsq"]
        row.save()
