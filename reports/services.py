"""Writes made from the report pages: opening and closing waves (HR) and action plans
(leaders). Keyword-only, one transaction each; who may do what is checked by the views with
`reports.access` before calling these."""

import datetime as dt

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext as _

from reports.models import ActionPlan, Publication
from reports.publication import publish
from surveys.models import Unit, Wave


class WaveLocked(ValueError):
    """The wave cannot be re-opened (the message says why)."""


def results_shown(wave: Wave) -> bool:
    """Whether a wave without live results has shown its figures (it has closed and
    published them)."""
    publication = Publication.objects.filter(wave=wave).first()
    return bool(
        not wave.live_results
        and publication is not None
        and publication.published_at
        and not publication.results_hidden
        and publication.published_cells
    )


@transaction.atomic
def open_wave(*, wave: Wave) -> Wave:
    """Open a draft or closed wave for responses (it accepts them between its opening and
    closing times). A closed wave whose figures have been shown once is not re-opened: its
    next snapshot could be compared with them, so late answers would stand out (anonymity
    point 6); raises WaveLocked."""
    if wave.state == Wave.State.CLOSED and results_shown(wave):
        raise WaveLocked(
            _(
                "The figures of “%(wave)s” have been published: re-opening it would let the "
                "next figures be compared with them, singling out late answers. Start a new "
                "wave instead."
            )
            % {"wave": wave.name}
        )
    Wave.objects.filter(pk=wave.pk).update(state=Wave.State.OPEN)
    wave.refresh_from_db()
    return wave


def close_wave(*, wave: Wave) -> Publication:
    """Close a wave and publish whatever is still waiting, even a last batch smaller than k
    (a closed wave publishes everything: nobody can submit after it)."""
    with transaction.atomic():
        Wave.objects.filter(pk=wave.pk).update(state=Wave.State.CLOSED)
    wave.refresh_from_db()
    return publish(wave=wave, force=True)


@transaction.atomic
def create_action_plan(
    *,
    unit: Unit,
    wave: Wave,
    dimension_code: str,
    what: str,
    owner: str,
    due: dt.date | None,
    status: str,
    created_by: User | None,
) -> ActionPlan:
    """Record an action a leader commits to for a dimension of a unit after a wave."""
    return ActionPlan.objects.create(
        unit=unit,
        wave=wave,
        dimension_code=dimension_code,
        what=what,
        owner=owner,
        due=due,
        status=status,
        created_by=created_by,
    )


@transaction.atomic
def update_action_plan(
    *, plan: ActionPlan, dimension_code: str, what: str, owner: str, due, status: str
) -> ActionPlan:
    """Change an action's dimension, text, owner, due date or status."""
    plan.dimension_code = dimension_code
    plan.what = what
    plan.owner = owner
    plan.due = due
    plan.status = status
    plan.save(update_fields=["dimension_code", "what", "owner", "due", "status"])
    return plan


@transaction.atomic
def delete_action_plan(*, plan: ActionPlan) -> None:
    """Delete an action (recorded in the audit log by the view)."""
    plan.delete()
