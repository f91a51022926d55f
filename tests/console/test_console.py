"""Coordinator console: studies and reader accounts are run from web pages, through the services."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from django.test import Client

from readerstudy.accounts.models import Role, User
from readerstudy.cohorts.services import cohort_import_folder
from readerstudy.studies import services
from readerstudy.studies.models import ReaderStudy, StudyStatus
from tests.cohort_factory import write_cohort

pytestmark = pytest.mark.django_db


@pytest.fixture
def cohort(tmp_path: Path):
    # 2 patients x (benign level II, metastasis level III, ENE level IV)
    return cohort_import_folder(write_cohort(tmp_path / "cohort")).cohort


@pytest.fixture
def coordinator(make_user) -> Client:
    client = Client()
    client.force_login(make_user(Role.COORDINATOR, "console-coordinator"))
    return client


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_coordinator_creates_filters_staffs_opens_and_closes_a_study(
    cohort, coordinator, make_user
) -> None:
    response = coordinator.post(
        "/console/studies/new/",
        {
            "name": "Levels III-IV",
            "instructions": "Call every node.",
            "cohorts": [cohort.pk],
            "levels": ["III", "IV"],
            "design": "independent",
            "washout_days": "30",
            "randomisation_unit": "patient",
            "practice_cases": "1",
            "allow_read_changes": "on",
            "ask_confidence": "on",
            "order_seed": "77",
        },
    )
    study = ReaderStudy.objects.get(name="Levels III-IV")
    assert response.status_code == 302 and response.url == f"/console/studies/{study.pk}/"
    assert sorted(study.cases.values_list("node__level", flat=True)) == ["III", "III", "IV", "IV"]
    arms = list(study.arms.values_list("name", "shows_model_output", "washout_days"))
    assert arms == [("unaided", False, 0), ("AI-aided", True, 30)]
    assert study.order_seed == 77 and study.ask_confidence and study.status == StudyStatus.DRAFT
    assert (study.design, study.randomisation_unit, study.allow_read_changes) == (
        "independent",
        "patient",
        True,
    )
    assert study.cases.filter(is_practice=True).count() == 1

    readers = [make_user(Role.READER, f"console-reader{i}") for i in (1, 2)]
    not_a_reader = make_user(Role.STATISTICIAN, "console-stat")
    page = coordinator.get(f"/console/studies/{study.pk}/")
    assert "console-stat" not in page.content.decode()  # only readers are offered
    coordinator.post(f"/console/studies/{study.pk}/assign/", {"readers": [r.pk for r in readers]})
    refused = coordinator.post(
        f"/console/studies/{study.pk}/assign/", {"readers": [not_a_reader.pk]}, follow=True
    )
    assert "Choose at least one reader" in refused.content.decode()
    assert list(study.assignments.values_list("code", flat=True)) == ["R1", "R2"]
    # both arms of both readers have a full reading order (practice included)
    assert study.assignments.get(code="R2").order_entries.count() == 2 * 4

    coordinator.post(f"/console/studies/{study.pk}/open/")
    study.refresh_from_db()
    assert study.status == StudyStatus.OPEN
    # no edits once open: the service refuses and the page says why
    edited = coordinator.post(
        f"/console/studies/{study.pk}/edit/",
        {"name": "Renamed", "instructions": "x"},
        follow=True,
    )
    study.refresh_from_db()
    assert study.name == "Levels III-IV"
    assert any("only a draft can be changed" in m for m in _messages(edited))

    node = study.cases.filter(is_practice=False).first().node
    services.read_submit(
        reader=readers[0],
        arm=study.arms.get(position=1),
        node=node,
        call="benign",
        idempotency_key=uuid.uuid4(),
        confidence=40,
        active_seconds=75.0,
    )
    page = coordinator.get(f"/console/studies/{study.pk}/").content.decode()
    row = re.search(r"<tr><td>R1</td>.*?</tr>", page, re.S).group(0)
    assert "1 of 3" in row and "75 s" in row and "75.0" in row  # practice cases not counted

    coordinator.post(f"/console/studies/{study.pk}/close/")
    study.refresh_from_db()
    assert study.status == StudyStatus.CLOSED


def test_class_balance_keeps_at_most_n_nodes_per_reference_call(cohort, coordinator) -> None:
    coordinator.post(
        "/console/studies/new/",
        {
            "name": "Balanced",
            "cohorts": [cohort.pk],
            "per_class_limit": "1",
            "design": "single",
            "randomisation_unit": "node",
        },
    )
    study = ReaderStudy.objects.get(name="Balanced")
    calls = sorted(study.cases.values_list("node__reference__call", flat=True))
    assert calls == ["benign", "ene", "metastasis"]


def test_filters_that_leave_no_node_create_nothing(cohort, coordinator) -> None:
    response = coordinator.post(
        "/console/studies/new/",
        {
            "name": "Empty",
            "cohorts": [cohort.pk],
            "min_short_axis_mm": "500",
            "design": "single",
            "randomisation_unit": "node",
        },
    )
    assert response.status_code == 200
    assert "no node of these cohorts passes the filters" in response.content.decode()
    assert not ReaderStudy.objects.filter(name="Empty").exists()


def test_new_reader_sets_a_password_through_a_one_time_link(coordinator) -> None:
    response = coordinator.post(
        "/console/readers/",
        {"username": "dr-new", "first_name": "Ada", "profession": "radiologist"},
    )
    reader = User.objects.get(username="dr-new")
    assert reader.has_role(Role.READER) and not reader.has_usable_password()
    assert not reader.is_staff
    link = re.search(
        r'value="(http://testserver/accounts/set-password/[^"]+)"', response.content.decode()
    )
    assert link, response.content.decode()[:500]
    path = link.group(1).removeprefix("http://testserver")

    visitor = Client()
    form_page = visitor.get(path, follow=True)
    assert "Choose your password" in form_page.content.decode()
    visitor.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a-long-reader-pass-42", "new_password2": "a-long-reader-pass-42"},
    )
    assert Client().login(username="dr-new", password="a-long-reader-pass-42")
    # used once: the same link no longer works
    again = Client().get(path, follow=True)
    assert "This link no longer works" in again.content.decode()

    duplicate = coordinator.post("/console/readers/", {"username": "DR-NEW"})
    assert "is taken" in duplicate.content.decode()


@pytest.mark.parametrize("role", [Role.READER, Role.STATISTICIAN])
def test_console_is_for_coordinators_only(role, cohort, make_user) -> None:
    study = services.study_create(name="Hidden", cohorts=[cohort])
    client = Client()
    client.force_login(make_user(role))
    for url in (
        "/console/",
        "/console/studies/new/",
        f"/console/studies/{study.pk}/",
        "/console/readers/",
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/console/studies/{study.pk}/edit/", {"name": "x"}).status_code == 403
    assert client.post("/console/readers/", {"username": "sneaky"}).status_code == 403
    assert not User.objects.filter(username="sneaky").exists()
    assert Client().get("/console/").status_code == 302  # anonymous: to the login page
