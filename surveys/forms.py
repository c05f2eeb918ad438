"""The respondent's forms: the survey built from the wave's questions, and "about your role".

Forms validate and normalise; they never write. Storing is `services.submit_response`, which
checks the answers again with the same `services.clean_answers`, so the rules live in one place.
The templates render every input by hand (fieldset, legend, aria-describedby), so the form also
offers `sections()`: what the template needs, already worked out per question.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from django import forms
from django.utils.text import Truncator
from django.utils.translation import get_language, gettext, ngettext
from django.utils.translation import gettext_lazy as _

from surveys import services
from surveys.models import Question, RoleLevel, Section, TenureBand, Unit

AGREE5_LABELS = [
    (1, _("Strongly disagree")),
    (2, _("Disagree")),
    (3, _("Neither agree nor disagree")),
    (4, _("Agree")),
    (5, _("Strongly agree")),
]
FREQ5_LABELS = [
    (1, _("Never")),
    (2, _("Once or twice")),
    (3, _("Sometimes")),
    (4, _("Often")),
    (5, _("Very often")),
]
YESNO_LABELS = [(1, _("Yes")), (2, _("No")), (9, _("Prefer not to say"))]
SCALE11_LABELS = [(n, str(n)) for n in range(11)]


def translated(obj, attribute: str, language: str | None = None) -> str:
    """A stored text in the active language when the instrument carries a translation
    (`translations = {"fr": {"text": "..."}}`), else the text as written."""
    language = (language or get_language() or "").split("-")[0]
    value = (getattr(obj, "translations", None) or {}).get(language, {}).get(attribute)
    return value or getattr(obj, attribute)


def question_choices(question: Question, language: str | None = None) -> list[tuple[int, str]]:
    """The (value, label) pairs a question offers, in display order. Shared by the form and by
    anything else that has to name an answer (e.g. a conditional question's note)."""
    fixed = {
        Question.Kind.AGREE5: AGREE5_LABELS,
        Question.Kind.FREQ5: FREQ5_LABELS,
        Question.Kind.YESNO: YESNO_LABELS,
        Question.Kind.SCALE11: SCALE11_LABELS,
    }.get(question.kind)
    if fixed is not None:
        return [(value, str(label)) for value, label in fixed]
    language = (language or get_language() or "").split("-")[0]
    labels = (question.translations or {}).get(language, {}).get("choices", {})
    return [
        (int(choice["value"]), labels.get(str(choice["value"])) or choice["label"])
        for choice in question.choices
    ]


# --- What the template renders ----------------------------------------------------------------


@dataclass
class ChoiceView:
    value: int
    label: str
    checked: bool
    input_id: str


@dataclass
class QuestionView:
    code: str
    kind: str
    text: str
    help_text: str
    choices: list[ChoiceView]
    text_value: str
    errors: list[str]
    show_if: str  # JSON for data-show-if, "" when always shown
    conditions: list[str]  # "answer only if ..." lines for the long page without JavaScript
    first_input_id: str
    max_length: int = services.MAX_COMMENT_CHARS

    @property
    def described_by(self) -> str:
        ids = []
        if self.help_text:
            ids.append(f"{self.code}-help")
        if self.conditions:
            ids.append(f"{self.code}-condition")
        if self.errors:
            ids.append(f"{self.code}-error")
        return " ".join(ids)


@dataclass
class SectionView:
    number: int
    title: str
    intro: str
    questions: list[QuestionView] = field(default_factory=list)


# --- The survey -------------------------------------------------------------------------------


def answers_from_data(questions: Sequence[Question], data) -> dict[str, object] | None:
    """The answers of a posted survey exactly as `SurveyForm.answers` gives them, without
    building the form's fields (the fast path of a submission); None when the form would
    find anything wrong (a value not offered, a NUL in a text), so that the caller builds
    the form and shows the page again with its messages."""
    result: dict[str, object] = {}
    for question in questions:
        code = question.code
        if question.kind == Question.Kind.TEXT:
            value = data.get(code)
            if value is None:
                continue
            if "\x00" in value:
                return None
            if value.strip():
                result[code] = value.strip()
            continue
        offered = _offered(question)
        if question.kind == Question.Kind.MULTI:
            values = data.getlist(code)
            if not all(v in offered for v in values):
                return None
            if values:
                result[code] = [int(v) for v in values]
            continue
        value = data.get(code)
        if value in (None, ""):
            continue
        if value not in offered:
            return None
        result[code] = int(value)
    return result


_FIXED_VALUES = {
    kind: frozenset(str(value) for value, _label in labels)
    for kind, labels in (
        (Question.Kind.AGREE5, AGREE5_LABELS),
        (Question.Kind.FREQ5, FREQ5_LABELS),
        (Question.Kind.YESNO, YESNO_LABELS),
        (Question.Kind.SCALE11, SCALE11_LABELS),
    )
}


def _offered(question: Question) -> frozenset[str]:
    """The values a question offers, as the form's choices compare them (text)."""
    fixed = _FIXED_VALUES.get(question.kind)
    if fixed is not None:
        return fixed
    return frozenset(str(choice["value"]) for choice in question.choices)


class SurveyForm(forms.Form):
    """One field per question, named by its code; every question may be skipped.

    `answers()` gives the normalised answers ({code: int | [int] | str}) for
    `services.submit_response`; `clean()` runs `services.clean_answers`, which also drops the
    answers to questions whose condition is not met."""

    error_css_class = "is-invalid"

    def __init__(self, *args, questions: Sequence[Question], **kwargs):
        super().__init__(*args, **kwargs)
        self.questions = list(questions)
        for question in self.questions:
            self.fields[question.code] = self._field_for(question)

    def _field_for(self, question: Question) -> forms.Field:
        errors = {"invalid_choice": _("Please choose one of the answers offered.")}
        if question.kind == Question.Kind.TEXT:
            # No max_length here: clean_answers words the message and counts the characters.
            return forms.CharField(required=False, strip=True, widget=forms.Textarea)
        choices = question_choices(question)
        if question.kind == Question.Kind.MULTI:
            return forms.TypedMultipleChoiceField(
                required=False,
                coerce=int,
                choices=choices,
                widget=forms.CheckboxSelectMultiple,
                error_messages={**errors, "invalid_list": _("Please choose from the list.")},
            )
        return forms.TypedChoiceField(
            required=False,
            coerce=int,
            empty_value=None,
            choices=choices,
            widget=forms.RadioSelect,
            error_messages=errors,
        )

    def clean(self):
        cleaned = super().clean()
        try:
            services.clean_answers(questions=self.questions, raw=self.answers())
        except services.InvalidAnswers as error:
            for code, message in error.errors.items():
                self.add_error(code if code in self.fields else None, message)
        return cleaned

    def answers(self) -> dict[str, object]:
        """The answers given, normalised; unanswered questions are left out."""
        result: dict[str, object] = {}
        for question in self.questions:
            value = self.cleaned_data.get(question.code)
            if value is None or value in ("", []):
                continue
            result[question.code] = list(value) if isinstance(value, list) else value
        return result

    def sections(self) -> list[SectionView]:
        by_code = {question.code: question for question in self.questions}
        sections: dict[int, SectionView] = {}
        section_rows = {
            section.pk: section
            for section in Section.objects.filter(
                pk__in={question.section_id for question in self.questions}
            )
        }
        for question in self.questions:
            if question.section_id not in sections:
                section = section_rows[question.section_id]
                sections[question.section_id] = SectionView(
                    number=len(sections) + 1,
                    title=translated(section, "title"),
                    intro=translated(section, "intro"),
                )
            sections[question.section_id].questions.append(self._view(question, by_code))
        return list(sections.values())

    def _selected(self, code: str) -> set[str]:
        if not self.is_bound:
            return set()
        getlist = getattr(self.data, "getlist", None)
        values = getlist(code) if getlist else self.data.get(code, [])
        values = values if isinstance(values, list | tuple) else [values]
        return {str(value) for value in values}

    def _view(self, question: Question, by_code: dict[str, Question]) -> QuestionView:
        code = question.code
        selected = self._selected(code)
        choices = []
        if question.kind != Question.Kind.TEXT:
            choices = [
                ChoiceView(value, label, str(value) in selected, f"{code}-{value}")
                for value, label in question_choices(question)
            ]
        text_value = ""
        if question.kind == Question.Kind.TEXT and self.is_bound:
            text_value = str(self.data.get(code, ""))
        return QuestionView(
            code=code,
            kind=question.kind,
            text=translated(question, "text"),
            help_text=translated(question, "help_text"),
            choices=choices,
            text_value=text_value,
            errors=list(self.errors.get(code, [])) if self.is_bound else [],
            show_if=json.dumps(question.show_if) if question.show_if else "",
            conditions=condition_notes(question, by_code),
            first_input_id=choices[0].input_id if choices else f"{code}-text",
        )

    def error_links(self) -> list[tuple[str, str, str]]:
        """(input id, question text, message) for the error summary, in question order."""
        links = []
        for question in self.questions:
            for message in self.errors.get(question.code, []):
                target = (
                    f"{question.code}-text"
                    if question.kind == Question.Kind.TEXT
                    else f"{question.code}-{question_choices(question)[0][0]}"
                )
                text = Truncator(translated(question, "text")).chars(90)
                links.append((target, text, message))
        return links


def condition_notes(question: Question, by_code: dict[str, Question]) -> list[str]:
    """For the page without JavaScript, where every question is shown: when to answer a
    conditional question, in words ("Answer only if you answered ... to ...")."""
    if not question.show_if:
        return []
    grouped: dict[tuple[int, ...], list[str]] = {}
    for condition in question.show_if:
        source = by_code.get(condition["question"])
        if source is None:
            continue
        grouped.setdefault(tuple(condition["values"]), []).append(source.code)
    notes = []
    for values, codes in grouped.items():
        source = by_code[codes[0]]
        labels = dict(question_choices(source))
        answer = " / ".join(f"“{labels.get(value, value)}”" for value in values)
        texts = [Truncator(translated(by_code[code], "text")).chars(80) for code in codes]
        notes.append(
            ngettext(
                "Answer only if you answered %(answer)s to: %(questions)s",
                "Answer only if you answered %(answer)s to at least one of: %(questions)s",
                len(texts),
            )
            % {"answer": answer, "questions": "; ".join(f"“{text}”" for text in texts)}
        )
    return notes


# --- About your role (open link only) ---------------------------------------------------------


class UnitChoiceField(forms.ModelChoiceField):
    def __init__(self, *args, names: dict[int, str], **kwargs):
        self.names = names
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj: Unit) -> str:
        return self.names.get(obj.pk, obj.name)


class AboutYouForm(forms.Form):
    """The group attributes a respondent on an open link gives: unit and role level (needed to
    count the response at all) and tenure band (optional). The page also carries a one-time
    nonce (`about-nonce`, handled by the view) so a retried or double-clicked submission of the
    same form stores one response."""

    prefix = "about"

    unit = forms.ModelChoiceField(queryset=Unit.objects.none())
    role_level = forms.ModelChoiceField(
        queryset=RoleLevel.objects.order_by("rank"),
        widget=forms.RadioSelect,
        error_messages={"required": _("Please choose your role level.")},
    )
    tenure_band = forms.ModelChoiceField(
        queryset=TenureBand.objects.order_by("rank"), required=False, widget=forms.RadioSelect
    )

    def __init__(self, *args, units: Sequence[Unit], **kwargs):
        super().__init__(*args, **kwargs)
        self.units = list(units)
        by_id = {unit.pk: unit for unit in self.units}
        names = {
            unit.pk: " › ".join(by_id[i].name for i in unit.ancestor_ids if i in by_id)
            for unit in self.units
        }
        self.fields["unit"] = UnitChoiceField(
            queryset=Unit.objects.filter(pk__in=by_id).order_by("path"),
            names=names,
            empty_label=gettext("Choose your unit"),
            error_messages={
                "required": _("Please choose your unit."),
                "invalid_choice": _("Please choose one of the units offered."),
            },
        )
        self.unit_names = names

    def error_links(self) -> list[tuple[str, str, str]]:
        first_level = RoleLevel.objects.order_by("rank").values_list("pk", flat=True).first()
        labels = {
            "unit": (f"{self.prefix}-unit", _("Your unit")),
            "role_level": (f"{self.prefix}-role_level-{first_level}", _("Your role level")),
            "tenure_band": (f"{self.prefix}-tenure_band-none", _("How long you have worked here")),
        }
        links = []
        for name, messages in self.errors.items():
            target, label = labels.get(name, (f"{self.prefix}-unit", _("About your role")))
            links.extend((target, str(label), message) for message in messages)
        return links

    def options(self) -> dict[str, list[tuple[str, str, bool]]]:
        """(value, label, chosen) per field, for the hand-written markup."""
        chosen = {
            name: str(self[name].value() or "") if self.is_bound else ""
            for name in ("unit", "role_level", "tenure_band")
        }
        return {
            "unit": [
                (str(unit.pk), self.unit_names[unit.pk], chosen["unit"] == str(unit.pk))
                for unit in self.units
            ],
            "role_level": [
                (str(level.pk), level.name, chosen["role_level"] == str(level.pk))
                for level in RoleLevel.objects.order_by("rank")
            ],
            "tenure_band": [
                (str(band.pk), band.name, chosen["tenure_band"] == str(band.pk))
                for band in TenureBand.objects.order_by("rank")
            ],
        }
