"""The read API under /api/v1/: JSON for HR and BI tools (docs/api.md).

Every endpoint goes through `api_view`, which authenticates (a session log-in or
`Authorization: Bearer <token>`), answers only GET/HEAD, turns every refusal into a JSON error
with the right status, marks the response `Cache-Control: no-store` and writes the call to the
audit log, refused calls included. Who may read what is decided by `reports.access`; the
figures come from `reports.aggregation` and are serialised only after
`anonymity.require_guarded` has confirmed that each one passed the guard.
"""

import datetime as dt
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse, QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from reports import access, aggregation, scoring, selectors
from reports.anonymity import require_guarded
from reports.audit import record
from reports.models import ApiToken, AuditEvent
from reports.signals import publish_overdue_results
from reports.snapshot import published_snapshot
from surveys.models import Unit, Wave

logger = logging.getLogger(__name__)

# Largest id any database column here can hold; anything larger names nothing.
MAX_ID = 2**63 - 1
MAX_PARAM_LENGTH = 200
MAX_TOKEN_LENGTH = 200
LAST_USED_EVERY = dt.timedelta(minutes=1)
_DIGITS = re.compile(r"[0-9]{1,30}")


class ApiError(Exception):
    """A refusal with its status code and a message for the caller."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


# --- Authentication and the common wrapper ---------------------------------------------------


def authenticate(request: HttpRequest) -> ApiToken | None:
    """Authenticate an API request: with an `Authorization: Bearer` header, by an active token
    (its user becomes `request.user`); otherwise by the session. Returns the token used, or
    None for a session; raises ApiError(401) when neither identifies an active user."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _space, raw = header.strip().partition(" ")
        raw = raw.strip()
        if scheme.lower() != "bearer" or not raw or len(raw) > MAX_TOKEN_LENGTH:
            raise ApiError(
                401,
                _("Send the API token as 'Authorization: Bearer <token>'."),
                {"WWW-Authenticate": 'Bearer error="invalid_request"'},
            )
        token = (
            ApiToken.objects.active()
            .select_related("user")
            .filter(token_hash=ApiToken.hash(raw))
            .first()
        )
        if token is None:
            raise ApiError(
                401,
                _("This API token is not valid: it is unknown or has been revoked."),
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        _mark_used(token)
        request.user = token.user
        return token
    if request.user.is_authenticated and request.user.is_active:
        return None
    raise ApiError(
        401,
        _("Authentication required: log in, or send 'Authorization: Bearer <token>'."),
        {"WWW-Authenticate": "Bearer"},
    )


def _mark_used(token: ApiToken) -> None:
    """Record when a token was last used, at most once a minute (one cheap UPDATE)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def _error_response(error: ApiError) -> JsonResponse:
    response = JsonResponse({"error": error.message}, status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response


def api_view(view: Callable[..., dict]) -> Callable[..., JsonResponse]:
    """Wrap an endpoint that returns a dict: authentication, GET only, JSON errors, no-store,
    and one audit event per call (refused calls included, with their status)."""

    @csrf_exempt  # read-only: every non-GET method is refused below
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> JsonResponse:
        _make_auditable(request)
        token, failure = None, None
        try:
            token = authenticate(request)
            if request.method not in ("GET", "HEAD"):
                raise ApiError(405, _("The API is read-only: use GET."), {"Allow": "GET, HEAD"})
            publish_overdue_results()
            with published_snapshot():  # one snapshot: the pattern and the counts agree
                response = JsonResponse(view(request, *args, **kwargs))
        except ApiError as error:
            failure = error
        except PermissionDenied:
            failure = ApiError(403, _("This is outside your scope."))
        except Exception:
            logger.exception("API call failed: %s", request.path)
            failure = ApiError(500, _("Internal error; it has been logged."))
        if failure is not None:
            response = _error_response(failure)
        response["Cache-Control"] = "no-store"
        detail = {"status": response.status_code, "via": _via(request, token)}
        if token is not None:
            detail["token"] = token.pk
        if failure is not None:
            detail["error"] = _clean(failure.message, 300)
        record(request, action=AuditEvent.Action.API, **detail)
        return response

    return wrapper


def _make_auditable(request: HttpRequest) -> None:
    """Make the request safe to write to the audit log whatever a caller sends: no NUL
    characters (PostgreSQL text cannot hold them) and no megabyte-long parameters. Values stay
    longer than MAX_PARAM_LENGTH when they were, so `_params` still refuses them."""
    params = QueryDict(mutable=True)
    for key, values in request.GET.lists():
        params.setlist(_clean(key, 100), [_clean(v, MAX_PARAM_LENGTH + 1) for v in values[:20]])
    params._mutable = False
    request.GET = params
    request.path = _clean(request.path, 500)


def _clean(text: str, limit: int) -> str:
    """Text a caller sent, cut to `limit` characters and without NUL, fit for messages and the
    audit log."""
    return text[:limit].replace("\x00", "\ufffd")


def _via(request: HttpRequest, token: ApiToken | None) -> str | None:
    if token is not None:
        return "token"
    return "session" if request.user.is_authenticated else None


# --- Parameters and scoping -------------------------------------------------------------------


def _params(request: HttpRequest, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query parameters of an endpoint, each given at most once; anything else is a 400."""
    for key in request.GET:
        if key not in allowed:
            raise ApiError(
                400,
                _("Unknown parameter %(name)s; this endpoint takes: %(allowed)s.")
                % {"name": _clean(key, 50), "allowed": ", ".join(allowed) or _("no parameters")},
            )
    params = {}
    for key in allowed:
        values = request.GET.getlist(key)
        if len(values) > 1:
            raise ApiError(
                400,
                _("Give %(name)s only once (several breakdowns go in one, comma-separated).")
                % {"name": key},
            )
        if values:
            if len(values[0]) > MAX_PARAM_LENGTH:
                raise ApiError(400, _("The %(name)s parameter is too long.") % {"name": key})
            params[key] = values[0]
    return params


def _parse_id(value: str) -> int | None:
    """A database id from text, or None when it is not one. Only ASCII digits count (no signs,
    spaces or other scripts' digits); a number too large for any id names nothing."""
    value = value.strip()
    if not _DIGITS.fullmatch(value):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


def _get_wave_for_user(user, wave_id: str) -> Wave:
    """The wave, if it exists (404) and overlaps the user's scope (403)."""
    pk = _parse_id(wave_id)
    wave = Wave.objects.select_related("instrument").filter(pk=pk).first() if pk else None
    if wave is None:
        raise ApiError(404, _("There is no wave with id %(id)s.") % {"id": _clean(wave_id, 30)})
    if not access.is_hr(user) and not access.readable_waves(user).filter(pk=wave.pk).exists():
        raise ApiError(403, _("This wave does not cover any unit in your scope."))
    return wave


def _get_unit_for_user(user, unit_param: str | None) -> Unit:
    """The requested unit (400 when malformed, 404 when unknown, 403 when out of scope), or
    the user's one top unit when none is given (400 when there are several)."""
    if unit_param is None:
        tops = access.granted_units(user)
        if not tops:
            raise ApiError(403, _("No units have been granted to you."))
        if len(tops) > 1:
            raise ApiError(
                400,
                _(
                    "You may read several units: choose one with unit=<id> "
                    "(GET /api/v1/units/ lists them)."
                ),
            )
        return tops[0]
    if not _DIGITS.fullmatch(unit_param.strip()):
        raise ApiError(400, _("unit must be a unit id: a positive whole number."))
    pk = _parse_id(unit_param)
    unit = Unit.objects.filter(pk=pk).first() if pk else None
    if unit is None:
        raise ApiError(404, _("There is no unit with id %(id)s.") % {"id": _clean(unit_param, 30)})
    if not access.can_read_unit(user, unit):
        raise ApiError(403, _("This unit is outside your scope."))
    return unit


# --- Serialisation ------------------------------------------------------------------------------


def _number(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return value


def serialise_estimate(estimate: scoring.Estimate) -> dict:
    return {
        "value": _number(estimate.value),
        "low": _number(estimate.low),
        "high": _number(estimate.high),
        "n": estimate.n,
    }


def serialise_difference(difference: scoring.Difference | None) -> dict | None:
    if difference is None:
        return None
    return {
        "value": _number(difference.value),
        "low": _number(difference.low),
        "high": _number(difference.high),
        "significant": difference.significant,
    }


def serialise_funnel(funnel: scoring.Funnel | None, reasons: Mapping[int, str]) -> dict | None:
    if funnel is None:
        return None
    return {
        "experienced": funnel.experienced,
        "reported": funnel.reported,
        "not_reported": funnel.not_reported,
        "reported_share": serialise_estimate(funnel.reported_share),
        "reasons_not_reported": [
            {
                "value": reason.value,
                "label": reasons.get(reason.value, str(reason.value)),
                "count": reason.count,
                "share": serialise_estimate(reason.share),
            }
            for reason in funnel.reasons
        ],
    }


def serialise_measures(measures: aggregation.Measures, reasons: Mapping[int, str]) -> dict:
    """Every measure of one published group (docs/api.md, "Measures")."""
    return {
        "dimensions": {
            code: {
                "name": figures.name,
                "score": serialise_estimate(figures.score),
                "favourable": serialise_estimate(figures.favourable),
            }
            for code, figures in measures.dimensions.items()
        },
        "experienced": {t: serialise_estimate(e) for t, e in measures.experienced.items()},
        "witnessed": {t: serialise_estimate(e) for t, e in measures.witnessed.items()},
        "reporting_funnel": serialise_funnel(measures.funnel, reasons),
        "safe_place": serialise_estimate(measures.safe_place),
        "climate_index": serialise_estimate(measures.climate_index),
    }


def serialise_group(group: aggregation.Group, reasons: Mapping[int, str]) -> dict:
    """One group: its label and attributes, then n and measures, both null when suppressed.
    Call only after `require_guarded` has accepted the group's figure."""
    figure = group.figure
    return {
        "label": group.label,
        **group.attrs,
        "n": None if figure.suppressed else figure.n,
        "suppressed": figure.suppressed,
        "measures": (None if figure.suppressed else serialise_measures(figure.measures, reasons)),
    }


def serialise_summary(summary: aggregation.Summary, reasons: Mapping[int, str]) -> dict:
    """The summary payload. Refuses (anonymity.Unguarded) any figure that did not pass the
    guard, before a single number is serialised."""
    require_guarded([summary.total.figure, *(group.figure for group in summary.groups)])
    total = serialise_group(summary.total, reasons)
    headline = None
    if summary.headline_gap is not None:
        code, gap = summary.headline_gap
        headline = {"dimension": code, **serialise_difference(gap)}
    return {
        "wave": summary.wave.pk,
        "unit": summary.unit.pk,
        "label": summary.unit.name,
        "by": list(summary.by),
        "k": summary.k,
        "published_at": summary.published_at,
        "version": summary.version,
        "results_after_close": summary.results_hidden,
        "n": total["n"],
        "suppressed": total["suppressed"],
        "measures": total["measures"],
        "groups": [serialise_group(group, reasons) for group in summary.groups],
        "power_gaps": {code: serialise_difference(gap) for code, gap in summary.power_gaps.items()},
        "headline_gap": headline,
    }


# --- Endpoints ----------------------------------------------------------------------------------


@api_view
def wave_list(request: HttpRequest) -> dict:
    """GET /api/v1/waves/: the waves the user may see, newest first."""
    _params(request, ())
    waves = (
        access.readable_waves(request.user)
        .select_related("instrument", "publication")
        .defer(*aggregation.WITHOUT_PATTERN)
        .order_by("-opens_at", "pk")
    )
    return {"waves": [_wave(wave) for wave in waves]}


def _wave(wave: Wave) -> dict:
    publication = selectors.publication_of(wave)
    return {
        "id": wave.pk,
        "name": wave.name,
        "instrument": {
            "id": wave.instrument_id,
            "slug": wave.instrument.slug,
            "name": wave.instrument.name,
        },
        "state": wave.state,
        "opens_at": wave.opens_at,
        "closes_at": wave.closes_at,
        "k": wave.k,
        "published_at": publication.published_at if publication else None,
        "version": publication.version if publication else 0,
    }


@api_view
def unit_list(request: HttpRequest) -> dict:
    """GET /api/v1/units/: the units in the user's scope, in tree order. A top unit of the
    scope has parent null, so every id in the list is one the caller may request."""
    _params(request, ())
    units = list(
        access.readable_units(request.user)
        .order_by("path")
        .values("pk", "external_id", "name", "parent_id", "depth")
    )
    ids = {unit["pk"] for unit in units}
    return {
        "units": [
            {
                "id": unit["pk"],
                "external_id": unit["external_id"],
                "name": unit["name"],
                "parent": unit["parent_id"] if unit["parent_id"] in ids else None,
                "depth": unit["depth"],
            }
            for unit in units
        ]
    }


@api_view
def wave_summary(request: HttpRequest, wave_id: str) -> dict:
    """GET /api/v1/waves/{id}/summary?unit=&by=: guarded figures for a unit, overall and per
    group of the breakdown; HR also gets Cronbach's alpha per dimension."""
    params = _params(request, ("unit", "by"))
    wave = _get_wave_for_user(request.user, wave_id)
    unit = _get_unit_for_user(request.user, params.get("unit"))
    reader = aggregation.SummaryReader(wave)
    try:
        summary = reader.summarize(wave=wave, unit=unit, by=params.get("by", "").split(","))
    except aggregation.BadBreakdown as error:
        raise ApiError(400, str(error)) from error
    data = serialise_summary(summary, aggregation.reason_labels(reader.questions))
    if access.is_hr(request.user):
        data["reliability"] = dict(reader.publication.reliability)
    return data


@api_view
def wave_trend(request: HttpRequest, wave_id: str) -> dict:
    """GET /api/v1/waves/{id}/trend?unit=: the unit's guarded totals in up to 10 waves of the
    same instrument (those the user may see), oldest first, ending with this wave, each with
    its change per dimension since the point before."""
    params = _params(request, ("unit",))
    wave = _get_wave_for_user(request.user, wave_id)
    unit = _get_unit_for_user(request.user, params.get("unit"))
    visible = set(access.readable_waves(request.user).values_list("pk", flat=True))
    waves = [w for w in aggregation.history(wave) if w.pk in visible]
    reader = aggregation.SummaryReader(wave)
    totals = reader.totals(waves=waves, unit=unit)
    points = [aggregation.TrendPoint(wave=w, total=totals[w.pk]) for w in waves]
    require_guarded(point.total.figure for point in points)
    reasons = aggregation.reason_labels(reader.questions)
    out, previous = [], None
    for point in points:
        changes = aggregation.changes(current=point.total, previous=previous)
        out.append(
            {
                "wave": point.wave.pk,
                "name": point.wave.name,
                "opens_at": point.wave.opens_at,
                "closes_at": point.wave.closes_at,
                **_without_label(serialise_group(point.total, reasons)),
                "changes": {code: serialise_difference(d) for code, d in changes.items()},
            }
        )
        previous = point.total
    return {"wave": wave.pk, "unit": unit.pk, "label": unit.name, "k": wave.k, "points": out}


def _without_label(data: dict) -> dict:
    return {key: value for key, value in data.items() if key not in ("label", "unit")}


@api_view
def not_found(request: HttpRequest, *args: Iterable, **kwargs) -> dict:
    """Any other path under /api/v1/."""
    raise ApiError(404, _("Unknown API endpoint; see docs/api.md."))
