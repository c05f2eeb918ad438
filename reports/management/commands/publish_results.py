import time

from django.core.management.base import BaseCommand
from django.db.models import Q
from django.utils import timezone

from reports.publication import publish, publish_if_due
from surveys.models import Response, Wave


class Command(BaseCommand):
    help = (
        "Fold waiting responses into the published figures for every wave whose batch is full "
        "(or that has closed). --force publishes whatever is waiting, even a short batch."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="publish short batches too")
        parser.add_argument(
            "--loop",
            type=int,
            default=0,
            metavar="SECONDS",
            help="keep running, checking every SECONDS (for a worker process)",
        )

    def handle(self, *args, force: bool, loop: int, **options):
        while True:
            waiting = Wave.objects.filter(
                Q(pk__in=Response.objects.unpublished().values("wave_id"))
                # Closed (or past their closing time) with figures waiting for the close.
                | Q(publication__results_hidden=True, state=Wave.State.CLOSED)
                | Q(publication__results_hidden=True, closes_at__lte=timezone.now())
            ).order_by("pk")
            for wave in waiting:
                publication = publish(wave=wave, force=True) if force else publish_if_due(wave=wave)
                if publication is not None:
                    self.stdout.write(
                        f"{wave}: version {publication.version}, "
                        f"{publication.responses} responses published"
                    )
            if loop <= 0:
                return
            time.sleep(loop)
