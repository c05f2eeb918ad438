from django.urls import include, path

from reports import views

app_name = "reports"

urlpatterns = [
    path("reports/", views.home, name="home"),
    path("reports/units/<int:unit_id>/", views.unit_detail, name="unit"),
    path("reports/export/", include("reports.export_urls")),
    path("reports/tokens/", include("reports.token_urls")),
    path("api/v1/", include("reports.api_urls")),
]
