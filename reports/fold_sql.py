"""The PostgreSQL-fast fold: the same increments as `reports.publication._fold`, in set-based SQL.

`_fold` reads every answer into Python and counts it once per ancestor unit and per variant of
the response (its base group and one row per demographic answer). Here the database does it.
Each step is a temporary table with fresh statistics (so the planner sizes every join and
aggregate right for 5 responses or 100,000; JIT compilation is off, it cost more than it saved):

- the responses being folded and their answers,
- the variants of each response (base group with its tenure; its role band over every
  tenure, `BAND_TOTAL`; tenure 0 and the demographic question and answer for each demographic
  answer), each variant key numbered once in the unique keys' order, so that every count is
  grouped by (unit, variant number) instead of by six columns and rows sorted by that number
  are in key order,
- its counted items (every answer, plus the ANY_EXPERIENCED pseudo-item when any `experienced`
  item is at least 2),
- its mean per dimension (agree5/freq5 items with a dimension, reverse-scored items as 6 - x,
  counted when at least half of the dimension's items are answered),
- the counts per response unit;

then each summary table gets the sums of every ancestor unit (the ancestors come from the
materialised path), rolled up the tree a level at a time: a unit's rows are its own responses'
rows plus its children's, so each level aggregates only the rows of the level below. The rows
of units that have none in the wave yet (the whole wave at its first publication) are plainly
inserted, the others with INSERT ... ON CONFLICT DO UPDATE. A last query
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
# the responses and answers being folded, their variants, every unit's ancestors, the
# scored items and per-dimension sums, and the counts per response unit.
_R, _A = "powerclimate_fold_responses", "powerclimate_fold_answers"
_V, _UNITS = "powerclimate_fold_variants", "powerclimate_fold_units"
# The distinct variant keys of the fold, each with its rank in the unique keys' order: the
# counts are grouped by (unit, rank) rather than by five key columns, and rows sorted by rank
# are in key order.
_VK = "powerclimate_fold_variant_keys"
_X, _PER = "powerclimate_fold_scored", "powerclimate_fold_per_dimension"
_OWN_G, _OWN_I = "powerclimate_fold_own_groups", "powerclimate_fold_own_items"
_OWN_D = "powerclimate_fold_own_dimensions"
# The sums of one summary table for the units without rows in the wave (dropped at once).
_NEW = "powerclimate_fold_new_rows"
# Marks a statement that only runs when some ancestor already has rows in the wave.
_IF_EXISTING = "-- existing\n"
_TEMPORARY = [_R, _A, _VK, _V, _UNITS, _X, _PER, _OWN_G, _OWN_I, _OWN_D]
_KEY = ["role_lo", "role_hi", "tenure", "demo_question", "demo_value"]
# The same columns in the unique keys' order, after wave and unit: rows are inserted in it.
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


def _prepare(*, by_ids: bool) -> list[str]:
    """Statements that build the fold's temporary tables, each with statistics, so that the
    planner sizes every join and aggregate right from 5 responses to 100,000."""
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
        # per demographic answer (tenure 0), ranked in the order of the unique keys.
        *_temporary(
            _VK,
            f"""SELECT {", ".join(_KEY)}, (row_number() OVER (ORDER BY {order}))::integer AS variant
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
        # Each response's variants, by rank.
        *_temporary(
            _V,
            f"""SELECT r.id AS response_id, r.unit_id, k.variant
            FROM {_R} r JOIN {_VK} k ON k.role_lo = r.role_lo AND k.role_hi = r.role_hi
                AND k.tenure = r.tenure AND k.demo_question = 0 AND k.demo_value = 0
            UNION ALL
            SELECT r.id, r.unit_id, k.variant
            FROM {_R} r JOIN {_VK} k ON k.role_lo = r.role_lo AND k.role_hi = r.role_hi
                AND k.tenure = 0 AND k.demo_question = {BAND_TOTAL} AND k.demo_value = 0
            UNION ALL
            SELECT r.id, r.unit_id, k.variant
            FROM {_A} a JOIN {_R} r ON r.id = a.response_id
            JOIN {_VK} k ON k.role_lo = r.role_lo AND k.role_hi = r.role_hi AND k.tenure = 0
                AND k.demo_question = a.question_id AND k.demo_value = a.value
            WHERE a.purpose = 'demographic'""",
        ),
        # Every unit of these responses and each of its ancestors, with its parent and depth,
        # all from the materialised path, and whether it has summary rows in this wave already. A
        # unit without a SummaryGroup row has no SummaryItem or SummaryDimension row either
        # (every item and dimension row's group is counted with it), so its rows are plainly
        # inserted, which is much cheaper than INSERT ... ON CONFLICT; a row that exists after
        # all (a second writer not holding the publication lock) fails the unique key instead
        # of being lost.
        *_temporary(
            _UNITS,
            f"""SELECT u.id AS unit_id, p.steps[cardinality(p.steps) - 1] AS parent_id,
                   cardinality(p.steps) AS depth, EXISTS (
                       SELECT 1 FROM {t.group} g
                       WHERE g.wave_id = %(wave)s AND g.unit_id = u.id) AS existing
            FROM {t.unit} u
            CROSS JOIN LATERAL (
                SELECT string_to_array(trim(both '/' from u.path), '/')::int[] AS steps) p
            WHERE u.id IN (
                SELECT unnest(string_to_array(trim(both '/' from r.path), '/')::int[])
                FROM {t.unit} r WHERE r.id IN (SELECT DISTINCT unit_id FROM {_R}))""",
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
            f"SELECT unit_id, variant, count(*)::integer AS respondents FROM {_V} "
            "GROUP BY unit_id, variant",
        ),
        # Items counted per response: its answers and the any-experienced pseudo-item.
        *_temporary(
            _OWN_I,
            f"""SELECT v.unit_id, v.variant, c.question_id, c.value, count(*)::integer AS "count"
            FROM {_V} v JOIN (
                SELECT response_id, question_id, value FROM {_A}
                UNION ALL
                SELECT DISTINCT response_id, {ANY_EXPERIENCED}, 1 FROM {_A}
                WHERE purpose = 'experienced' AND value >= 2
            ) c ON c.response_id = v.response_id
            GROUP BY v.unit_id, v.variant, c.question_id, c.value""",
        ),
        # A respondent's mean per dimension when at least half of its items are answered.
        *_temporary(
            _OWN_D,
            f"""SELECT v.unit_id, v.variant, p.dimension_id, count(*)::integer AS n,
                   sum(p.mean) AS total,
                   sum(p.mean * p.mean) AS total_sq
            FROM {_V} v JOIN (
                SELECT response_id, dimension_id, total::float8 / answered AS mean
                FROM {_PER} WHERE answered * 2 >= m
            ) p ON p.response_id = v.response_id
            GROUP BY v.unit_id, v.variant, p.dimension_id""",
        ),
    ]


def _rollup(
    table: str, source: str, extra: list[str], values: dict[str, str], depths: Sequence[int]
) -> list[str]:
    """Add `source` (sums per response unit) to `table` for every ancestor unit.

    The sums are rolled up the tree a level at a time into a temporary table: a unit's rows are
    its own responses' rows plus its children's rolled-up rows, so every level aggregates only
    the rows of the level below it (a team's rows are copied as they are), not every response
    unit's rows once per ancestor. Then the rows of units without rows in this wave are plainly
    inserted in key order (the unique index is filled from one end), and those of the others
    (usually few: the upper units of an earlier batch) with INSERT ... ON CONFLICT DO UPDATE,
    only when there are any. `values` maps each counted column to its final expression."""
    quote = connection.ops.quote_name
    keys = [quote(c) for c in ["wave_id", "unit_id", *_KEY, *extra]]
    grouped = ", ".join(["variant", *extra])
    names = ", ".join(quote(c) for c in values)
    summed = ", ".join(f"sum({quote(c)}) AS {quote(c)}" for c in values)
    columns = ", ".join([*keys, *(quote(c) for c in values)])
    final = ", ".join(values.values())
    # The variant ranks follow the unique keys' order: so do rows in (unit, variant) order.
    ordered = ", ".join(f"n.{c}" for c in ["unit_id", "variant", *extra])
    selected = ", ".join([*(f"k.{c}" for c in _KEY), *(f"n.{c}" for c in extra)])
    updates = ", ".join(f"{quote(c)} = {table}.{quote(c)} + EXCLUDED.{quote(c)}" for c in values)
    own = f"SELECT s.unit_id, {grouped}, {names} FROM {source} s JOIN {_UNITS} u USING (unit_id)"
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
            SELECT x.unit_id, {grouped}, {summed} FROM (
                {own} WHERE u.depth = {depth:d}
                UNION ALL
                SELECT u.parent_id, {grouped}, {names} FROM {_NEW} c
                JOIN {_UNITS} u USING (unit_id) WHERE u.depth = {depths[level - 1]:d}
            ) x GROUP BY x.unit_id, {grouped}"""
        )
    insert = (
        f"INSERT INTO {table} ({columns}) SELECT %(wave)s, n.unit_id, {selected}, {final} "
        f"FROM {_NEW} n JOIN {_UNITS} u USING (unit_id) JOIN {_VK} k USING (variant) "
        f"WHERE {{}} u.existing "
        f"ORDER BY {ordered}"
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


def _statements(depths: Sequence[int]) -> list[str]:
    """The summary inserts, after `_prepare`; `depths` are the units' depths, deepest first."""
    t = _tables()
    return [
        *_rollup(t.group, _OWN_G, [], {"respondents": "respondents::integer"}, depths),
        *_rollup(t.item, _OWN_I, ["question_id", "value"], {"count": "count::integer"}, depths),
        *_rollup(
            t.dimension,
            _OWN_D,
            ["dimension_id"],
            {"n": "n::integer", "total": "total", "total_sq": "total_sq"},
            depths,
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
        for statement in _prepare(by_ids=response_ids is not None):
            cursor.execute(statement, params)
        cursor.execute(
            f"SELECT bool_or(existing), array_agg(DISTINCT depth ORDER BY depth DESC) FROM {_UNITS}"
        )
        existing, depths = cursor.fetchone()
        for statement in _statements(depths):
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
