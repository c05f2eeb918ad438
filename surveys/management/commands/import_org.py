from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from surveys.orgimport import OrgImportError, import_org


class Command(BaseCommand):
    help = "Load or update units from a CSV file with columns id, name, parent_id. All or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options):
        try:
            text = file.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise CommandError(f"{file}: no such file") from None
        except UnicodeDecodeError:
            raise CommandError(f"{file}: not UTF-8 text; save the CSV as UTF-8") from None
        try:
            result = import_org(text=text)
        except OrgImportError as error:
            raise CommandError(
                f"{file} was rejected, nothing was changed:\n" + "\n".join(map(str, error.errors))
            ) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged"
            )
        )
