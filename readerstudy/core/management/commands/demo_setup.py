"""python manage.py demo_setup: demo users, synthetic cohorts and an open reader study."""

from django.core.management.base import BaseCommand, CommandParser

from readerstudy.core.services import DEMO_USERS, demo_setup


class Command(BaseCommand):
    help = "Create the demo users, cohorts and reader study (idempotent) and print the credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000/", help="where the server will listen"
        )

    def handle(self, *args: object, **options: object) -> None:
        study = demo_setup(say=lambda line: self.stdout.write(f"  {line}"))
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Demo ready: {options['url']}"))
        self.stdout.write(
            f"Study: {study.name} ({study.cases.count()} nodes, {study.assignments.count()} readers)"
        )
        self.stdout.write("Log in with (username / password / role):")
        for user in DEMO_USERS:
            self.stdout.write(f"  {user.username:<13} {user.password:<18} {user.role.label}")
