"""API token management for HR: list, create (the secret is shown once), revoke.

A token reads exactly what its user may read (reports.access), so a leader's token sees only
the leader's units. Only the token's hash is stored (ApiToken.issue).
"""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from reports import access
from reports.audit import record
from reports.models import ApiToken, AuditEvent


class TokenForm(forms.Form):
    user = forms.ModelChoiceField(
        label=gettext_lazy("User"),
        queryset=get_user_model().objects.none(),
        help_text=gettext_lazy("The token reads exactly what this user may read."),
    )
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=100,
        help_text=gettext_lazy("What the token is for, for example “Power BI refresh”."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = (
            get_user_model().objects.filter(is_active=True).order_by("username")
        )
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", gettext_lazy("Create token")))

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError(_("Give the token a name."))
        return name


def revoke_token(*, token: ApiToken) -> bool:
    """Revoke a token from now on; returns False when it was already revoked."""
    return bool(
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


@login_required
@require_http_methods(["GET", "HEAD"])
def token_list(request):
    access.require_hr(request.user)
    tokens = ApiToken.objects.select_related("user")
    return render(request, "reports/tokens.html", {"tokens": tokens})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def token_create(request):
    access.require_hr(request.user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token, raw = ApiToken.issue(user=form.cleaned_data["user"], name=form.cleaned_data["name"])
        record(
            request,
            action=AuditEvent.Action.ADMIN,
            event="api_token_created",
            token=token.pk,
            for_user=token.user.get_username(),
        )
        # The secret exists only in this response: never stored, never cached, never shown again.
        response = render(request, "reports/tokens_created.html", {"token": token, "raw": raw})
        response["Cache-Control"] = "no-store"
        return response
    return render(request, "reports/tokens_form.html", {"form": form})


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def token_revoke(request, token_id: int):
    access.require_hr(request.user)
    token = get_object_or_404(ApiToken.objects.select_related("user"), pk=token_id)
    if request.method == "POST":
        if revoke_token(token=token):
            record(
                request,
                action=AuditEvent.Action.ADMIN,
                event="api_token_revoked",
                token=token.pk,
                for_user=token.user.get_username(),
            )
            messages.success(request, _("The token “%(name)s” is revoked.") % {"name": token.name})
        else:
            messages.info(request, _("This token was already revoked."))
        return redirect("reports:tokens")
    return render(request, "reports/tokens_revoke.html", {"token": token})
