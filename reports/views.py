"""Report pages: the dashboard, action plans, the printable report, HR's wave and audit pages.

Thin views (STYLE 6): decorators, a `_get_x_for_user` helper that applies reports.access, a
form check, one selector or service call, render. Every dashboard view and report is written
to the audit log; nothing here aggregates with the ORM.
"""

import tempfile
from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from reports import access, dashboards, exports, selectors, services
from reports.aggregation import BadBreakdown
from reports.audit import record
from reports.forms import ActionPlanForm, AuditFilterForm, DashboardQueryForm, ExportQueryForm
from reports.models import ActionPlan, AuditEvent
from reports.snapshot import consistent_reads
from surveys.models import Unit, Wave

AUDIT_PAGE_SIZE = 50


def _get_unit_for_user(user, unit_id: int) -> Unit:
    return access.require_unit(user, get_object_or_404(Unit, pk=unit_id))


def problem(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    """A page that explains what was wrong with the request."""
    return render(request, "reports/problem.html", {"message": message}, status=status)


@dataclass(frozen=True)
class Selection:
    """The wave and unit a report page shows, and what the pickers may offer."""

    wave: Wave | None
    unit: Unit | None
    waves: list[Wave]
    # Every wave (read with the pickers' in one query), for the history of a trend.
    every_wave: list[Wave] = field(default_factory=list)
    # The unit picker, the breadcrumb and the unit's children (`with_picker`).
    picker: selectors.UnitPicker | None = None


def _get_selection_for_user(
    user, *, wave_id: int | None, unit_id: int | None, with_picker: bool = False
) -> Selection:
    """The requested (or default) wave and unit, if the user may read them: unknown ids give
    404, ids outside the user's scope 403. `with_picker` adds the unit picker, read together
    with the unit (`selectors.unit_picker`)."""
    every_wave = selectors.scoped_waves(user=user)
    waves = [w for w in every_wave if w.readable]
    if wave_id is None:
        wave = selectors.default_wave(waves)
    else:
        wave = next((w for w in waves if w.pk == wave_id), None)
        if wave is None:
            if any(w.pk == wave_id for w in every_wave):
                raise PermissionDenied(_("This survey wave is outside your scope."))
            raise Http404(_("There is no such survey wave."))
    picker = None
    if unit_id is None:
        unit = None
        if access.is_hr(user) and wave is not None:
            unit = wave.units.order_by("path").first()
        if unit is None:
            tops = access.granted_units(user)
            unit = tops[0] if tops else None
        if with_picker and unit is not None:
            picker = selectors.unit_picker(user=user, unit_id=unit.pk)
    elif with_picker:
        picker = selectors.unit_picker(user=user, unit_id=unit_id)
        # Not among the units the user may read: 404 if there is no such unit, else 403.
        unit = picker.unit or _get_unit_for_user(user, unit_id)
    else:
        unit = _get_unit_for_user(user, unit_id)
    return Selection(wave=wave, unit=unit, waves=waves, every_wave=every_wave, picker=picker)


def _selection_from_query(
    request: HttpRequest, data, *, with_picker: bool = False
) -> Selection | HttpResponse:
    form = DashboardQueryForm(data)
    if not form.is_valid():
        return problem(request, _("The wave or unit in the address is not valid."))
    return _get_selection_for_user(
        request.user,
        wave_id=form.cleaned_data["wave"],
        unit_id=form.cleaned_data["unit"],
        with_picker=with_picker,
    )


def dashboard_url(wave: Wave, unit: Unit, anchor: str = "") -> str:
    url = reverse("reports:dashboard") + "?" + urlencode({"wave": wave.pk, "unit": unit.pk})
    return url + (f"#{anchor}" if anchor else "")


@login_required
def home(request):
    tops = access.granted_units(request.user)
    return render(request, "reports/home.html", {"tops": tops, "is_hr": access.is_hr(request.user)})


@login_required
def unit_detail(request, unit_id: int):
    unit = _get_unit_for_user(request.user, unit_id)
    children = list(unit.children.order_by("name"))
    return render(request, "reports/unit.html", {"unit": unit, "children": children})


def _empty_dashboard(request, selection: Selection) -> HttpResponse:
    return render(request, "reports/dashboard_empty.html", {"selection": selection})


@login_required
@require_GET
@consistent_reads
def dashboard(request):
    """The leader and HR dashboard of one unit (and everything under it) in one wave.

    A fixed number of queries (tests/reports/test_dashboard_queries.py pins at most 15): the
    session and the user, the overdue-publication check, the user's scope (HR group and
    leader grants in one), every wave with its publication (pickers and trend), the units
    (picker, breadcrumb, children), one read per summary table, the action plans, the
    comments where shown, and the audit event."""
    selection = _selection_from_query(request, request.GET, with_picker=True)
    if isinstance(selection, HttpResponse):
        return selection
    if selection.wave is None or selection.unit is None:
        return _empty_dashboard(request, selection)
    is_hr = access.is_hr(request.user)
    picker = selection.picker
    board = dashboards.build_dashboard(
        wave=selection.wave,
        unit=selection.unit,
        show_flags=is_hr,
        children=picker.children if picker.unit else None,
        waves=selection.every_wave,
    )
    record(
        request,
        action=AuditEvent.Action.VIEW,
        page="dashboard",
        wave=selection.wave.pk,
        unit=selection.unit.pk,
    )
    return render(
        request,
        "reports/dashboard.html",
        {
            "board": board,
            "selection": selection,
            "picker_units": picker.options,
            "picker_options": selectors.picker_options_html(picker.options, selected=board.unit.pk),
            "picker_cut": picker.cut,
            "breadcrumb": picker.breadcrumb
            if picker.unit
            else selectors.ancestors_within_scope(user=request.user, unit=selection.unit),
            "is_hr": is_hr,
            "action_form": ActionPlanForm(dimensions=board.dimensions),
            "query": urlencode({"wave": selection.wave.pk, "unit": selection.unit.pk}),
        },
    )


@login_required
@require_GET
@consistent_reads
def report(request):
    """The printable report of a dashboard view (every chart also as a table); the unit and
    its children come with the picker's read, as on the dashboard."""
    selection = _selection_from_query(request, request.GET, with_picker=True)
    if isinstance(selection, HttpResponse):
        return selection
    if selection.wave is None or selection.unit is None:
        return _empty_dashboard(request, selection)
    picker = selection.picker
    board = dashboards.build_dashboard(
        wave=selection.wave,
        unit=selection.unit,
        show_flags=access.is_hr(request.user),
        children=picker.children if picker.unit else None,
        waves=selection.every_wave,
    )
    record(
        request,
        action=AuditEvent.Action.EXPORT,
        format="print",
        wave=selection.wave.pk,
        unit=selection.unit.pk,
    )
    return render(request, "reports/report.html", {"board": board, "selection": selection})


# --- Action plans -----------------------------------------------------------------------------


def _get_plan_for_user(user, plan_id: int) -> ActionPlan:
    plan = get_object_or_404(ActionPlan.objects.select_related("unit", "wave"), pk=plan_id)
    access.require_unit(user, plan.unit)
    return plan


def _dimensions(wave: Wave) -> list[tuple[str, str]]:
    return list(wave.instrument.dimensions.order_by("order", "pk").values_list("code", "name"))


@login_required
@require_POST
def action_create(request):
    """Record an action for the unit and wave of the dashboard it was submitted from."""
    selection = _selection_from_query(request, request.POST)
    if isinstance(selection, HttpResponse):
        return selection
    if selection.wave is None or selection.unit is None:
        return problem(request, _("Choose a wave and a unit first."))
    form = ActionPlanForm(request.POST, dimensions=_dimensions(selection.wave))
    if not form.is_valid():
        return render(
            request,
            "reports/action_form.html",
            {"form": form, "wave": selection.wave, "unit": selection.unit, "plan": None},
            status=400,
        )
    plan = services.create_action_plan(
        unit=selection.unit, wave=selection.wave, created_by=request.user, **form.cleaned_data
    )
    record(request, action=AuditEvent.Action.ADMIN, action_plan=plan.pk, change="created")
    messages.success(request, _("The action was added."))
    return redirect(dashboard_url(selection.wave, selection.unit, "actions"))


@login_required
@require_http_methods(["GET", "POST"])
def action_edit(request, plan_id: int):
    plan = _get_plan_for_user(request.user, plan_id)
    dimensions = _dimensions(plan.wave)
    if request.method == "POST":
        form = ActionPlanForm(request.POST, dimensions=dimensions)
        if form.is_valid():
            services.update_action_plan(plan=plan, **form.cleaned_data)
            record(request, action=AuditEvent.Action.ADMIN, action_plan=plan.pk, change="edited")
            messages.success(request, _("The action was saved."))
            return redirect(dashboard_url(plan.wave, plan.unit, "actions"))
    else:
        form = ActionPlanForm(
            dimensions=dimensions,
            initial={
                "dimension_code": plan.dimension_code,
                "what": plan.what,
                "owner": plan.owner,
                "due": plan.due,
                "status": plan.status,
            },
        )
    return render(
        request,
        "reports/action_form.html",
        {"form": form, "wave": plan.wave, "unit": plan.unit, "plan": plan},
        status=400 if form.is_bound else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def action_delete(request, plan_id: int):
    plan = _get_plan_for_user(request.user, plan_id)
    if request.method == "POST":
        wave, unit = plan.wave, plan.unit
        record(request, action=AuditEvent.Action.ADMIN, action_plan=plan.pk, change="deleted")
        services.delete_action_plan(plan=plan)
        messages.success(request, _("The action was deleted."))
        return redirect(dashboard_url(wave, unit, "actions"))
    return render(request, "reports/action_delete.html", {"plan": plan})


# --- HR: waves --------------------------------------------------------------------------------


@login_required
@require_GET
@consistent_reads
def wave_list(request):
    """Every wave: state, published responses, response rates, thresholds, open/close."""
    access.require_hr(request.user)
    return render(request, "reports/waves.html", {"rows": selectors.wave_overview()})


@login_required
@require_GET
@consistent_reads
def wave_detail(request, wave_id: int):
    """One wave's response rate per unit (its scope units and two levels below)."""
    access.require_hr(request.user)
    wave = get_object_or_404(Wave.objects.select_related("instrument"), pk=wave_id)
    row = selectors.wave_overview(waves=[wave])[0]
    rates = selectors.unit_rates(
        wave=wave, units=selectors.wave_units_for_rates(wave=wave), depth=None
    )
    top_depth = min((r.depth for r in rates), default=0)
    return render(
        request,
        "reports/wave_detail.html",
        {"row": row, "wave": wave, "rates": rates, "top_depth": top_depth},
    )


@login_required
@require_POST
def wave_open(request, wave_id: int):
    access.require_hr(request.user)
    wave = get_object_or_404(Wave, pk=wave_id)
    try:
        services.open_wave(wave=wave)
    except services.WaveLocked as error:
        messages.error(request, str(error))
        return redirect("reports:waves")
    record(request, action=AuditEvent.Action.ADMIN, wave=wave.pk, change="opened")
    messages.success(request, _("“%(wave)s” is open.") % {"wave": wave.name})
    return redirect("reports:waves")


@login_required
@require_POST
def wave_close(request, wave_id: int):
    access.require_hr(request.user)
    wave = get_object_or_404(Wave, pk=wave_id)
    publication = services.close_wave(wave=wave)
    record(request, action=AuditEvent.Action.ADMIN, wave=wave.pk, change="closed")
    messages.success(
        request,
        _("“%(wave)s” is closed; %(n)s responses are published.")
        % {"wave": wave.name, "n": publication.responses},
    )
    return redirect("reports:waves")


# --- HR: audit log ----------------------------------------------------------------------------


@login_required
@require_GET
def audit_log(request):
    """The audit log, filterable and paginated. Read-only: nobody can change it."""
    access.require_hr(request.user)
    form = AuditFilterForm(request.GET or None)
    filters = {}
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = {
            "username": data["user"],
            "action": data["action"],
            "since": data["since"],
            "until": data["until"],
            "path_contains": data["path"],
        }
    # Logged first, so that the page shows its own reading too and counts what it lists.
    record(request, action=AuditEvent.Action.VIEW, page="audit")
    events = selectors.audit_events(**filters) if not form.errors else AuditEvent.objects.none()
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "reports/audit.html",
        {"form": form, "page": page, "query": query.urlencode()},
        status=400 if form.errors else 200,
    )


# --- Exports ----------------------------------------------------------------------------------


def _export_for_user(
    request: HttpRequest, fmt: str
) -> exports.Export | list[exports.Export] | HttpResponse:
    """The guarded export the query asks for, audit-logged with its parameters; or a page
    explaining what was wrong."""
    form = ExportQueryForm(request.GET)
    if not form.is_valid():
        return problem(request, _("The wave, unit or breakdown in the address is not valid."))
    selection = _get_selection_for_user(
        request.user, wave_id=form.cleaned_data["wave"], unit_id=form.cleaned_data["unit"]
    )
    if selection.wave is None or selection.unit is None:
        return problem(request, _("There is nothing to export yet."), status=404)
    try:
        views = exports.parse_views(
            form.cleaned_data["by"],
            demographic_codes=exports.demographic_codes(selection.wave),
        )
    except BadBreakdown as error:
        return problem(request, str(error))
    each = form.cleaned_data["units"] == "each"
    if each:
        # Every unit under this one, each by one breakdown (role level unless another is
        # named): the organisation by unit x role level.
        if not form.cleaned_data["by"]:
            views = [("role_level", ("role_level",))]
        try:
            if len(views) != 1:
                raise BadBreakdown(_("Name one breakdown for an export of every unit."))
            export = exports.build_unit_exports(
                wave=selection.wave, unit=selection.unit, view=views[0]
            )
        except BadBreakdown as error:
            return problem(request, str(error))
    else:
        export = exports.build_export(wave=selection.wave, unit=selection.unit, views=views)
    record(
        request,
        action=AuditEvent.Action.EXPORT,
        format=fmt,
        wave=selection.wave.pk,
        unit=selection.unit.pk,
        views=[name for name, _by in views],
        units="each" if each else "one",
    )
    return export


def _filename(export: exports.Export, extension: str, each: bool = False) -> str:
    scope = " every unit" if each else ""
    name = slugify(f"power-climate {export.wave.name} {export.unit.name}{scope}")[:120]
    return f"{name or 'power-climate'}.{extension}"


@login_required
@require_GET
@consistent_reads
def export_csv(request):
    """The tidy CSV of a dashboard view, streamed: one row per view x group x measure."""
    export = _export_for_user(request, "csv")
    if isinstance(export, HttpResponse):
        return export
    if isinstance(export, list):
        # Written here, inside the read snapshot, then sent from the file.
        target = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it)
        exports.write_units_csv(export, target)
        target.seek(0)
        response = FileResponse(
            target,
            as_attachment=True,
            filename=_filename(export[0], "csv", each=True),
            content_type="text/csv; charset=utf-8",
        )
        response["Cache-Control"] = "no-store"
        return response
    response = StreamingHttpResponse(
        exports.csv_lines(export), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{_filename(export, "csv")}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
@consistent_reads
def export_xlsx(request):
    """The XLSX workbook of a dashboard view: a README sheet and a sheet per breakdown,
    written to a temporary file in constant memory and streamed from it."""
    export = _export_for_user(request, "xlsx")
    if isinstance(export, HttpResponse):
        return export
    target = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it)
    each = isinstance(export, list)
    if each:
        exports.write_units_xlsx(export, target)
    else:
        exports.write_xlsx(export, target)
    target.seek(0)
    response = FileResponse(
        target,
        as_attachment=True,
        filename=_filename(export[0] if each else export, "xlsx", each=each),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Cache-Control"] = "no-store"
    return response
