"""``python manage.py make_synthetic_cohort OUT --patients N --seed S [--profile ...]``.

A thin wrapper around the plain-Python generator ``synthetic``
(same options as ``python -m synthetic``): writes a synthetic
contrast-enhanced neck CT cohort in the import format
(``docs/import-format.md``), ready for ``python manage.py import_cohort OUT``.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from synthetic.cli import add_arguments, run


class Command(BaseCommand):
    help = "Write a synthetic contrast-enhanced neck CT cohort (import format) to OUT."

    def add_arguments(self, parser: CommandParser) -> None:
        add_arguments(parser)

    def handle(self, *args: object, **options: object) -> None:
        if options.get("verbosity", 1) == 0:
            options["quiet"] = True
        try:
            run(options, stdout=self.stdout)
        except (ValueError, FileExistsError) as exc:
            raise CommandError(str(exc)) from exc
