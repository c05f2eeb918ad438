"""API token management for HR, under reports/tokens/ (see reports/tokens.py)."""

from django.urls import path

from reports import tokens

urlpatterns = [
    path("", tokens.token_list, name="tokens"),
    path("new/", tokens.token_create, name="token_create"),
    path("<int:token_id>/revoke/", tokens.token_revoke, name="token_revoke"),
]
