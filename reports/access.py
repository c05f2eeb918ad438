"""Who may read which units. The only place that decides it; views, exports and the API ask."""

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, Value

from surveys.models import Unit, Wave

HR_GROUP = "HR admins"


def is_hr(user: User | AnonymousUser) -> bool:
    """HR admins see and manage everything."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_powerclimate_is_hr", None)
    if cached is None:
        cached = user.groups.filter(name=HR_GROUP).exists()
        user._powerclimate_is_hr = cached
    return cached


def is_leader(user: User | AnonymousUser) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    tops = getattr(user, "_powerclimate_tops", None)
    if tops is not None:  # the page already read the grants (`granted_units`)
        return bool(tops)
    return user.grants.exists()


def granted_units(user: User | AnonymousUser) -> list[Unit]:
    """The top units a user may read: the roots for HR, the granted units for a leader.

    A leader's are read once per user object (one request), like `is_hr`: the scope checks,
    the pickers and the navigation of a page all ask."""
    if is_hr(user):
        return list(Unit.objects.filter(parent__isnull=True))
    if not user.is_authenticated or not user.is_active:
        return []
    cached = getattr(user, "_powerclimate_tops", None)
    if cached is not None:
        return list(cached)
    units = list(Unit.objects.filter(grants__user=user).order_by("path"))
    # A grant under another grant adds nothing: keep the outermost ones.
    tops: list[Unit] = []
    for unit in units:
        if not any(unit.is_within(top) for top in tops):
            tops.append(unit)
    user._powerclimate_tops = tuple(tops)
    return tops


def readable_units(user: User | AnonymousUser):
    """Every unit the user may read, as one queryset."""
    if is_hr(user):
        return Unit.objects.all()
    return Unit.objects.subtrees(granted_units(user))


def can_read_unit(user: User | AnonymousUser, unit: Unit) -> bool:
    if is_hr(user):
        return True
    return any(unit.is_within(top) for top in granted_units(user))


def require_unit(user: User | AnonymousUser, unit: Unit) -> Unit:
    """Return `unit` if the user may read it, else raise PermissionDenied (403)."""
    if not can_read_unit(user, unit):
        raise PermissionDenied("This unit is outside your scope.")
    return unit


def require_hr(user: User | AnonymousUser) -> None:
    if not is_hr(user):
        raise PermissionDenied("Only HR admins may open this page.")


def readable_waves(user: User | AnonymousUser):
    """The waves a user may read: every wave for HR; for a leader, the waves whose units overlap
    their scope (a wave unit inside a granted unit, or a granted unit inside a wave unit)."""
    if is_hr(user):
        return Wave.objects.all()
    return Wave.objects.filter(wave_in_scope(user))


def wave_in_scope(user: User | AnonymousUser):
    """An expression for `Wave` querysets: true for the waves `readable_waves` lists (to mark
    them among every wave in one query, say)."""
    if is_hr(user):
        return Value(True)
    tops = granted_units(user)
    if not tops:
        return Value(False)
    condition = Q()
    for top in tops:
        condition |= Q(unit__path__startswith=top.path) | Q(unit_id__in=top.ancestor_ids)
    return Exists(Wave.units.through.objects.filter(condition, wave_id=OuterRef("pk")))
