"""python manage.py ensure_roles: create the role groups with their permissions (idempotent)."""

from django.core.management.base import BaseCommand

from readerstudy.accounts.services import roles_ensure


class Command(BaseCommand):
    help = "Create or update the reader, coordinator, statistician and admin groups."

    def handle(self, *args: object, **options: object) -> None:
        groups = roles_ensure()
        for name, group in groups.items():
            self.stdout.write(f"{name}: {group.permissions.count()} permissions")
