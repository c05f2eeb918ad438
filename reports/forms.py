"""Forms of the report pages. They validate and normalise; the views call reports.services to
write (STYLE 7)."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from reports.models import ActionPlan, AuditEvent

# Largest id any database column here can hold; anything larger names nothing.
MAX_ID = 2**63 - 1


class LoginForm(AuthenticationForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", _("Log in")))

    def clean_username(self):
        # AuthenticationForm does not enforce the length it advertises; an over-long name must
        # not reach authentication (the lock-out records it in a 255-character column).
        username = self.cleaned_data["username"]
        limit = self.fields["username"].max_length or 150
        if len(username) > limit:
            raise forms.ValidationError(
                _("A user name has at most %(limit)s characters."), params={"limit": limit}
            )
        return username


def _id_field(label: str) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=False,
        min_value=1,
        max_value=MAX_ID,
        error_messages={"invalid": _("Choose one from the list.")},
    )


class DashboardQueryForm(forms.Form):
    """?wave=&unit= of the dashboard, the printable report and the exports."""

    wave = _id_field(_("Survey wave"))
    unit = _id_field(_("Unit"))


class ExportQueryForm(DashboardQueryForm):
    """?wave=&unit=&by= of an export; `by` is checked by reports.exports.parse_views."""

    by = forms.CharField(label=_("Breakdown"), required=False, max_length=100, strip=True)
    units = forms.ChoiceField(
        label=_("Units"),
        required=False,
        choices=[("", _("this unit")), ("each", _("this unit and each unit under it"))],
    )


class ActionPlanForm(forms.Form):
    """An action a leader commits to for one dimension."""

    dimension_code = forms.ChoiceField(label=_("Dimension"))
    what = forms.CharField(
        label=_("What will be done"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    owner = forms.CharField(label=_("Owner"), max_length=200)
    due = forms.DateField(
        label=_("Due date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=ActionPlan.Status.choices, initial=ActionPlan.Status.PLANNED
    )

    def __init__(self, *args, dimensions: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dimension_code"].choices = dimensions

    def clean_what(self) -> str:
        what = self.cleaned_data["what"].strip()
        if not what:
            raise forms.ValidationError(_("Say what will be done."))
        return what

    def clean_owner(self) -> str:
        owner = " ".join(self.cleaned_data["owner"].split())
        if not owner:
            raise forms.ValidationError(_("Name who is responsible."))
        return owner


class AuditFilterForm(forms.Form):
    """Filters of the audit log page (a GET form: it reads, never writes)."""

    user = forms.CharField(label=_("User name"), required=False, max_length=150, strip=True)
    action = forms.ChoiceField(
        label=_("Action"),
        required=False,
        choices=[("", _("Any action")), *AuditEvent.Action.choices],
    )
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    path = forms.CharField(label=_("Path contains"), required=False, max_length=200, strip=True)

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise forms.ValidationError(_("The start date is after the end date."))
        return cleaned
