"""python manage.py load_instrument [FILE]: load or refresh an instrument from its JSON file.

Without FILE it loads the shipped "Power Climate" instrument. The whole file is checked first
and every problem is listed with where it is (`sections[2].questions[3].kind: ...`); nothing is
changed unless the file is valid. Loading the same file twice changes nothing.
"""

import json
import re
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from surveys import services
from surveys.models import Question

CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,80}$")
CHOICE_KINDS = {Question.Kind.SINGLE, Question.Kind.MULTI}
SCALED_KINDS = {Question.Kind.AGREE5, Question.Kind.FREQ5}


def instrument_errors(data) -> list[str]:
    """Every problem in an instrument's data-file form, as "where: what" lines; [] if valid."""
    if not isinstance(data, dict):
        return ["the file must hold one JSON object with slug, name and sections"]
    errors: list[str] = []
    if not isinstance(data.get("slug"), str) or not SLUG.match(data["slug"]):
        errors.append("slug: required, letters, digits, - and _ only (at most 80)")
    if not isinstance(data.get("name"), str) or not data["name"].strip():
        errors.append("name: required text")
    dimension_codes: set[str] = set()
    dimensions = data.get("dimensions", [])
    if not isinstance(dimensions, list):
        errors.append("dimensions: must be a list")
        dimensions = []
    for index, dimension in enumerate(dimensions):
        where = f"dimensions[{index}]"
        if not isinstance(dimension, dict):
            errors.append(f"{where}: must be an object with code and name")
            continue
        code = dimension.get("code")
        if not isinstance(code, str) or not SLUG.match(code):
            errors.append(f"{where}.code: required, letters, digits, - and _ only")
        elif code in dimension_codes:
            errors.append(f"{where}.code: {code!r} is used twice")
        else:
            dimension_codes.add(code)
        if not isinstance(dimension.get("name"), str) or not dimension["name"].strip():
            errors.append(f"{where}.name: required text")
    sections = data.get("sections")
    if not isinstance(sections, list) or not sections:
        errors.append("sections: required, a non-empty list")
        sections = []
    seen: dict[str, Question.Kind] = {}
    kinds = set(Question.Kind.values)
    purposes = set(Question.Purpose.values)
    for s_index, section in enumerate(sections):
        where_section = f"sections[{s_index}]"
        if not isinstance(section, dict):
            errors.append(f"{where_section}: must be an object with title and questions")
            continue
        if not isinstance(section.get("title"), str) or not section["title"].strip():
            errors.append(f"{where_section}.title: required text")
        questions = section.get("questions")
        if not isinstance(questions, list) or not questions:
            errors.append(f"{where_section}.questions: required, a non-empty list")
            continue
        for q_index, item in enumerate(questions):
            where = f"{where_section}.questions[{q_index}]"
            if not isinstance(item, dict):
                errors.append(f"{where}: must be an object")
                continue
            errors.extend(_question_errors(item, where, seen, kinds, purposes, dimension_codes))
            code = item.get("code")
            if isinstance(code, str) and CODE.match(code) and code not in seen:
                seen[code] = item.get("kind")
    return errors


def _question_errors(item, where, seen, kinds, purposes, dimension_codes) -> list[str]:
    errors = []
    code, kind = item.get("code"), item.get("kind")
    if not isinstance(code, str) or not CODE.match(code):
        errors.append(
            f"{where}.code: required, a letter then letters, digits or _ (at most 40), not {code!r}"
        )
    elif code in seen:
        errors.append(f"{where}.code: {code!r} is used twice")
    if kind not in kinds:
        errors.append(f"{where}.kind: {kind!r} is not one of {', '.join(sorted(kinds))}")
    if not isinstance(item.get("text"), str) or not item["text"].strip():
        errors.append(f"{where}.text: required text")
    purpose = item.get("purpose", Question.Purpose.OTHER)
    if purpose not in purposes:
        errors.append(f"{where}.purpose: {purpose!r} is not one of {', '.join(sorted(purposes))}")
    dimension = item.get("dimension")
    if dimension is not None and dimension not in dimension_codes:
        errors.append(f"{where}.dimension: {dimension!r} is not a dimension of this instrument")
    if purpose == Question.Purpose.SCALE and (kind not in SCALED_KINDS or dimension is None):
        errors.append(
            f"{where}: a dimension item (purpose scale) is agree5 or freq5, with a dimension"
        )
    choices = item.get("choices", [])
    if kind in CHOICE_KINDS:
        if not isinstance(choices, list) or not choices:
            errors.append(f"{where}.choices: a {kind} question needs choices")
        else:
            values = []
            for c_index, choice in enumerate(choices):
                if (
                    not isinstance(choice, dict)
                    or not isinstance(choice.get("value"), int)
                    or isinstance(choice.get("value"), bool)
                    or not -32768 <= choice["value"] <= 32767
                    or not isinstance(choice.get("label"), str)
                    or not choice["label"].strip()
                ):
                    errors.append(
                        f"{where}.choices[{c_index}]: needs an integer value and a label, "
                        'e.g. {"value": 1, "label": "Yes"}'
                    )
                else:
                    values.append(choice["value"])
            if len(values) != len(set(values)):
                errors.append(f"{where}.choices: a value is used twice")
    elif choices:
        errors.append(f"{where}.choices: only single and multi questions have choices")
    show_if = item.get("show_if", [])
    if not isinstance(show_if, list):
        errors.append(f"{where}.show_if: must be a list of conditions")
        show_if = []
    for c_index, condition in enumerate(show_if):
        where_condition = f"{where}.show_if[{c_index}]"
        if not isinstance(condition, dict):
            errors.append(f'{where_condition}: must be {{"question": "CODE", "values": [...]}}')
            continue
        source = condition.get("question")
        if source not in seen:
            errors.append(
                f"{where_condition}.question: {source!r} is not an earlier question "
                "(a condition can only refer to a question before it)"
            )
        elif seen[source] == Question.Kind.TEXT:
            errors.append(f"{where_condition}.question: {source!r} is a free-text question")
        values = condition.get("values")
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in values)
        ):
            errors.append(f"{where_condition}.values: a non-empty list of integers")
    return errors


class Command(BaseCommand):
    help = (
        "Load or refresh an instrument from a JSON file (default: the shipped Power Climate "
        "instrument). The whole file is checked first; nothing changes if it has errors."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "file", nargs="?", type=Path, default=services.DEFAULT_INSTRUMENT, help="JSON file"
        )

    def handle(self, *args, file: Path, **options):
        try:
            text = file.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise CommandError(f"{file}: no such file") from None
        except UnicodeDecodeError:
            raise CommandError(f"{file}: not UTF-8 text; save the file as UTF-8") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise CommandError(
                f"{file}: not valid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
            ) from None
        errors = instrument_errors(data)
        if errors:
            raise CommandError(f"{file} was rejected, nothing was changed:\n" + "\n".join(errors))
        try:
            instrument = services.load_instrument(data=data)
        except (ValueError, KeyError) as error:
            raise CommandError(f"{file} was rejected, nothing was changed: {error}") from None
        count = instrument.questions.count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded instrument {instrument.slug!r} ({instrument.name}): {count} questions."
            )
        )
