"""The demo: users for every role, two synthetic cohorts and an open reader study. Idempotent."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from readerstudy.accounts.models import Role, User
from readerstudy.accounts.services import user_create_or_update
from readerstudy.cohorts.manifest import MANIFEST
from readerstudy.cohorts.models import Cohort
from readerstudy.cohorts.services import cohort_import_folder
from readerstudy.studies.models import ReaderStudy
from readerstudy.studies.services import ArmSpec, study_assign_readers, study_create, study_open
from readerstudy.studies.simulation import simulated_readers_ensure, study_reads_simulate

DEMO_STUDY_NAME = "DeepENE reader study (demo)"
#: Seed of the demo's simulated reads (manage.py simulate_reads --seed).
DEMO_SIMULATION_SEED = 1


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role
    first_name: str
    last_name: str
    profession: str = ""
    years: int | None = None

    @property
    def password(self) -> str:
        return f"{self.username}-demo"


# The reader panel mirrors 001: two radiologists, two radiation oncologists, one nuclear
# medicine physician.
DEMO_USERS = (
    DemoUser("reader1", Role.READER, "Ada", "Radiologist", "head and neck radiologist", 16),
    DemoUser("reader2", Role.READER, "Ben", "Radiologist", "radiologist", 15),
    DemoUser("reader3", Role.READER, "Cleo", "Oncologist", "radiation oncologist", 10),
    DemoUser("reader4", Role.READER, "Dev", "Oncologist", "radiation oncologist", 5),
    DemoUser("reader5", Role.READER, "Eva", "Nuclear", "nuclear medicine physician", 15),
    DemoUser("coordinator", Role.COORDINATOR, "Casey", "Coordinator"),
    DemoUser("statistician", Role.STATISTICIAN, "Sam", "Statistician"),
    DemoUser("admin", Role.ADMIN, "Alex", "Admin"),
)


@dataclass(frozen=True)
class DemoCohort:
    folder: str
    profile: str
    patients: int
    seed: int


DEMO_COHORTS = (
    DemoCohort("internal", "internal", 30, 1),
    DemoCohort("external", "external", 20, 2),
)


def demo_setup(
    *,
    data_dir: Path | None = None,
    cohorts: Sequence[DemoCohort] = DEMO_COHORTS,
    say: Callable[[str], None] = print,
) -> ReaderStudy:
    """Create (or bring up to date) the demo users, cohorts and study; safe to run again."""
    users: dict[str, User] = {}
    for spec in DEMO_USERS:
        users[spec.username] = user_create_or_update(
            username=spec.username,
            password=spec.password,
            role=spec.role,
            first_name=spec.first_name,
            last_name=spec.last_name,
            profession=spec.profession,
            years_of_experience=spec.years,
        )
    root = data_dir or Path(settings.BASE_DIR) / "var" / "demo"
    imported: list[Cohort] = []
    for spec in cohorts:
        folder = root / spec.folder
        if not (folder / MANIFEST).is_file():
            say(
                f"generating synthetic {spec.profile} cohort ({spec.patients} patients) in {folder}"
            )
            call_command(
                "make_synthetic_cohort",
                str(folder),
                patients=spec.patients,
                seed=spec.seed,
                profile=spec.profile,
            )
        result = cohort_import_folder(folder, user=users["coordinator"])
        state = "imported" if result.created else "already imported"
        say(
            f"cohort {result.cohort.name!r}: {state} ({result.patients} patients, {result.nodes} nodes)"
        )
        imported.append(result.cohort)

    study = ReaderStudy.objects.filter(name=DEMO_STUDY_NAME).first()
    if study is None:
        study = study_create(
            name=DEMO_STUDY_NAME,
            cohorts=imported,
            created_by=users["coordinator"],
            description="Three-way call per pre-segmented node on synthetic contrast-enhanced neck CT, "
            "as in the DeepENE reader study: benign, metastasis without ENE, metastasis with ENE.",
            instructions="Call every outlined node: benign, metastasis without ENE, or metastasis with ENE.",
            arms=[
                ArmSpec("unaided"),
                ArmSpec("AI-aided", shows_model_output=True, washout_days=28),
            ],
            ask_confidence=True,
            ask_signs=True,
            order_seed=20261124,
        )
        study_assign_readers(study=study, readers=[users[f"reader{i}"] for i in range(1, 6)])
        # A simulated panel (R6-R10) reads everything at once, so the results pages have data
        # on first start; the five demo readers above are left for people to log in as.
        study_assign_readers(study=study, readers=simulated_readers_ensure())
        study = study_open(study=study)
        say(f"study {study.name!r}: created and opened")
    else:
        say(f"study {study.name!r}: exists ({study.get_status_display().lower()})")
    _queue_demo_models(imported, users["coordinator"], say)
    if study.status == "open" and study.assignments.filter(reader__is_simulated=True).exists():
        outcome = study_reads_simulate(study=study, seed=DEMO_SIMULATION_SEED)
        say(
            f"simulated readers: {outcome.submitted} reads submitted, "
            f"{outcome.already_present} already present"
        )
    return study


def _queue_demo_models(cohorts: list[Cohort], user: User, say: Callable[[str], None]) -> None:
    """Training and prediction of the three demo models, on the worker: the server starts
    while they run, and the coordinator watches them at /models/runs/."""
    from readerstudy.aimodels.services import demo_models_queue

    if not cohorts:
        return
    runs = demo_models_queue(internal=cohorts[0], external=cohorts[1:], user=user)
    if runs:
        say(
            f"queued training of the {', '.join(r.kind for r in runs)} models on "
            f"{cohorts[0].name!r} (then predictions of every cohort): progress at /models/runs/"
        )
