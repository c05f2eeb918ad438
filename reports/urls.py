from django.urls import include, path

from reports import views

app_name = "reports"

urlpatterns = [
    path("reports/", views.home, name="home"),
    path("reports/units/<int:unit_id>/", views.unit_detail, name="unit"),
    path("reports/dashboard/", views.dashboard, name="dashboard"),
    path("reports/actions/new/", views.action_create, name="action_create"),
    path("reports/actions/<int:plan_id>/edit/", views.action_edit, name="action_edit"),
    path("reports/actions/<int:plan_id>/delete/", views.action_delete, name="action_delete"),
    path("reports/waves/", views.wave_list, name="waves"),
    path("reports/waves/<int:wave_id>/", views.wave_detail, name="wave_detail"),
    path("reports/waves/<int:wave_id>/open/", views.wave_open, name="wave_open"),
    path("reports/waves/<int:wave_id>/close/", views.wave_close, name="wave_close"),
    path("reports/audit/", views.audit_log, name="audit"),
    path("reports/export/", include("reports.export_urls")),
    path("reports/tokens/", include("reports.token_urls")),
    path("api/v1/", include("reports.api_urls")),
]
