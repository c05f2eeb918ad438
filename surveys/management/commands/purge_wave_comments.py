import datetime as dt

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from surveys.models import Comment, Wave


class Command(BaseCommand):
    help = (
        "Delete the free-text comments of a wave (WAVE is its id or exact name), or with "
        "--expired those of every wave closed longer ago than the retention setting."
    )

    def add_arguments(self, parser):
        parser.add_argument("wave", nargs="?", help="wave id or exact name")
        parser.add_argument(
            "--expired",
            action="store_true",
            help="purge every wave closed more than POWERCLIMATE_COMMENT_RETENTION_DAYS ago",
        )

    def handle(self, *args, wave: str | None, expired: bool, **options):
        if bool(wave) == expired:
            raise CommandError("Give either a WAVE or --expired (not both).")
        if expired:
            days = settings.POWERCLIMATE_COMMENT_RETENTION_DAYS
            if days == 0:
                self.stdout.write("Comment retention is 0 (keep forever): nothing purged.")
                return
            cutoff = timezone.now() - dt.timedelta(days=days)
            waves = Wave.objects.filter(closes_at__lte=cutoff)
        else:
            waves = Wave.objects.filter(pk=int(wave)) if wave.isdigit() else Wave.objects.none()
            waves = waves or Wave.objects.filter(name=wave)
            if not waves.exists():
                raise CommandError(f"no wave with id or name {wave!r}")
        deleted, _ = Comment.objects.filter(wave__in=waves).delete()
        names = ", ".join(w.name for w in waves) or "no wave"
        self.stdout.write(self.style.SUCCESS(f"Deleted {deleted} comments ({names})."))
