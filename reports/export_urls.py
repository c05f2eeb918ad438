"""Exports of a dashboard view, under reports/export/ (names in the "reports:" namespace)."""

from django.urls import path

from reports import views

urlpatterns = [
    path("csv/", views.export_csv, name="export_csv"),
    path("xlsx/", views.export_xlsx, name="export_xlsx"),
    path("report/", views.report, name="report"),
]
