"""Who may read which units. The only place that decides it; views, exports and the API ask."""

from django.contrib.auth.models import AnonymousUser, Group, User
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Exists, OuterRef, Q, Value

from surveys.models import Unit, Wave

HR_GROUP = "HR admins"


def is_hr(user: User | AnonymousUser) -> bool:
    """HR admins see and manage everything."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return _scope(user)[0]


def is_leader(user: User | AnonymousUser) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    return bool(_scope(user)[1])


def granted_units(user: User | AnonymousUser) -> list[Unit]:
    """The top units a user may read: the roots for HR, the granted units for a leader."""
    if is_hr(user):
        return list(Unit.objects.filter(parent__isnull=True))
    if not user.is_authenticated or not user.is_active:
        return []
    return list(_scope(user)[1])


# In the model's field order (`Unit.from_db` takes the values in that order).
_UNIT_FIELDS = ("id", "external_id", "name", "parent_id", "path", "depth")


def _scope(user: User) -> tuple[bool, tuple[Unit, ...]]:
    """Whether the user is in the HR admins group, and the outermost units granted to them (in
    tree order): one query, once per user object (a request asks several times: the scope
    checks, the pickers, the navigation)."""
    cached = getattr(user, "_powerclimate_scope", None)
    if cached is not None:
        return cached
    # The granted units, and one row of placeholders (id 0) if the user is in the HR group.
    granted = Unit.objects.filter(grants__user=user).order_by().values_list(*_UNIT_FIELDS)
    in_hr = (
        Group.objects.filter(name=HR_GROUP, user=user)
        .order_by()
        .values_list(
            Value(0, output_field=models.BigIntegerField()),
            Value("", output_field=models.CharField()),
            Value("", output_field=models.CharField()),
            Value(None, output_field=models.BigIntegerField()),
            Value("", output_field=models.CharField()),
            Value(0, output_field=models.IntegerField()),
        )
    )
    rows = list(granted.union(in_hr, all=True))
    hr = any(row[0] == 0 for row in rows)
    units = sorted(
        (Unit.from_db(granted.db, _UNIT_FIELDS, row) for row in rows if row[0] != 0),
        key=lambda unit: unit.path,
    )
    # A grant under another grant adds nothing: keep the outermost ones.
    tops: list[Unit] = []
    for unit in units:
        if not any(unit.is_within(top) for top in tops):
            tops.append(unit)
    user._powerclimate_scope = (hr, tuple(tops))
    return user._powerclimate_scope


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
