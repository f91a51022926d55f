"""The Django admin is no back door around the services (coordinator and admin logins).

A study's status, cohorts, arms and readers change only through studies.services (admin actions
call them); imported data (patients, nodes, reference standard) and roles are read-only.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from readerstudy.accounts.models import Role
from readerstudy.cohorts.models import Node, Patient, ReferenceStandard
from readerstudy.cohorts.services import cohort_import_folder
from readerstudy.studies import services
from readerstudy.studies.models import (
    ReaderAssignment,
    ReaderStudy,
    ReadingArm,
    ReadingOrderEntry,
    StudyStatus,
)
from tests.cohort_factory import write_cohort

pytestmark = pytest.mark.django_db


@pytest.fixture
def cohort(tmp_path: Path):
    return cohort_import_folder(write_cohort(tmp_path / "cohort")).cohort


@pytest.fixture
def coordinator_client(client, make_user):
    client.force_login(make_user(Role.COORDINATOR, "coord"))
    return client


@pytest.fixture
def draft(cohort):
    return services.study_create(name="Draft study", cohorts=[cohort], order_seed=3)


def _changelist_action(client, action: str, study: ReaderStudy, **extra):
    return client.post(
        reverse("admin:studies_readerstudy_changelist"),
        {"action": action, "_selected_action": [study.pk], **extra},
        follow=True,
    )


def _change_form_data(study: ReaderStudy, **changes) -> dict:
    data = {
        "name": study.name,
        "description": study.description,
        "instructions": study.instructions,
        "ask_confidence": "on" if study.ask_confidence else "",
        "ask_signs": "on" if study.ask_signs else "",
        # What a hand-made POST would try: fields the form does not offer.
        "status": "open",
        "cohorts": [],
        "order_seed": 1,
        **changes,
    }
    for prefix in ("arms", "assignments"):
        data.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
    return data


def test_change_form_cannot_open_a_study_or_touch_cohorts(coordinator_client, draft) -> None:
    cohort_ids = list(draft.cohorts.values_list("pk", flat=True))
    url = reverse("admin:studies_readerstudy_change", args=[draft.pk])
    response = coordinator_client.post(url, _change_form_data(draft, description="new text"))
    assert response.status_code == 302, response.content[:2000]
    draft.refresh_from_db()
    assert draft.description == "new text"  # text may be edited
    assert draft.status == StudyStatus.DRAFT and draft.opened_at is None
    assert list(draft.cohorts.values_list("pk", flat=True)) == cohort_ids
    assert draft.order_seed == 3
    # Arms and assignments are shown read-only: no inline offers adding, changing or deleting.
    page = coordinator_client.get(url)
    for formset in page.context["inline_admin_formsets"]:
        assert not formset.has_add_permission
        assert not formset.has_change_permission
        assert not formset.has_delete_permission


def test_inline_rows_posted_by_hand_are_ignored(coordinator_client, draft, make_user) -> None:
    reader = make_user(Role.READER, "sneaky")
    url = reverse("admin:studies_readerstudy_change", args=[draft.pk])
    # Otherwise valid for the form as it was (status and cohorts were fields then).
    data = _change_form_data(
        draft, status="draft", cohorts=list(draft.cohorts.values_list("pk", flat=True))
    )
    data.update(
        {
            "assignments-TOTAL_FORMS": 1,
            "assignments-0-reader": reader.pk,
            "assignments-0-code": "R9",
            "arms-TOTAL_FORMS": 1,
            "arms-0-name": "extra",
            "arms-0-position": 5,
            "arms-0-washout_days": 0,
        }
    )
    coordinator_client.post(url, data)
    assert not ReaderAssignment.objects.exists()
    assert list(ReadingArm.objects.values_list("name", flat=True)) == ["unaided"]


def test_adding_a_study_goes_through_study_create(coordinator_client, cohort) -> None:
    response = coordinator_client.post(
        reverse("admin:studies_readerstudy_add"),
        {
            "name": "From the admin",
            "description": "",
            "instructions": "Read every node.",
            "cohorts": [cohort.pk],
            "ask_confidence": "on",
            "arm_design": "unaided_then_aided",
            "randomisation_unit": "node",
            "allow_read_changes": "on",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    study = ReaderStudy.objects.get(name="From the admin")
    assert study.status == StudyStatus.DRAFT
    assert study.cases.count() == Node.objects.filter(series__patient__cohort=cohort).count() > 0
    assert list(study.arms.values_list("name", "shows_model_output")) == [
        ("unaided", False),
        ("AI-aided", True),
    ]
    assert study.created_by.username == "coord" and study.ask_confidence
    assert study.design == "independent" and study.allow_read_changes


def test_admin_creates_a_sequential_patient_mode_study_and_sets_practice_cases(
    coordinator_client, cohort, make_user
) -> None:
    response = coordinator_client.post(
        reverse("admin:studies_readerstudy_add"),
        {
            "name": "Sequential",
            "cohorts": [cohort.pk],
            "arm_design": "sequential",
            "randomisation_unit": "patient",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    study = ReaderStudy.objects.get(name="Sequential")
    assert (study.design, study.randomisation_unit, study.allow_read_changes) == (
        "sequential",
        "patient",
        False,
    )
    assert list(study.arms.values_list("shows_model_output", "washout_days")) == [
        (False, 0),
        (True, 0),
    ]
    services.study_assign_readers(study=study, readers=[make_user(Role.READER, "r1")])
    practice = list(study.cases.order_by("pk").values_list("pk", flat=True)[:2])
    page = _changelist_action(coordinator_client, "mark_practice_cases", study)
    assert "Practice cases of Sequential" in page.content.decode()
    _changelist_action(coordinator_client, "mark_practice_cases", study, apply="1", cases=practice)
    assert sorted(study.cases.filter(is_practice=True).values_list("pk", flat=True)) == practice
    first_two = ReadingOrderEntry.objects.filter(
        assignment__study=study, arm__position=1, position__lte=2
    )
    assert {entry.case_id for entry in first_two} == set(practice)
    services.study_open(study=study)
    refused = _changelist_action(
        coordinator_client, "mark_practice_cases", study, apply="1", cases=[]
    )
    assert "only a draft" in refused.content.decode()
    assert study.cases.filter(is_practice=True).count() == 2


def test_open_action_applies_study_open_checks(coordinator_client, draft, make_user) -> None:
    response = _changelist_action(coordinator_client, "open_studies", draft)
    assert "assign at least one reader" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == StudyStatus.DRAFT

    readers = [make_user(Role.READER, f"adm-reader{i}") for i in (1, 2)]
    page = _changelist_action(coordinator_client, "assign_readers", draft)
    assert page.status_code == 200 and "adm-reader1" in page.content.decode()
    _changelist_action(
        coordinator_client,
        "assign_readers",
        draft,
        apply="1",
        readers=[r.pk for r in readers],
    )
    codes = dict(draft.assignments.values_list("reader__username", "code"))
    assert codes == {"adm-reader1": "R1", "adm-reader2": "R2"}
    # Each assigned reader got a reading order over every case.
    assert ReadingOrderEntry.objects.filter(assignment__study=draft).count() == 2 * 6

    response = _changelist_action(coordinator_client, "open_studies", draft)
    assert "Draft study: opened." in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == StudyStatus.OPEN and draft.opened_at is not None
    response = _changelist_action(
        coordinator_client, "assign_readers", draft, apply="1", readers=[readers[0].pk]
    )
    assert "only a draft can be changed" in response.content.decode()
    _changelist_action(coordinator_client, "close_studies", draft)
    draft.refresh_from_db()
    assert draft.status == StudyStatus.CLOSED and draft.closed_at is not None


def test_imported_data_is_read_only_in_the_admin(coordinator_client, cohort) -> None:
    patient = Patient.objects.filter(cohort=cohort).first()
    response = coordinator_client.post(
        reverse("admin:cohorts_patient_change", args=[patient.pk]),
        {"age": 99, "sex": "F", "hpv_status": "positive"},
    )
    assert response.status_code == 403
    patient.refresh_from_db()
    assert patient.age != 99

    node = Node.objects.filter(series__patient__cohort=cohort).first()
    reference = ReferenceStandard.objects.get(node=node)
    response = coordinator_client.post(
        reverse("admin:cohorts_node_change", args=[node.pk]),
        {"reference-TOTAL_FORMS": 1, "reference-INITIAL_FORMS": 1, "reference-0-call": "ene"},
    )
    assert response.status_code == 403
    assert ReferenceStandard.objects.get(node=node).call == reference.call

    name = cohort.name
    coordinator_client.post(
        reverse("admin:cohorts_cohort_change", args=[cohort.pk]),
        {"name": "renamed", "institution": "elsewhere", "description": "notes"},
    )
    cohort.refresh_from_db()
    assert (cohort.name, cohort.description) == (name, "notes")


def test_roles_change_only_through_the_role_action(client, make_user) -> None:
    admin_user = make_user(Role.ADMIN, "root")
    user = make_user(Role.READER, "promote-me")
    client.force_login(admin_user)
    url = reverse("admin:accounts_user_change", args=[user.pk])
    client.post(
        url,
        {
            "username": user.username,
            "password": user.password,
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "groups": [Group.objects.get(name="coordinator").pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    user.refresh_from_db()
    assert not user.is_staff and not user.is_superuser and user.has_role(Role.READER)

    client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "make_coordinator", "_selected_action": [user.pk]},
    )
    user.refresh_from_db()
    assert user.is_staff and not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == ["coordinator"]

    group = Group.objects.get(name="reader")
    response = client.post(
        reverse("admin:auth_group_change", args=[group.pk]), {"name": "x", "permissions": [1]}
    )
    assert response.status_code == 403 and group.permissions.count() == 0


def test_a_coordinator_cannot_give_roles(coordinator_client, make_user) -> None:
    user = make_user(Role.READER, "stays-reader")
    coordinator_client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "make_admin", "_selected_action": [user.pk]},
    )
    user.refresh_from_db()
    assert not user.is_superuser and user.has_role(Role.READER)
