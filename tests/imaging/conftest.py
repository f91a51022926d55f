"""A small imported cohort (tests/cohort_factory: 2 patients x 3 box-shaped nodes, 8 slices of
32 x 32) in one open study with two readers, plus the other roles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from readerstudy.accounts.models import Role, User
from readerstudy.cohorts.models import Cohort
from readerstudy.cohorts.services import cohort_import_folder
from readerstudy.studies import services
from readerstudy.studies.models import ReaderStudy, ReadingOrderEntry
from tests.cohort_factory import write_cohort

COHORT_NAME = "Imaging test cohort"


@dataclass
class World:
    cohort: Cohort
    source: Path
    study: ReaderStudy
    reader: User
    other_reader: User
    outsider: User
    coordinator: User
    statistician: User

    def entry(self, reader: User, position: int = 1, arm: int = 1) -> ReadingOrderEntry:
        return ReadingOrderEntry.objects.select_related("case__node__series__patient").get(
            assignment__reader=reader,
            assignment__study=self.study,
            arm__position=arm,
            position=position,
        )

    def item_url(self, position: int = 1, suffix: str = "", arm: int = 1) -> str:
        return f"/api/v1/studies/{self.study.pk}/arms/{arm}/items/{position}/images{suffix}"


@pytest.fixture
def world(tmp_path: Path, make_user) -> World:
    source = write_cohort(tmp_path / "cohort", name=COHORT_NAME)
    cohort = cohort_import_folder(source).cohort
    reader = make_user(Role.READER, "img-reader-1")
    other_reader = make_user(Role.READER, "img-reader-2")
    study = services.study_create(name="Imaging study", cohorts=[cohort], order_seed=12345)
    services.study_assign_readers(study=study, readers=[reader, other_reader])
    services.study_open(study=study)
    return World(
        cohort=cohort,
        source=source,
        study=study,
        reader=reader,
        other_reader=other_reader,
        outsider=make_user(Role.READER, "img-outsider"),
        coordinator=make_user(Role.COORDINATOR, "img-coordinator"),
        statistician=make_user(Role.STATISTICIAN, "img-statistician"),
    )
