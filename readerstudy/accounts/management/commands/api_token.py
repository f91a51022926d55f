"""python manage.py api_token USERNAME [--rotate]: print a user's API token for scripts."""

from argparse import ArgumentParser

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from readerstudy.accounts.models import User
from readerstudy.accounts.services import user_token_issue


class Command(BaseCommand):
    help = "Print USERNAME's API token (created if missing); --rotate replaces it."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true", help="replace the existing token")

    def handle(self, *args: object, **options: object) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        try:
            token = user_token_issue(user=user, rotate=bool(options["rotate"]))
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(token.key)
