"""The read API under /api/v1/ (see reports/api.py)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
