"""python manage.py invite WAVE roster.csv [--out links.csv] [--expires-days N]

One single-use link per person on the roster, written to a CSV (email, link) for a mail merge.
The roster's columns are email, unit, role_level and tenure_band: the unit by its external id,
the role level and tenure band by code or name, tenure optional. The whole file is checked
first and every bad line is listed; nothing is created unless the file is valid.

E-mail addresses are only copied to the output file: they are never stored in the database,
and the links file is the only place a link exists (the database keeps a hash). Keep it safe
and delete it after the mail merge.
"""

import csv
import datetime as dt
import io
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from surveys import services
from surveys.models import RoleLevel, TenureBand, Unit, Wave

COLUMNS = ("email", "unit", "role_level", "tenure_band")
ALIASES = {
    "e_mail": "email",
    "mail": "email",
    "unit_id": "unit",
    "role": "role_level",
    "level": "role_level",
    "tenure": "tenure_band",
}


@dataclass(frozen=True)
class RosterError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class RosterInvalid(Exception):
    def __init__(self, errors: list[RosterError]):
        self.errors = errors
        super().__init__("\n".join(map(str, errors)))


def _header(name: str) -> str:
    name = name.strip().lower().replace(" ", "_").replace("-", "_")
    return ALIASES.get(name, name)


def _lookup(model, value: str):
    """A role level or tenure band by code or name, case-insensitively."""
    return (
        model.objects.filter(code__iexact=value).first()
        or model.objects.filter(name__iexact=value).first()
    )


def parse_roster(text: str, *, wave: Wave) -> list[tuple[str, services.RosterRow]]:
    """Validate the whole roster; return (email, roster row) pairs in file order, or raise
    RosterInvalid listing every bad line with its number and reason."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [_header(column) for column in next(reader)]
    except StopIteration:
        raise RosterInvalid([RosterError(1, "the file is empty; expected a header")]) from None
    except csv.Error as error:
        raise RosterInvalid([RosterError(1, f"unreadable CSV: {error}")]) from None
    missing = [column for column in COLUMNS[:3] if column not in header]
    if missing:
        raise RosterInvalid(
            [
                RosterError(
                    1,
                    f"missing column(s) {', '.join(missing)}; "
                    "expected email,unit,role_level,tenure_band (tenure_band optional)",
                )
            ]
        )
    index = {column: header.index(column) for column in COLUMNS if column in header}
    units = {unit.external_id: unit for unit in services.wave_units(wave)}
    known_units = set(Unit.objects.values_list("external_id", flat=True))
    errors: list[RosterError] = []
    rows: list[tuple[str, services.RosterRow]] = []
    seen: dict[str, int] = {}
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if any("\x00" in cell for cell in record):
                # No database can store it (PostgreSQL refuses NUL in text): a binary file?
                errors.append(
                    RosterError(line, "contains a NUL character; save the file as CSV text")
                )
                continue
            if len(record) < len(index):
                errors.append(
                    RosterError(line, f"expected {len(header)} columns, found {len(record)}")
                )
                continue
            cell = {column: record[position].strip() for column, position in index.items()}
            email = cell["email"]
            line_errors = []
            try:
                validate_email(email)
            except ValidationError:
                line_errors.append(f"{email!r} is not an e-mail address")
            if email.lower() in seen:
                line_errors.append(f"{email} is already on line {seen[email.lower()]}")
            else:
                seen[email.lower()] = line
            unit = units.get(cell["unit"])
            if unit is None:
                line_errors.append(
                    f"unit {cell['unit']!r} is not in the wave's units"
                    if cell["unit"] in known_units
                    else f"unit {cell['unit']!r} is not a known unit id"
                )
            role_level = _lookup(RoleLevel, cell["role_level"]) if cell["role_level"] else None
            if role_level is None:
                line_errors.append(f"role level {cell['role_level']!r} is not known")
            tenure_band = None
            if cell.get("tenure_band"):
                tenure_band = _lookup(TenureBand, cell["tenure_band"])
                if tenure_band is None:
                    line_errors.append(f"tenure band {cell['tenure_band']!r} is not known")
            errors.extend(RosterError(line, reason) for reason in line_errors)
            if not line_errors:
                rows.append((email, services.RosterRow(unit, role_level, tenure_band)))
    except csv.Error as error:
        errors.append(RosterError(reader.line_num, f"unreadable CSV: {error}"))
    if not rows and not errors:
        errors.append(RosterError(2, "the file has a header but nobody on it"))
    if errors:
        raise RosterInvalid(errors)
    return rows


def find_wave(reference: str) -> Wave:
    if reference.isdigit():
        wave = Wave.objects.filter(pk=int(reference)).first()
        if wave is not None:
            return wave
    waves = list(Wave.objects.filter(name=reference))
    if not waves:
        raise CommandError(f"No wave has the id or name {reference!r}.")
    if len(waves) > 1:
        ids = ", ".join(str(wave.pk) for wave in waves)
        raise CommandError(f"Several waves are named {reference!r}; give the id ({ids}).")
    return waves[0]


class Command(BaseCommand):
    help = (
        "Create one single-use survey link per person on a roster (CSV: email, unit, role_level, "
        "tenure_band) and write the links to a CSV for a mail merge. E-mails are not stored. "
        "Running it again for the same people invites them again and counts them twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("wave", help="the wave's id or exact name")
        parser.add_argument("roster", type=Path, help="CSV with email,unit,role_level,tenure_band")
        parser.add_argument(
            "--out", type=Path, help="links file to create (default: invitations-<wave id>.csv)"
        )
        parser.add_argument(
            "--expires-days", type=int, help="links stop working after this many days"
        )

    def handle(self, *args, wave: str, roster: Path, out: Path | None, **options):
        expires_days = options.get("expires_days")
        if expires_days is not None and expires_days < 1:
            raise CommandError("--expires-days must be at least 1.")
        the_wave = find_wave(wave)
        if the_wave.state == Wave.State.CLOSED or the_wave.closes_at <= timezone.now():
            raise CommandError(f"Wave {the_wave} is closed: nobody can answer it any more.")
        try:
            text = roster.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise CommandError(f"{roster}: no such file") from None
        except UnicodeDecodeError:
            raise CommandError(f"{roster}: not UTF-8 text; save the CSV as UTF-8") from None
        try:
            rows = parse_roster(text, wave=the_wave)
        except RosterInvalid as error:
            raise CommandError(
                f"{roster} was rejected, no invitation was created:\n"
                + "\n".join(map(str, error.errors))
            ) from None
        out = out or Path(f"invitations-{the_wave.pk}.csv")
        # Open the links file before creating anything: a link that cannot be written out is
        # lost for good (only its hash is stored). Owner-only, and never over an older file.
        try:
            descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(
                f"{out} already exists; choose another --out (it may hold links not yet sent)."
            ) from None
        except OSError as error:
            raise CommandError(f"{out}: cannot create the file: {error.strerror}") from None
        expires_at = timezone.now() + dt.timedelta(days=expires_days) if expires_days else None
        try:
            with (
                os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle,
                transaction.atomic(),
            ):
                tokens = services.create_invitations(
                    wave=the_wave, roster=[row for _email, row in rows], expires_at=expires_at
                )
                writer = csv.writer(handle)
                writer.writerow(["email", "link"])
                for (email, _row), token in zip(rows, tokens, strict=True):
                    link = settings.SITE_URL + reverse("surveys:invitation", args=[token])
                    writer.writerow([email, link])
                # On disk before the invitations are committed.
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            out.unlink(missing_ok=True)
            raise
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {len(tokens)} invitations for wave {the_wave} (id {the_wave.pk}); "
                f"links written to {out}. Keep the file safe: the links cannot be recovered."
            )
        )
