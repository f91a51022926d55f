"""python manage.py simulate_reads STUDY_ID: a simulated reader panel reads every node (idempotent)."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from readerstudy.studies.models import ReaderStudy
from readerstudy.studies.simulation import study_reads_simulate


class Command(BaseCommand):
    help = (
        "Submit the simulated readers' reads of every node in every arm of an open study, "
        "through the workstation's read service. Deterministic from --seed; running it again "
        "writes nothing new."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="study id or exact name")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args: object, **options: object) -> None:
        key = str(options["study"])
        study = (
            ReaderStudy.objects.filter(pk=int(key)).first()
            if key.isdigit()
            else ReaderStudy.objects.filter(name=key).first()
        )
        if study is None:
            raise CommandError(f"no reader study with id or name {key!r}")
        try:
            outcome = study_reads_simulate(
                study=study,
                seed=int(str(options["seed"])),
                say=lambda line: self.stdout.write(f"  {line}"),
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"{outcome.readers} simulated readers: {outcome.submitted} reads submitted, "
                f"{outcome.already_present} already present"
            )
        )
