"""Audit the published suppression pattern of a wave (DESIGN anonymity point 4).

    python manage.py audit_suppression [WAVE] [--limit N]

For every wave with a publication (or only WAVE, by id), re-runs the adversary's linear
program over the published snapshot: every cell the publication does not list is unknown,
every relation between cells holds, counts are at least zero. Prints, for every group of 1..k-1
people, the narrowest range the published figures allow, then PASS or FAIL; exits with code 1
when any wave fails.
"""

from django.core.management.base import BaseCommand, CommandError

from reports.anonymity import audit_pattern, cell_unit
from reports.models import Publication
from reports.publication import snapshot_rows
from surveys.models import Unit, Wave


class Command(BaseCommand):
    help = (
        "Re-run the LP audit over a wave's published snapshot: the narrowest range per group "
        "under k, and PASS or FAIL (exit code 1 on FAIL)."
    )

    def add_arguments(self, parser):
        parser.add_argument("wave", nargs="?", type=int, help="wave id (default: every wave)")
        parser.add_argument(
            "--limit",
            type=int,
            default=0,
            metavar="N",
            help="print only the N narrowest ranges per wave (default: all)",
        )

    def handle(self, *args, wave: int | None, limit: int, **options):
        publications = Publication.objects.select_related("wave").order_by("wave_id")
        if wave is not None:
            if not Wave.objects.filter(pk=wave).exists():
                raise CommandError(f"No wave with id {wave}.")
            publications = publications.filter(wave_id=wave)
        publications = [p for p in publications if p.version > 0]
        if not publications:
            raise CommandError("Nothing is published yet: there is nothing to audit.")
        names = dict(Unit.objects.values_list("pk", "name"))
        failed = []
        for publication in publications:
            audited = publication.wave
            rows, parents = snapshot_rows(audited)
            audit = audit_pattern(
                rows=rows, parents=parents, k=audited.k, published=publication.published_cells
            )
            self.stdout.write(
                f'Wave {audited.pk} "{audited}" (version {publication.version}, '
                f"k={audit.k}): {audit.published} cells published, {audit.withheld} withheld, "
                f"{len(audit.ranges)} groups of 1..{audit.k - 1} people"
            )
            shown = audit.ranges[:limit] if limit > 0 else audit.ranges
            for cell_range in shown:
                mark = "" if cell_range.width >= audit.k - 1e-6 else "   <- narrower than k"
                self.stdout.write(
                    f"  {cell_range.cell:<28} {names.get(cell_unit(cell_range.cell), '?')[:30]:<30}"
                    f" n={cell_range.n:<3} range [{cell_range.low:g}, {cell_range.high:g}]"
                    f" width {cell_range.width:g}{mark}"
                )
            if len(shown) < len(audit.ranges):
                self.stdout.write(f"  ... {len(audit.ranges) - len(shown)} wider ranges")
            for cell in audit.derivable:
                self.stdout.write(f"  {cell}: recovered by solving one equation at a time")
            if audit.passed:
                self.stdout.write(self.style.SUCCESS("  PASS"))
            else:
                self.stdout.write(self.style.ERROR("  FAIL"))
                failed.append(audited)
        if failed:
            raise CommandError(
                "FAIL: a group under k can be worked out in wave(s) "
                + ", ".join(str(w.pk) for w in failed),
                returncode=1,
            )
