"""The demo set-up: generated cohorts imported, users per role, an open two-arm study; idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest

from readerstudy.accounts.models import Role, User
from readerstudy.cohorts.models import Cohort, Node
from readerstudy.core.services import DEMO_STUDY_NAME, DemoCohort, demo_setup
from readerstudy.studies.models import Read, ReaderStudy, StudyStatus

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_demo_setup_builds_everything_once(tmp_path: Path) -> None:
    small = (DemoCohort("internal", "internal", 2, 1), DemoCohort("external", "external", 2, 2))
    lines: list[str] = []
    study = demo_setup(data_dir=tmp_path, cohorts=small, say=lines.append)

    assert study.name == DEMO_STUDY_NAME and study.status == StudyStatus.OPEN
    assert Cohort.objects.count() == 2 and all(c.is_synthetic for c in Cohort.objects.all())
    assert study.cases.count() == Node.objects.count() > 0
    assert list(study.arms.values_list("name", "shows_model_output")) == [
        ("unaided", False),
        ("AI-aided", True),
    ]
    assert sorted(study.assignments.values_list("code", flat=True)) == [
        "R1",
        "R2",
        "R3",
        "R4",
        "R5",
    ]
    for username, role in [
        ("reader1", Role.READER),
        ("coordinator", Role.COORDINATOR),
        ("statistician", Role.STATISTICIAN),
    ]:
        user = User.objects.get(username=username)
        assert user.has_role(role) and user.check_password(f"{username}-demo")
    assert Read.objects.count() == 0

    counts = (
        Cohort.objects.count(),
        Node.objects.count(),
        ReaderStudy.objects.count(),
        User.objects.count(),
    )
    demo_setup(data_dir=tmp_path, cohorts=small, say=lines.append)
    assert (
        Cohort.objects.count(),
        Node.objects.count(),
        ReaderStudy.objects.count(),
        User.objects.count(),
    ) == counts
    assert any("already imported" in line for line in lines)
