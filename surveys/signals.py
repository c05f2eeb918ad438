"""Signals the surveys app sends; the reports app listens (surveys never imports reports)."""

from django.dispatch import Signal

# Sent after a response is committed, with `wave`. Nothing about the response is sent.
response_submitted = Signal()
