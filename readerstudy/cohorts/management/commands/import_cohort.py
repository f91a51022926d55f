"""python manage.py import_cohort PATH: import a cohort folder, all or nothing."""

import sys
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from readerstudy.cohorts.errors import CohortImportError
from readerstudy.cohorts.services import cohort_import_folder


class Command(BaseCommand):
    help = "Import a cohort folder (cohort.json, manifest.csv, DICOM series, masks); see docs/import-format.md."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="the cohort folder")
        parser.add_argument("--quiet", action="store_true", help="no progress lines")

    def handle(self, *args: object, **options: object) -> None:
        started = time.perf_counter()
        last_stage = ""

        def progress(fraction: float, stage: str) -> None:
            nonlocal last_stage
            if not options["quiet"] and stage != last_stage:
                last_stage = stage
                sys.stderr.write(f"\r[{fraction * 100:5.1f}%] {stage:<40}")
                sys.stderr.flush()

        try:
            result = cohort_import_folder(options["path"], progress=progress)
        except CohortImportError as exc:
            if not options["quiet"]:
                sys.stderr.write("\n")
            raise CommandError(f"import refused, nothing was changed: {exc}") from exc
        if not options["quiet"]:
            sys.stderr.write("\n")
        elapsed = time.perf_counter() - started
        if result.created:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Imported cohort {result.cohort.name!r}: {result.patients} patients, {result.nodes} nodes, "
                    f"{result.slices} slices in {elapsed:.1f} s"
                )
            )
        else:
            self.stdout.write(
                f"Cohort {result.cohort.name!r} was already imported with identical content: nothing changed."
            )
