"""The respondent's pages live under /s/; the secret part of a link is in the path, which
surveys.logging redacts from every log line."""

from django.urls import path, re_path

from surveys import views

app_name = "surveys"

urlpatterns = [
    path("w/<str:key>/", views.open_link, name="open_link"),
    path("w/<str:key>/answer/", views.open_survey, name="open_survey"),
    path("w/<str:key>/thanks/", views.open_thanks, name="open_thanks"),
    path("i/<str:token>/", views.invitation, name="invitation"),
    path("i/<str:token>/answer/", views.invitation_survey, name="invitation_survey"),
    path("i/<str:token>/thanks/", views.invitation_thanks, name="invitation_thanks"),
    path("preview/<slug:slug>/", views.preview, name="preview"),
    # [\s\S], not ".": a path holding an encoded newline (%0A) gets the survey 404 page too.
    re_path(r"^(?P<rest>[\s\S]*)$", views.not_found, name="not_found"),
]
