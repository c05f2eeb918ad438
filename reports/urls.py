from django.urls import include, path

from reports import views

app_name = "reports"

urlpatterns = [
    path("reports/", views.home, name="home"),
    path("reports/units/<int:unit_id>/", views.unit_detail, name="unit"),
    path("api/v1/", include("reports.api_urls")),
]
