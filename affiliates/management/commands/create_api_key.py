from django.core.management.base import BaseCommand, CommandError

from affiliates.models import User
from affiliates.services import api_key_create
from sophio_fbs.errors import DomainError


class Command(BaseCommand):
    help = (
        "Create an API key for an affiliate's user. "
        "The key is printed once, alone on the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="Created from the command line")

    def handle(self, *args, username, name, **opts):
        user = User.objects.filter(username=username).select_related("affiliate").first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        try:
            key, raw = api_key_create(user=user, name=name)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(f"API key {key.name!r} for {user.affiliate.name}. It is not shown again:")
        self.stdout.write(raw)
