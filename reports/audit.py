"""The audit log: every dashboard view, export and API call, who, what, when."""

from django.http import HttpRequest

from reports.models import AuditEvent


def record(request: HttpRequest, *, action: str, **detail) -> AuditEvent:
    """Append one event for the request's user. Query parameters are kept (they say which
    wave, unit and breakdown was read); nothing about survey respondents ever is."""
    user = request.user if request.user.is_authenticated else None
    params = {key: request.GET.getlist(key) for key in request.GET}
    return AuditEvent.objects.create(
        user=user,
        username=user.get_username() if user else "",
        action=action,
        path=request.path[:500],
        detail={"params": params, **detail},
    )
