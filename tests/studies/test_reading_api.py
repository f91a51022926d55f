"""The reading API (/api/v1/): every blinding and permission rule, the designs, practice cases.

Everything goes over HTTP with the test client as the workstation would (session + CSRF, or a
token), against a study over a small imported cohort (2 scans of 3 nodes each).
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.http import Http404
from django.test import Client

from readerstudy.accounts.models import Role
from readerstudy.cohorts.models import CTSeries, CTSlice, Node, Patient, PatientIdentity
from readerstudy.cohorts.services import cohort_import_folder
from readerstudy.studies import selectors, services
from readerstudy.studies.models import (
    ArmCompletion,
    Read,
    ReadEvent,
    ReadingOrderEntry,
    StudyCase,
)
from tests.cohort_factory import write_cohort

pytestmark = pytest.mark.django_db

AIDED = (
    services.ArmSpec("unaided"),
    services.ArmSpec("AI-aided", shows_model_output=True),
)


@pytest.fixture
def cohort(tmp_path: Path):
    return cohort_import_folder(write_cohort(tmp_path / "cohort", name="Springfield neck")).cohort


@pytest.fixture
def make_study(cohort, make_user):
    counter = iter(range(1000))

    def factory(*, readers, open_it=True, practice=0, **options):
        study = services.study_create(
            name=f"Study {next(counter)}", cohorts=[cohort], order_seed=4242, **options
        )
        services.study_assign_readers(study=study, readers=readers)
        if practice:
            cases = study.cases.order_by("pk").values_list("pk", flat=True)[:practice]
            services.study_practice_cases_set(study=study, case_ids=list(cases))
        if open_it:
            services.study_open(study=study)
        study.refresh_from_db()
        return study

    return factory


@pytest.fixture
def reader(make_user):
    return make_user(Role.READER, "reader-a")


@pytest.fixture
def other_reader(make_user):
    return make_user(Role.READER, "reader-b")


class Api:
    """A reader's client speaking JSON to /api/v1/."""

    def __init__(self, user, *, client: Client | None = None) -> None:
        self.client = client or Client()
        self.client.force_login(user)

    def get(self, path: str):
        return self.client.get(f"/api/v1/{path}")

    def put_read(self, study, arm: int, pos: int, **body):
        body.setdefault("idempotency_key", str(uuid.uuid4()))
        return self.client.put(
            f"/api/v1/studies/{study.pk}/arms/{arm}/items/{pos}/read",
            data=json.dumps(body),
            content_type="application/json",
        )

    def finish(self, study):
        return self.client.post(f"/api/v1/studies/{study.pk}/finish")


def _item(api: Api, study, arm: int, pos: int):
    return api.get(f"studies/{study.pk}/arms/{arm}/items/{pos}")


def test_worklist_shows_only_assigned_open_studies_with_progress(
    make_study, reader, other_reader
) -> None:
    mine = make_study(readers=[reader])
    make_study(readers=[reader], open_it=False)  # a draft
    closed = make_study(readers=[reader])
    services.study_close(study=closed)
    make_study(readers=[other_reader])  # not theirs
    api = Api(reader)

    worklist = api.get("worklist").json()
    assert [row["study_id"] for row in worklist] == [mine.pk]
    row = worklist[0]
    assert (row["cases_total"], row["cases_read"], row["items_total"]) == (6, 0, 6)
    assert row["next_item"] == {"arm": 1, "position": 1} and row["next_position"] == 1
    assert row["instructions_url"] == f"/reading/{mine.pk}/instructions"
    assert not row["finished"] and not row["can_finish"]

    assert api.put_read(mine, 1, 1, call="benign").status_code == 201
    row = api.get("worklist").json()[0]
    assert (row["cases_read"], row["next_position"]) == (1, 2)
    # The other reader's progress is their own.
    assert Api(other_reader).get("worklist").json()[0]["cases_read"] == 0


def test_session_describes_the_questions_and_the_state(make_study, reader) -> None:
    study = make_study(readers=[reader], ask_confidence=True, ask_signs=True)
    study.instructions = "Call every outlined node."
    study.save(update_fields=["instructions"])
    session = Api(reader).get(f"studies/{study.pk}/session").json()
    assert session["instructions"] == "Call every outlined node."
    assert [(c["code"], c["key"]) for c in session["calls"]] == [
        ("benign", "1"),
        ("metastasis", "2"),
        ("ene", "3"),
    ]
    assert len(session["signs"]) == 5 and session["ask_confidence"]
    assert session["design"] == "single" and session["randomisation_unit"] == "node"
    assert session["allow_read_changes"] and not session["shows_model_output"]
    assert (session["items_total"], session["items_read"], session["practice_total"]) == (6, 0, 0)
    assert session["next_item"] == {"arm": 1, "position": 1}


def test_an_item_is_labelled_neutrally_and_carries_no_identifier(make_study, reader) -> None:
    study = make_study(readers=[reader])
    api = Api(reader)
    bodies = [api.get("worklist").content, api.get(f"studies/{study.pk}/session").content]
    for pos in range(1, 7):
        response = _item(api, study, 1, pos)
        assert response.status_code == 200
        bodies.append(response.content)
        item = response.json()
        assert item["label"] == f"Case {pos:03d}" and item["case_number"] == pos
        assert item["nodes_in_case"] == 1 and item["ai"] is None and item["read"] is None
        assert item["images_url"] == f"/api/v1/studies/{study.pk}/arms/1/items/{pos}/images"
        assert item["previous"] == (None if pos == 1 else {"arm": 1, "position": pos - 1})
        assert item["next"] == (None if pos == 6 else {"arm": 1, "position": pos + 1})
    bodies.append(api.put_read(study, 1, 1, call="ene").content)
    text = b"\n".join(bodies).decode()
    cohort = study.cohorts.get()
    identifiers = [cohort.name, cohort.institution]
    identifiers += list(Patient.objects.values_list("pseudonym", flat=True))
    for row in PatientIdentity.objects.values_list(
        "source_patient_id", "dicom_patient_id", "dicom_patient_name", "dicom_study_instance_uid"
    ):
        identifiers += [value for value in row if value]
    for row in CTSeries.objects.values_list("study_instance_uid", "series_instance_uid"):
        identifiers += list(row)
    identifiers += list(CTSlice.objects.values_list("sop_instance_uid", flat=True))
    identifiers += [str(f) for f in CTSlice.objects.values_list("file", flat=True)]
    assert len(identifiers) > 20
    leaked = [value for value in identifiers if value in text]
    assert not leaked, f"identifiers in what a reader gets: {leaked}"
    # No key of any answer names a node, patient, series or the reference standard.
    keys = set()
    for body in bodies:
        _collect_keys(json.loads(body), keys)
    assert not keys & {"node", "node_id", "patient", "series", "pseudonym", "reference_call"}


def _collect_keys(value, keys: set) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            keys.add(key)
            _collect_keys(inner, keys)
    elif isinstance(value, list):
        for inner in value:
            _collect_keys(inner, keys)


def test_reads_are_exactly_once_changeable_and_audited(make_study, reader) -> None:
    study = make_study(readers=[reader], ask_confidence=True)
    api = Api(reader)
    key = str(uuid.uuid4())
    first = api.put_read(study, 1, 2, call="metastasis", confidence=60, idempotency_key=key)
    assert first.status_code == 201, first.content
    assert first.json()["changed"] and first.json()["reference"] is None
    # A double click / a retry after a timeout: the stored outcome, nothing written.
    again = api.put_read(study, 1, 2, call="metastasis", confidence=60, idempotency_key=key)
    assert again.status_code == 200 and not again.json()["changed"]
    # The same key for something else: 409 naming what differs, nothing written.
    conflict = api.put_read(study, 1, 2, call="ene", confidence=60, idempotency_key=key)
    assert conflict.status_code == 409 and conflict.json()["differing"] == ["call"]
    # A second tab's later change wins, and is kept in the audit trail.
    change = api.put_read(study, 1, 2, call="ene", confidence=90, active_seconds=4.5)
    assert change.status_code == 200 and change.json()["changed"]
    read = Read.objects.get(reader=reader)
    assert (read.call, read.confidence, read.active_seconds) == ("ene", 90, 4.5)
    assert list(ReadEvent.objects.filter(read=read).values_list("action", flat=True)) == [
        "created",
        "changed",
    ]
    item = _item(api, study, 1, 2).json()
    assert item["read"]["call"] == "ene" and not item["locked"]


def test_bad_input_is_400_per_field_and_changes_nothing(make_study, reader) -> None:
    study = make_study(readers=[reader], ask_confidence=True)
    api = Api(reader)
    for body, field in [
        ({"call": "maybe", "confidence": 5}, "call"),
        ({"call": "benign", "confidence": 101}, "confidence"),
        ({"call": "benign"}, "confidence"),  # the study asks for one
        ({"call": "benign", "confidence": 5, "signs": ["glow"]}, "signs"),
        ({"call": "benign", "confidence": 5, "active_seconds": -1}, "active_seconds"),
        ({"call": "benign", "confidence": 5, "idempotency_key": "nope"}, "idempotency_key"),
    ]:
        response = api.put_read(study, 1, 1, **body)
        assert response.status_code == 400, (body, response.content)
        assert field in response.json(), response.json()
    assert not Read.objects.exists()


def test_finishing_needs_every_case_and_makes_reads_final(make_study, reader) -> None:
    study = make_study(readers=[reader])
    api = Api(reader)
    for pos in range(1, 6):
        assert api.put_read(study, 1, pos, call="benign").status_code == 201
    refused = api.finish(study)
    assert refused.status_code == 400 and refused.json()["unread"] == 1
    assert api.put_read(study, 1, 6, call="ene").status_code == 201
    assert api.get(f"studies/{study.pk}/session").json()["can_finish"]
    finished = api.finish(study)
    assert finished.status_code == 200 and finished.json() == {
        "finished": True,
        "study_finished": True,
    }
    assert api.finish(study).status_code == 200  # again: a no-op
    locked = api.put_read(study, 1, 1, call="ene")
    assert locked.status_code == 403 and "final" in locked.json()["detail"]
    assert _item(api, study, 1, 1).json()["locked"]
    row = api.get("worklist").json()[0]
    assert row["finished"] and row["next_item"] is None and row["cases_read"] == 6


def test_a_study_can_forbid_changing_a_read(make_study, reader) -> None:
    study = make_study(readers=[reader], allow_read_changes=False)
    api = Api(reader)
    key = str(uuid.uuid4())
    assert api.put_read(study, 1, 1, call="benign", idempotency_key=key).status_code == 201
    # A retry of the same submission is not a change: it gets its stored answer.
    assert api.put_read(study, 1, 1, call="benign", idempotency_key=key).status_code == 200
    refused = api.put_read(study, 1, 1, call="ene")
    assert refused.status_code == 403 and "does not allow" in refused.json()["detail"]
    assert Read.objects.get().call == "benign" and _item(api, study, 1, 1).json()["locked"]


def test_a_reader_reaches_only_their_own_items_in_open_studies(
    make_study, reader, other_reader, make_user
) -> None:
    study = make_study(readers=[reader, other_reader])
    lone = make_study(readers=[other_reader])
    api, other = Api(reader), Api(other_reader)
    assert api.put_read(study, 1, 1, call="ene").status_code == 201
    mine = ReadingOrderEntry.objects.get(assignment__reader=reader, arm__position=1, position=1)
    # The other reader's item on the same node shows their own (empty) read, never this one.
    theirs = ReadingOrderEntry.objects.get(
        assignment__reader=other_reader, arm__position=1, case=mine.case
    )
    assert _item(other, study, 1, theirs.position).json()["read"] is None
    assert other.put_read(study, 1, theirs.position, call="benign").status_code == 201
    assert Read.objects.get(reader=reader).call == "ene"

    # Unassigned study, no such arm or position, staff without an assignment: 404.
    assert _item(api, lone, 1, 1).status_code == 404
    assert api.put_read(lone, 1, 1, call="benign").status_code == 404
    assert api.get(f"studies/{lone.pk}/session").status_code == 404
    assert api.finish(lone).status_code == 404
    assert _item(api, study, 3, 1).status_code == 404
    assert _item(api, study, 1, 7).status_code == 404
    for role in (Role.COORDINATOR, Role.STATISTICIAN, Role.ADMIN):
        staff = Api(make_user(role, f"staff-{role}"))
        assert _item(staff, study, 1, 1).status_code == 404
        assert staff.put_read(study, 1, 1, call="benign").status_code == 404
        assert staff.finish(study).status_code == 404
        assert staff.get(f"studies/{study.pk}/session").status_code == 404
        assert staff.get("worklist").json() == []
        assert staff.client.get(f"/reading/{study.pk}/instructions").status_code == 404
    anonymous = Client()
    assert (
        anonymous.put(
            f"/api/v1/studies/{study.pk}/arms/1/items/1/read",
            data={},
            content_type="application/json",
        ).status_code
        == 403
    )
    assert anonymous.post(f"/api/v1/studies/{study.pk}/finish").status_code == 403
    with pytest.raises(Http404):
        selectors.reading_item_get(reader=reader, study_id=lone.pk, arm_position=1, position=1)

    # A closed study: items are gone (404); saving into it is refused (403), nothing written.
    services.study_close(study=study)
    assert _item(api, study, 1, 1).status_code == 404
    assert api.get(f"studies/{study.pk}/session").status_code == 404
    closed = api.put_read(study, 1, 2, call="benign")
    assert closed.status_code == 403 and "closed" in closed.json()["detail"]
    assert Read.objects.count() == 2

    # Not logged in: refused.
    assert Client().get("/api/v1/worklist").status_code == 403


def test_session_needs_csrf_and_scripts_use_a_token(make_study, reader) -> None:
    study = make_study(readers=[reader])
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(reader)
    no_csrf = Api(reader, client=browser).put_read(study, 1, 1, call="benign")
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["detail"]

    token = services_user_token(reader)
    script = Client(enforce_csrf_checks=True)
    response = script.put(
        f"/api/v1/studies/{study.pk}/arms/1/items/1/read",
        data=json.dumps({"call": "benign", "idempotency_key": str(uuid.uuid4())}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    assert response.status_code == 201
    wrong = Client().get("/api/v1/worklist", HTTP_AUTHORIZATION="Token wrong")
    assert wrong.status_code == 403 and "Invalid token" in wrong.json()["detail"]


def services_user_token(user) -> str:
    from readerstudy.accounts.services import user_token_issue

    return user_token_issue(user=user).key


def test_practice_cases_come_first_show_the_reference_and_count_nowhere(make_study, reader) -> None:
    study = make_study(readers=[reader], practice=2)
    api = Api(reader)
    session = api.get(f"studies/{study.pk}/session").json()
    assert (session["practice_total"], session["items_total"]) == (2, 4)
    labels = [_item(api, study, 1, pos).json()["label"] for pos in range(1, 7)]
    assert labels == ["Practice 1", "Practice 2", "Case 001", "Case 002", "Case 003", "Case 004"]
    first = _item(api, study, 1, 1).json()
    assert first["is_practice"] and first["reference"] is None  # not before the call

    saved = api.put_read(study, 1, 1, call="benign").json()
    entry = ReadingOrderEntry.objects.get(assignment__reader=reader, arm__position=1, position=1)
    truth = entry.case.node.reference.call
    assert saved["reference"]["call"] == truth and saved["reference"]["label"]
    assert _item(api, study, 1, 1).json()["reference"]["call"] == truth
    real = api.put_read(study, 1, 3, call="benign").json()
    assert real["reference"] is None and _item(api, study, 1, 3).json()["reference"] is None

    assert Read.objects.count() == 2
    counted = selectors.read_list_for_analysis(study=study)
    assert counted.count() == 1 and not counted.filter(node=entry.case.node).exists()
    assert selectors.study_progress(study=study)[0] == {
        "reader": "R1",
        "arm": "unaided",
        "read": 1,
        "total": 4,
        "simulated": False,
    }
    row = api.get("worklist").json()[0]
    assert (row["items_read"], row["practice_read"], row["cases_total"]) == (1, 1, 4)


def test_practice_is_marked_only_while_draft(make_study, reader) -> None:
    study = make_study(readers=[reader])
    with pytest.raises(services.ValidationError, match="only a draft"):
        services.study_practice_cases_set(study=study, case_ids=[study.cases.first().pk])
    draft = make_study(readers=[reader], open_it=False)
    with pytest.raises(services.ValidationError, match="not practice"):
        services.study_practice_cases_set(
            study=draft, case_ids=list(draft.cases.values_list("pk", flat=True))
        )
    with pytest.raises(services.ValidationError, match="not a case of this study"):
        services.study_practice_cases_set(study=draft, case_ids=[study.cases.first().pk])
    assert not StudyCase.objects.filter(is_practice=True).exists()
    first, second = draft.cases.order_by("pk")[:2]
    assert services.study_practice_cases_set(study=draft, case_ids=[first.pk, second.pk]) == 2
    assert services.study_practice_cases_set(study=draft, case_ids=[second.pk]) == 1
    assert list(StudyCase.objects.filter(is_practice=True)) == [second]
    practice_first = ReadingOrderEntry.objects.get(assignment__study=draft, position=1)
    assert practice_first.case == second


def test_patient_mode_keeps_the_nodes_of_a_scan_together(make_study, reader, other_reader) -> None:
    study = make_study(readers=[reader, other_reader], randomisation_unit="patient")
    entries = list(
        ReadingOrderEntry.objects.filter(assignment__reader=reader, arm__position=1)
        .order_by("position")
        .values_list("case_number", "node_number", "case__node__series_id")
    )
    assert [(c, n) for c, n, _ in entries] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    assert len({series for c, _, series in entries if c == 1}) == 1
    assert {series for c, _, series in entries if c == 1} != {
        series for c, _, series in entries if c == 2
    }
    api = Api(reader)
    item = _item(api, study, 1, 5).json()
    assert item["label"] == "Case 002 - node 2" and item["nodes_in_case"] == 3
    # Reproducible from the seed; another reader has their own order.
    cases = list(study.cases.values_list("pk", "node__series_id"))
    drawn = services.reading_order_cases(
        seed=study.order_seed, reader_code="R1", arm_position=1, cases=cases, unit="patient"
    )
    stored = list(
        ReadingOrderEntry.objects.filter(assignment__reader=reader, arm__position=1)
        .order_by("position")
        .values_list("case_id", flat=True)
    )
    assert [c.case_id for c in drawn] == stored
    orders = {
        code: [
            c.case_id
            for c in services.reading_order_cases(
                seed=study.order_seed, reader_code=code, arm_position=1, cases=cases, unit="patient"
            )
        ]
        for code in ("R1", "R2", "R3", "R4")
    }
    assert len({tuple(order) for order in orders.values()}) > 1


def test_sequential_design_locks_the_unaided_read_once_the_aided_one_starts(
    make_study, reader
) -> None:
    study = make_study(readers=[reader], arms=AIDED, design="sequential")
    api = Api(reader)
    orders = [
        list(
            ReadingOrderEntry.objects.filter(assignment__reader=reader, arm__position=arm)
            .order_by("position")
            .values_list("case_id", flat=True)
        )
        for arm in (1, 2)
    ]
    assert orders[0] == orders[1], "both arms in the same order"

    assert api.get(f"studies/{study.pk}/session").json()["design"] == "sequential"
    early = _item(api, study, 2, 1)
    assert early.status_code == 403 and "unaided" in early.json()["detail"]
    assert api.put_read(study, 2, 1, call="ene").status_code == 403
    unaided = _item(api, study, 1, 1).json()
    assert unaided["next"] == {"arm": 2, "position": 1}
    assert api.put_read(study, 1, 1, call="benign").status_code == 201
    # Still changeable until the aided item is opened.
    assert api.put_read(study, 1, 1, call="metastasis").status_code == 200
    session = api.get(f"studies/{study.pk}/session").json()
    assert session["next_item"] == {"arm": 2, "position": 1} and session["shows_model_output"]

    entry = selectors.reading_item_get(reader=reader, study_id=study.pk, arm_position=2, position=1)
    services.reading_item_mark_ai_shown(entry=entry)
    shown_at = ReadingOrderEntry.objects.get(pk=entry.pk).ai_shown_at
    aided = _item(api, study, 2, 1).json()
    assert aided["previous"] == {"arm": 1, "position": 1}
    assert aided["next"] == {"arm": 1, "position": 2}
    assert aided["ai"] is None  # filled once the model output is wired in
    locked = api.put_read(study, 1, 1, call="ene")
    assert locked.status_code == 403 and "locked" in locked.json()["detail"]
    assert _item(api, study, 1, 1).json()["locked"]
    assert api.put_read(study, 2, 1, call="ene").status_code == 201
    assert Read.objects.get(arm__position=2).ai_shown_at == shown_at
    assert Read.objects.get(arm__position=1).ai_shown_at is None
    services.reading_item_mark_ai_shown(entry=entry)  # idempotent: the first time is kept
    assert ReadingOrderEntry.objects.get(pk=entry.pk).ai_shown_at == shown_at
    assert api.get(f"studies/{study.pk}/session").json()["next_item"] == {
        "arm": 1,
        "position": 2,
    }

    for pos in range(2, 7):
        assert api.put_read(study, 1, pos, call="benign").status_code == 201
        assert _item(api, study, 2, pos).status_code == 200
        assert api.put_read(study, 2, pos, call="benign").status_code == 201
    assert api.finish(study).status_code == 200
    assert ArmCompletion.objects.filter(assignment__reader=reader).count() == 2


def test_independent_arms_open_after_finishing_and_the_washout(make_study, reader) -> None:
    arms = (
        services.ArmSpec("unaided"),
        services.ArmSpec("AI-aided", shows_model_output=True, washout_days=28),
    )
    study = make_study(readers=[reader], arms=arms)
    assert study.design == "independent"
    api = Api(reader)
    refused = _item(api, study, 2, 1)
    assert refused.status_code == 403 and "finish part 1" in refused.json()["detail"]
    for pos in range(1, 7):
        api.put_read(study, 1, pos, call="benign")
    assert api.finish(study).json() == {"finished": True, "study_finished": False}
    session = api.get(f"studies/{study.pk}/session").json()
    assert session["arm_position"] == 2 and not session["available"]
    assert session["next_item"] is None and session["opens_at"]
    assert _item(api, study, 2, 1).status_code == 403
    assert api.put_read(study, 2, 1, call="ene").status_code == 403

    ArmCompletion.objects.filter(arm__position=1).update(
        finished_at=ArmCompletion.objects.get().finished_at - timedelta(days=29)
    )
    session = api.get(f"studies/{study.pk}/session").json()
    assert session["available"] and session["next_item"] == {"arm": 2, "position": 1}
    assert _item(api, study, 2, 1).status_code == 200
    assert api.put_read(study, 2, 1, call="ene").status_code == 201
    # Arm 1 is final.
    assert api.put_read(study, 1, 1, call="ene").status_code == 403


def test_designs_are_checked_against_the_arms(cohort) -> None:
    for arms, design, message in [
        (AIDED, "single", "one arm"),
        (AIDED[:1], "independent", "at least two"),
        (AIDED[:1], "sequential", "two arms"),
        ((AIDED[1], AIDED[0]), "sequential", "unaided first"),
        (AIDED, "crossover", "unknown design"),
    ]:
        with pytest.raises(services.ValidationError, match=message):
            services.study_create(name="x", cohorts=[cohort], arms=arms, design=design)
    with pytest.raises(services.ValidationError, match="unknown unit"):
        services.study_create(name="y", cohorts=[cohort], randomisation_unit="series")


def test_node_mode_order_is_the_documented_reproducible_order(make_study, reader) -> None:
    study = make_study(readers=[reader])
    case_ids = list(study.cases.values_list("pk", flat=True))
    stored = list(
        ReadingOrderEntry.objects.filter(assignment__reader=reader)
        .order_by("position")
        .values_list("case_id", flat=True)
    )
    assert stored == services.reading_order_for(
        seed=study.order_seed, reader_code="R1", arm_position=1, case_ids=case_ids
    )
    assert Node.objects.count() == 6
