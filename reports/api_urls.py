"""The read API under /api/v1/ (see reports/api.py and docs/api.md). The trailing slash is
optional everywhere; any other path answers a JSON 404."""

from django.urls import path, re_path

from reports import api

urlpatterns = [
    path("waves/", api.wave_list, name="api_waves"),
    path("units/", api.unit_list, name="api_units"),
    path("waves/<str:wave_id>/summary", api.wave_summary, name="api_summary"),
    path("waves/<str:wave_id>/trend", api.wave_trend, name="api_trend"),
    # The same endpoints with or without the trailing slash.
    path("waves", api.wave_list),
    path("units", api.unit_list),
    path("waves/<str:wave_id>/summary/", api.wave_summary),
    path("waves/<str:wave_id>/trend/", api.wave_trend),
    # [\s\S], not ".": a path holding an encoded newline (%0A) is "any other path" too.
    re_path(r"^[\s\S]*$", api.not_found, name="api_not_found"),
]
