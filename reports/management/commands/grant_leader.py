from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from reports.models import LeaderGrant
from surveys.models import Unit


class Command(BaseCommand):
    help = "Let USERNAME read UNIT (external id or name) and everything under it."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("unit", help="the unit's external id (from the CSV) or exact name")
        parser.add_argument("--revoke", action="store_true", help="remove the grant instead")

    def handle(self, *args, username: str, unit: str, revoke: bool, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        matches = list(Unit.objects.filter(external_id=unit)) or list(
            Unit.objects.filter(name=unit)
        )
        if not matches:
            raise CommandError(f"no unit with id or name {unit!r}")
        if len(matches) > 1:
            ids = ", ".join(match.external_id for match in matches)
            raise CommandError(f"several units are named {unit!r}; use an id: {ids}")
        target = matches[0]
        if revoke:
            deleted, _ = LeaderGrant.objects.filter(user=user, unit=target).delete()
            self.stdout.write(
                f"{'Revoked' if deleted else 'There was no'} grant of {target} to {user}"
            )
            return
        _, created = LeaderGrant.objects.get_or_create(user=user, unit=target)
        verb = "Granted" if created else "Already granted:"
        self.stdout.write(self.style.SUCCESS(f"{verb} {target} and everything under it to {user}"))
