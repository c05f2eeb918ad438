"""The audit log: every dashboard view, export and API call, who, what, when."""

from django.http import HttpRequest

from reports.models import AuditEvent


def record(request: HttpRequest, *, action: str, **detail) -> AuditEvent:
    """Append one event for the request's user. Query parameters are kept (they say which
    wave, unit and breakdown was read); nothing about survey respondents ever is."""
    user = request.user if request.user.is_authenticated else None
    params = {
        _clean(key)[:100]: [_clean(v)[:500] for v in request.GET.getlist(key)[:20]]
        for key in list(request.GET)[:50]
    }
    return AuditEvent.objects.create(
        user=user,
        username=user.get_username() if user else "",
        action=action,
        path=_clean(request.path)[:500],
        detail={"params": params, **detail},
    )


def _clean(text: str) -> str:
    """PostgreSQL text cannot hold NUL characters; hostile parameters must still be logged."""
    return text.replace("\x00", "\ufffd")
