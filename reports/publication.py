"""Publication: fold new responses into the summary tables in batches and decide, once per
snapshot, which cells are suppressed (DESIGN points 4 and 6).

Responses wait unpublished until at least max(k, POWERCLIMATE_PUBLISH_BATCH) of them have
arrived (or the wave closes); then one transaction adds their counts to the summary rows of
every ancestor unit, marks them published and stores the new suppression pattern. Reports read
only the summary rows and the pattern, so a watcher sees figures move by at least k responses.
"""

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from reports import scoring
from reports.anonymity import GroupRow, band, decide_comment_units, decide_pattern
from reports.fold_sql import fold_sql, supports_sql_fold
from reports.models import (
    BAND_TOTAL,
    Publication,
    ReliabilitySum,
    SummaryDimension,
    SummaryGroup,
    SummaryItem,
)
from reports.rates import decide_rates
from surveys.models import Answer, Question, Response, Unit, Wave
from surveys.services import rewrite_batch

# A pseudo-question counted per group: respondents who reported at least one experienced
# behaviour at least "once or twice" (the top of the reporting funnel).
ANY_EXPERIENCED = 0
CHUNK = 500


def batch_size(wave: Wave) -> int:
    return max(wave.k, settings.POWERCLIMATE_PUBLISH_BATCH)


def publish_if_due(*, wave: Wave) -> Publication | None:
    """Publish when a full batch is waiting, or anything is waiting and the wave is closed.
    Cheap when nothing is due: one indexed count."""
    pending = Response.objects.for_wave(wave).unpublished().count()
    closed = wave.has_closed
    if pending >= batch_size(wave) or (pending and closed):
        return publish(wave=wave)
    if closed and Publication.objects.filter(wave=wave, results_hidden=True).exists():
        return publish(wave=wave, force=True)  # the figures waited for the close
    return None


@dataclass(frozen=True)
class _QuestionInfo:
    kind: str
    purpose: str
    dimension_id: int | None
    reverse: bool


def _question_info(wave: Wave) -> dict[int, _QuestionInfo]:
    return {
        q.pk: _QuestionInfo(q.kind, q.purpose, q.dimension_id, q.reverse_scored)
        for q in Question.objects.filter(instrument_id=wave.instrument_id)
    }


def publish(*, wave: Wave, force: bool = False) -> Publication:
    """Fold every unpublished response of the wave into the summary tables and store a new
    snapshot with its suppression pattern. Without `force`, a batch smaller than the
    publication batch is left waiting unless the wave is closed. Concurrent calls serialise on
    the publication row; each response is folded exactly once."""
    with transaction.atomic():
        Publication.objects.get_or_create(wave=wave)
        publication = Publication.objects.select_for_update().get(wave=wave)
        wave = Wave.objects.get(pk=wave.pk)
        pending = list(Response.objects.for_wave(wave).unpublished().values_list("pk", flat=True))
        closed = wave.has_closed
        if not pending or (len(pending) < batch_size(wave) and not closed and not force):
            if force:
                _refresh_pattern(wave, publication)
            return publication
        fold(wave, pending)
        # Marks the batch published and re-writes it, so that nothing the database keeps
        # about how rows were written links a response to its invitation (DESIGN point 2).
        rewrite_batch(wave=wave, response_ids=pending)
        publication.responses += len(pending)
        publication.version += 1
        publication.published_at = timezone.now()
        _refresh_pattern(wave, publication)
        return publication


def snapshot_rows(wave: Wave) -> tuple[list[GroupRow], dict[int, int | None]]:
    """The published summary rows of a wave as the suppression code reads them, and the
    parent of every unit they mention."""
    rows = [
        GroupRow(
            unit=g.unit_id,
            role=band(g.role_lo, g.role_hi),
            tenure=g.tenure,
            demo_question=g.demo_question,
            demo_value=g.demo_value,
            respondents=g.respondents,
        )
        # The band totals are stored sums of the base rows, not cells.
        for g in SummaryGroup.objects.filter(wave=wave).exclude(demo_question=BAND_TOTAL)
    ]
    unit_ids = {row.unit for row in rows}
    parents = dict(Unit.objects.filter(pk__in=unit_ids).values_list("pk", "parent_id"))
    return rows, parents


def _refresh_pattern(wave: Wave, publication: Publication) -> None:
    publication.rates = decide_rates(wave)
    publication.results_hidden = not wave.results_visible
    if publication.results_hidden:
        # No figure, comment or reliability until the wave closes: then one snapshot, which
        # no earlier one can be compared with (anonymity point 6).
        publication.published_cells, publication.comment_units = [], []
        publication.reliability = {}
        publication.save()
        return
    rows, parents = snapshot_rows(wave)
    publication.published_cells = decide_pattern(
        rows=rows,
        parents=parents,
        k=wave.k,
        demographic_min=getattr(settings, "POWERCLIMATE_DEMOGRAPHIC_MIN", None),
    )
    totals: dict[int, int] = defaultdict(int)
    for row in rows:
        if row.demo_question == 0:
            totals[row.unit] += row.respondents
    publication.comment_units = decide_comment_units(
        totals=totals, parents=parents, k_comments=wave.k_comments
    )
    publication.reliability = _reliability(wave)
    publication.save()


def _reliability(wave: Wave) -> dict[str, float | None]:
    codes = dict(wave.instrument.dimensions.values_list("pk", "code"))
    result = {}
    for row in ReliabilitySum.objects.filter(wave=wave):
        alpha = scoring.cronbach_alpha(
            n=row.n,
            item_sums=row.item_sums,
            item_sumsq=row.item_sumsq,
            total_sum=row.total_sum,
            total_sumsq=row.total_sumsq,
        )
        result[codes.get(row.dimension_id, str(row.dimension_id))] = (
            round(alpha, 4) if alpha is not None and math.isfinite(alpha) else None
        )
    return result


def fold(wave: Wave, response_ids: Sequence) -> None:
    """Add these responses' counts to the summary tables: on PostgreSQL in one set-based
    statement (`reports.fold_sql`), elsewhere with the portable `_fold`. Both add exactly the
    same counts (tests/reports/test_fold_sql.py)."""
    if supports_sql_fold():
        fold_sql(wave=wave, response_ids=response_ids)
        return
    questions = _question_info(wave)
    for start in range(0, len(response_ids), CHUNK * 10):
        _fold(wave, response_ids[start : start + CHUNK * 10], questions)


def _fold(wave: Wave, response_ids: Sequence, questions: dict[int, _QuestionInfo]) -> None:
    """Add the counts of these responses to the summary rows of every ancestor unit."""
    responses = list(
        Response.objects.filter(pk__in=response_ids).values_list(
            "pk",
            "unit__path",
            "role_level__rank",
            "role_level_to__rank",
            "tenure_band__rank",
        )
    )
    answers: dict = defaultdict(list)
    for start in range(0, len(response_ids), CHUNK):
        chunk = response_ids[start : start + CHUNK]
        for response_id, question_id, value in Answer.objects.filter(
            response_id__in=chunk
        ).values_list("response_id", "question_id", "value"):
            answers[response_id].append((question_id, value))
    dimension_items: dict[int, list[int]] = defaultdict(list)
    for qid, info in sorted(questions.items()):
        if info.dimension_id and info.kind in ("agree5", "freq5"):
            dimension_items[info.dimension_id].append(qid)

    groups: dict[tuple, int] = defaultdict(int)
    items: dict[tuple, int] = defaultdict(int)
    dims: dict[tuple, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    reliability: dict[int, list] = {}
    for response_id, path, role_lo, role_hi, tenure in responses:
        role_hi = role_hi or role_lo
        tenure = tenure or 0
        pairs = answers.get(response_id, [])
        demo = [(q, v) for q, v in pairs if questions[q].purpose == Question.Purpose.DEMOGRAPHIC]
        scored = _dimension_means(pairs, questions, dimension_items, reliability)
        experienced = any(
            questions[q].purpose == Question.Purpose.EXPERIENCED and v >= 2 for q, v in pairs
        )
        variants = [(0, 0, tenure), (BAND_TOTAL, 0, 0)] + [(q, v, 0) for q, v in demo]
        unit_ids = [int(step) for step in path.strip("/").split("/")]
        for unit_id in unit_ids:
            for demo_q, demo_v, ten in variants:
                key = (unit_id, role_lo, role_hi, ten, demo_q, demo_v)
                groups[key] += 1
                for q, v in pairs:
                    items[(*key, q, v)] += 1
                if experienced:
                    items[(*key, ANY_EXPERIENCED, 1)] += 1
                for dimension_id, mean in scored.items():
                    acc = dims[(*key, dimension_id)]
                    acc[0] += 1
                    acc[1] += mean
                    acc[2] += mean * mean
    base = ["wave_id", "unit_id", "role_lo", "role_hi", "tenure", "demo_question", "demo_value"]
    _upsert(
        SummaryGroup._meta.db_table,
        base,
        ["respondents"],
        [(wave.pk, *key, n) for key, n in groups.items()],
    )
    _upsert(
        SummaryItem._meta.db_table,
        [*base, "question_id", "value"],
        ["count"],
        [(wave.pk, *key, n) for key, n in items.items()],
    )
    _upsert(
        SummaryDimension._meta.db_table,
        [*base, "dimension_id"],
        ["n", "total", "total_sq"],
        [(wave.pk, *key, *acc) for key, acc in dims.items()],
    )
    for dimension_id, acc in reliability.items():
        row, _ = ReliabilitySum.objects.get_or_create(wave=wave, dimension_id=dimension_id)
        m = len(acc[1])
        item_sums = row.item_sums or [0.0] * m
        item_sumsq = row.item_sumsq or [0.0] * m
        row.n += acc[0]
        row.item_sums = [a + b for a, b in zip(item_sums, acc[1], strict=True)]
        row.item_sumsq = [a + b for a, b in zip(item_sumsq, acc[2], strict=True)]
        row.total_sum += acc[3]
        row.total_sumsq += acc[4]
        row.save()


def _dimension_means(pairs, questions, dimension_items, reliability) -> dict[int, float]:
    """A respondent's mean per dimension (1-5, reverse-scored items flipped), when at least half
    of the dimension's items are answered; complete cases also feed Cronbach's alpha sums."""
    values: dict[int, int] = {}
    for q, v in pairs:
        info = questions[q]
        if info.dimension_id and info.kind in ("agree5", "freq5") and 1 <= v <= 5:
            values[q] = scoring.reverse_score(value=v) if info.reverse else v
    means = {}
    for dimension_id, item_ids in dimension_items.items():
        answered = [values[q] for q in item_ids if q in values]
        if answered and len(answered) * 2 >= len(item_ids):
            means[dimension_id] = sum(answered) / len(answered)
        if len(answered) == len(item_ids):
            acc = reliability.setdefault(
                dimension_id, [0, [0.0] * len(item_ids), [0.0] * len(item_ids), 0.0, 0.0]
            )
            acc[0] += 1
            for i, x in enumerate(answered):
                acc[1][i] += x
                acc[2][i] += x * x
            total = sum(answered)
            acc[3] += total
            acc[4] += total * total
    return means


def _upsert(table: str, keys: list[str], values: list[str], rows: Iterable[tuple]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE adding to the existing counts; the same statement runs
    on PostgreSQL and SQLite (3.24+)."""
    rows = list(rows)
    if not rows:
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in [*keys, *values])
    placeholders = ", ".join(["%s"] * (len(keys) + len(values)))
    updates = ", ".join(
        f"{quote(v)} = {quote(table)}.{quote(v)} + EXCLUDED.{quote(v)}" for v in values
    )
    conflict = ", ".join(quote(c) for c in keys)
    sql = (
        f"INSERT INTO {quote(table)} ({columns}) VALUES ({placeholders}) "  # noqa: S608
        f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
    )
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 5000):
            cursor.executemany(sql, rows[start : start + 5000])


def rebuild(*, wave: Wave) -> Publication:
    """Recompute a wave's summary tables from its responses (after an instrument edit or a
    restore). Only already-published responses are folded, so nothing is published early."""
    with transaction.atomic():
        for model in (SummaryGroup, SummaryItem, SummaryDimension, ReliabilitySum):
            model.objects.filter(wave=wave).delete()
        publication, _ = Publication.objects.get_or_create(wave=wave)
        publication = Publication.objects.select_for_update().get(pk=publication.pk)
        ids = list(
            Response.objects.for_wave(wave).filter(published=True).values_list("pk", flat=True)
        )
        fold(wave, ids)
        publication.responses = len(ids)
        publication.version += 1  # the counts may have changed: a new snapshot
        _refresh_pattern(wave, publication)
        return publication
