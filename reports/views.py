from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from reports import access
from surveys.models import Unit


def _get_unit_for_user(user, unit_id: int) -> Unit:
    return access.require_unit(user, get_object_or_404(Unit, pk=unit_id))


@login_required
def home(request):
    tops = access.granted_units(request.user)
    return render(request, "reports/home.html", {"tops": tops, "is_hr": access.is_hr(request.user)})


@login_required
def unit_detail(request, unit_id: int):
    unit = _get_unit_for_user(request.user, unit_id)
    children = list(unit.children.order_by("name"))
    return render(request, "reports/unit.html", {"unit": unit, "children": children})
