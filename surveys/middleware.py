"""When the database is unreachable, answer with a clear "please try again" page (HTTP 503)
instead of an error trace. Every write is one transaction, so nothing is half-stored; the
respondent's draft stays in their browser, and the connection is re-opened on the next request
(CONN_HEALTH_CHECKS), so the app recovers by itself once the database is back."""

import logging

from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.http import HttpResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        if isinstance(exception, DatabaseError) and "locked" in str(exception).lower():
            reason = "busy"
        else:
            reason = "unavailable"
        logger.warning("database %s: %s", reason, type(exception).__name__)
        for connection in connections.all(initialized_only=True):
            # Drop the broken connection so the next request opens a fresh one.
            connection.close_if_unusable_or_obsolete()
        # Rendered now and without the request's context processors: they read the session
        # and the user, which needs the database that just failed. A TemplateResponse would be
        # rendered after this method, fail again for anyone with a session cookie (HR testing a
        # link), come back here, and leave Django an unrendered response: a 500 instead of 503.
        response = HttpResponse(render_to_string("503.html", {"reason": reason}), status=503)
        response["Retry-After"] = "30"
        response["Cache-Control"] = "no-store"
        return response
