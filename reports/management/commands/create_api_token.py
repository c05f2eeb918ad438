"""Print a new API token for a user (the raw token is shown once and never stored)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from reports.models import ApiToken


class Command(BaseCommand):
    help = (
        "Create an API token for USERNAME and print it. It reads exactly what the user may "
        "read; only its hash is stored, so copy it now."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="what the token is for")

    def handle(self, *args, username: str, name: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        if not user.is_active:
            raise CommandError(f"the user {username!r} is inactive; a token would not work")
        name = " ".join(name.split())[:100]
        if not name:
            raise CommandError("the token needs a name (--name)")
        _token, raw = ApiToken.issue(user=user, name=name)
        # The token alone on stdout, so that it can be piped; the note goes to stderr.
        self.stderr.write(f"API token {name!r} for {username} (shown once, copy it now):")
        self.stdout.write(raw)
