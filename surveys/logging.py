"""Keep survey links out of the logs.

An invitation token or an open-link key is the secret part of a survey URL, and it sits in the
path (/s/i/<token>/). Django logs the path of every 4xx and 5xx response (`django.request`) and
the development server logs every request line (`django.server`). This filter rewrites those
records before any handler sees them, so a log never holds a token, and drops the request
object attached to them, which carries the client's address.
"""

import logging
import re

# A path under /s/, alone, inside a request line or inside a full URL. The route kind (i/, w/,
# preview/) is kept for debugging; everything after it, query string included, is not.
# Redacting a little too much (another app's ".../s/...") is harmless; too little is not.
SURVEY_PATH = re.compile(r"(/s/(?:i/|w/|preview/)?)[^\s\"'<>]*")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    return SURVEY_PATH.sub(lambda match: match.group(1) + REDACTED, text)


class RedactSurveyPaths(logging.Filter):
    """Redact survey paths from a log record in place. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is left for the handler to report
            return True
        redacted = redact(message)
        request = getattr(record, "request", None)
        path = getattr(request, "path", "") or ""
        if redacted != message or path.startswith("/s/"):
            record.msg, record.args = redacted, ()
            # The request object holds the full path and the client's address (META), which
            # error reporters such as AdminEmailHandler would print.
            if hasattr(record, "request"):
                record.request = None
        return True
