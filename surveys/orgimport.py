"""Reading the organisation CSV (id, name, parent id): all or nothing."""

import csv
import io
from dataclasses import dataclass

from django.db import transaction

from surveys.models import Unit

REQUIRED_COLUMNS = ("id", "name", "parent_id")
MAX_NAME = 200


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int


class OrgImportError(Exception):
    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__("\n".join(str(error) for error in errors))


def _normalise_header(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def parse_org_csv(text: str) -> list[tuple[int, str, str, str]]:
    """Validate the whole file; return rows (line, id, name, parent id) or raise OrgImportError
    listing every bad line with its number and reason."""
    errors: list[RowError] = []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise OrgImportError(
            [RowError(1, "the file is empty; expected a header id,name,parent_id")]
        ) from None
    except csv.Error as error:
        raise OrgImportError([RowError(1, f"unreadable CSV: {error}")]) from None
    columns = [_normalise_header(column) for column in header]
    aliases = {"parent": "parent_id", "parentid": "parent_id", "unit_id": "id"}
    columns = [aliases.get(column, column) for column in columns]
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise OrgImportError(
            [RowError(1, f"missing column(s) {', '.join(missing)}; expected id,name,parent_id")]
        )
    index = {column: columns.index(column) for column in REQUIRED_COLUMNS}
    rows: list[tuple[int, str, str, str]] = []
    seen: dict[str, int] = {}
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if any("\x00" in cell for cell in record):
                # No database can store it (PostgreSQL refuses NUL in text): a binary file?
                errors.append(RowError(line, "contains a NUL character; save the file as CSV text"))
                continue
            if len(record) < len(columns):
                errors.append(
                    RowError(line, f"expected {len(columns)} columns, found {len(record)}")
                )
                continue
            unit_id = record[index["id"]].strip()
            name = record[index["name"]].strip()
            parent_id = record[index["parent_id"]].strip()
            if not unit_id:
                errors.append(RowError(line, "the id is empty"))
            elif len(unit_id) > 64:
                errors.append(RowError(line, "the id is longer than 64 characters"))
            elif unit_id in seen:
                errors.append(
                    RowError(line, f"id {unit_id!r} is already used on line {seen[unit_id]}")
                )
            if not name:
                errors.append(RowError(line, "the name is empty"))
            elif len(name) > MAX_NAME:
                errors.append(RowError(line, f"the name is longer than {MAX_NAME} characters"))
            if parent_id and parent_id == unit_id:
                errors.append(RowError(line, "a unit cannot be its own parent"))
            if unit_id and unit_id not in seen:
                seen[unit_id] = line
            rows.append((line, unit_id, name, parent_id))
    except csv.Error as error:
        errors.append(RowError(reader.line_num, f"unreadable CSV: {error}"))
    if not rows and not errors:
        errors.append(RowError(2, "the file has a header but no units"))

    existing = dict(Unit.objects.values_list("external_id", "parent__external_id"))
    file_parents = {unit_id: parent_id for _, unit_id, _, parent_id in rows}
    for line, _unit_id, _, parent_id in rows:
        if parent_id and parent_id not in file_parents and parent_id not in existing:
            errors.append(
                RowError(line, f"parent id {parent_id!r} is not in the file or the database")
            )
    # Cycles, after the file is applied on top of what exists.
    parents = {**existing, **file_parents}
    cycles = False
    for line, unit_id, _, _ in rows:
        walked, current = set(), unit_id
        while current:
            if current in walked:
                errors.append(
                    RowError(line, f"unit {unit_id!r} would be its own ancestor (a cycle)")
                )
                cycles = True
                break
            walked.add(current)
            current = parents.get(current) or ""
    if not cycles:
        errors += _too_deep(rows, parents)
    if errors:
        raise OrgImportError(sorted(errors, key=lambda error: error.line))
    return rows


def _too_deep(rows: list[tuple[int, str, str, str]], parents: dict) -> list[RowError]:
    """Units that would sit deeper than a materialised path can record (its column length),
    units already in the database and moved down by the file included: each is reported on
    the line of the unit itself or of its nearest ancestor in the file."""
    path_length = Unit._meta.get_field("path").max_length
    max_levels = (path_length - 1) // (Unit.PATH_STEP + 1)
    lines = {unit_id: line for line, unit_id, _, _ in rows}
    levels: dict[str, int] = {}
    for start in parents:
        chain, current = [], start
        while current and current not in levels:
            chain.append(current)
            current = parents.get(current) or ""
        level = levels.get(current, 0)
        for unit_id in reversed(chain):
            level += 1
            levels[unit_id] = level
    errors: dict[int, RowError] = {}
    for unit_id, level in levels.items():
        if level <= max_levels:
            continue
        current = unit_id
        while current and current not in lines:
            current = parents.get(current) or ""
        if current and lines[current] not in errors:
            errors[lines[current]] = RowError(
                lines[current],
                f"unit {unit_id!r} would be {level} levels deep; "
                f"at most {max_levels} levels are supported",
            )
    return list(errors.values())


@transaction.atomic
def import_org(*, text: str) -> ImportResult:
    """Create or update units from the CSV text. Either every line applies or nothing does:
    on any bad line OrgImportError lists them all and the database is unchanged."""
    rows = parse_org_csv(text)
    by_external = {unit.external_id: unit for unit in Unit.objects.select_for_update()}
    created = updated = unchanged = 0
    pending = {unit_id: (name, parent_id) for _, unit_id, name, parent_id in rows}
    # Apply parents before children so every path is built from a saved parent.
    done: set[str] = set()

    def apply(unit_id: str) -> None:
        nonlocal created, updated, unchanged
        if unit_id in done:
            return
        name, parent_id = pending[unit_id]
        if parent_id in pending:
            apply(parent_id)
        parent = by_external[parent_id] if parent_id else None
        unit = by_external.get(unit_id)
        if unit is None:
            unit = Unit(external_id=unit_id, name=name, parent=parent)
            unit.save()
            by_external[unit_id] = unit
            created += 1
        elif unit.name != name or unit.parent_id != (parent.pk if parent else None):
            unit.name, unit.parent = name, parent
            unit.save()
            updated += 1
        else:
            unchanged += 1
        done.add(unit_id)

    for unit_id in pending:
        apply(unit_id)
    return ImportResult(created=created, updated=updated, unchanged=unchanged)
