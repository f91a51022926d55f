"""Reader studies: database constraints, reading orders, and exactly-once reads with an audit trail."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from readerstudy.accounts.models import Role
from readerstudy.cohorts.models import Node
from readerstudy.cohorts.services import cohort_import_folder
from readerstudy.studies import selectors, services
from readerstudy.studies.models import Read, ReadEvent, ReadingOrderEntry, StudyStatus
from tests.cohort_factory import write_cohort

pytestmark = pytest.mark.django_db


@pytest.fixture
def cohort(tmp_path: Path):
    return cohort_import_folder(write_cohort(tmp_path / "cohort")).cohort


@pytest.fixture
def open_study(cohort, make_user):
    readers = [make_user(Role.READER, f"reader{i}") for i in range(1, 4)]
    study = services.study_create(
        name="ENE study",
        cohorts=[cohort],
        arms=[
            services.ArmSpec("unaided"),
            services.ArmSpec("AI-aided", shows_model_output=True, washout_days=28),
        ],
        ask_confidence=True,
        ask_signs=True,
        order_seed=12345,
    )
    services.study_assign_readers(study=study, readers=readers)
    services.study_open(study=study)
    study.refresh_from_db()
    return study, readers


def test_duplicate_node_label_in_a_series_is_rejected_by_the_database(cohort) -> None:
    node = Node.objects.filter(series__patient__cohort=cohort).first()
    duplicate = Node(
        series=node.series,
        label=node.label,
        mask_label=99,
        level="II",
        side="left",
        voxel_count=1,
        centroid_voxel=[0, 0, 0],
        centroid_mm=[0, 0, 0],
        bbox=[0, 0, 0, 1, 1, 1],
        short_axis_mm=1,
        long_axis_mm=1,
        volume_mm3=1,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


def test_duplicate_read_is_rejected_by_the_database(open_study) -> None:
    study, readers = open_study
    arm = study.arms.get(position=1)
    node = study.cases.first().node
    Read.objects.create(arm=arm, reader=readers[0], node=node, call="benign")
    with pytest.raises(IntegrityError), transaction.atomic():
        Read.objects.create(arm=arm, reader=readers[0], node=node, call="ene")
    # The same node in the other arm is a different read.
    Read.objects.create(arm=study.arms.get(position=2), reader=readers[0], node=node, call="ene")


def test_reading_orders_are_random_per_reader_and_reproducible(open_study) -> None:
    study, readers = open_study
    arm = study.arms.get(position=1)
    orders = {
        reader.username: list(
            ReadingOrderEntry.objects.filter(assignment__reader=reader, arm=arm).values_list(
                "case_id", flat=True
            )
        )
        for reader in readers
    }
    case_ids = sorted(study.cases.values_list("pk", flat=True))
    for order in orders.values():
        assert sorted(order) == case_ids
    assert len({tuple(o) for o in orders.values()}) > 1, "readers should not share one order"
    codes = dict(study.assignments.values_list("reader__username", "code"))
    again = services.reading_order_for(
        seed=study.order_seed, reader_code=codes["reader1"], arm_position=1, case_ids=case_ids
    )
    assert again == orders["reader1"]


def test_read_submit_is_exactly_once_and_audited(open_study) -> None:
    study, readers = open_study
    arm = study.arms.get(position=1)
    node = study.cases.first().node
    key = uuid.uuid4()
    read, changed = services.read_submit(
        reader=readers[0],
        arm=arm,
        node=node,
        call="metastasis",
        confidence=70,
        signs=["central_necrosis"],
        active_seconds=12.5,
        idempotency_key=key,
    )
    assert changed
    # A retry with the same key (the response was lost) records nothing new.
    again, changed_again = services.read_submit(
        reader=readers[0],
        arm=arm,
        node=node,
        call="metastasis",
        confidence=70,
        signs=["central_necrosis"],
        active_seconds=12.5,
        idempotency_key=key,
    )
    assert not changed_again and again.pk == read.pk
    assert Read.objects.count() == 1 and ReadEvent.objects.count() == 1
    assert again.active_seconds == 12.5

    services.read_submit(
        reader=readers[0],
        arm=arm,
        node=node,
        call="ene",
        confidence=85,
        signs=["central_necrosis", "perinodal_fat_stranding"],
        active_seconds=5,
        idempotency_key=uuid.uuid4(),
    )
    read.refresh_from_db()
    assert read.call == "ene" and read.confidence == 85 and read.active_seconds == 17.5
    events = list(ReadEvent.objects.filter(read=read).order_by("at", "pk"))
    assert [e.action for e in events] == ["created", "changed"]
    assert events[1].before["call"] == "metastasis" and events[1].after["call"] == "ene"


def test_read_submit_guards(open_study, make_user) -> None:
    study, readers = open_study
    arm = study.arms.get(position=1)
    node = study.cases.first().node
    outsider = make_user(Role.READER, "outsider")
    with pytest.raises(PermissionDenied):
        services.read_submit(
            reader=outsider,
            arm=arm,
            node=node,
            call="benign",
            confidence=1,
            idempotency_key=uuid.uuid4(),
        )
    with pytest.raises(ValidationError, match="unknown call"):
        services.read_submit(
            reader=readers[0],
            arm=arm,
            node=node,
            call="maybe",
            confidence=1,
            idempotency_key=uuid.uuid4(),
        )
    with pytest.raises(ValidationError, match="0-100"):
        services.read_submit(
            reader=readers[0],
            arm=arm,
            node=node,
            call="benign",
            confidence=101,
            idempotency_key=uuid.uuid4(),
        )
    with pytest.raises(ValidationError, match="asks for a confidence"):
        services.read_submit(
            reader=readers[0], arm=arm, node=node, call="benign", idempotency_key=uuid.uuid4()
        )
    with pytest.raises(ValidationError, match="unknown sign"):
        services.read_submit(
            reader=readers[0],
            arm=arm,
            node=node,
            call="benign",
            confidence=5,
            signs=["glow"],
            idempotency_key=uuid.uuid4(),
        )
    for seconds in (-1, float("nan"), "soon"):
        with pytest.raises(ValidationError, match="non-negative number of seconds"):
            services.read_submit(
                reader=readers[0],
                arm=arm,
                node=node,
                call="benign",
                confidence=5,
                active_seconds=seconds,
                idempotency_key=uuid.uuid4(),
            )
    key = uuid.uuid4()
    services.read_submit(
        reader=readers[0], arm=arm, node=node, call="benign", confidence=5, idempotency_key=key
    )
    with pytest.raises(PermissionDenied, match="another reader"):
        services.read_submit(
            reader=readers[1], arm=arm, node=node, call="benign", confidence=5, idempotency_key=key
        )
    services.study_close(study=study)
    with pytest.raises(ValidationError, match="not open"):
        services.read_submit(
            reader=readers[0],
            arm=arm,
            node=node,
            call="ene",
            confidence=5,
            idempotency_key=uuid.uuid4(),
        )
    assert Read.objects.count() == 1


def test_study_lifecycle_and_reader_visibility(cohort, make_user) -> None:
    reader = make_user(Role.READER, "r1")
    coordinator = make_user(Role.COORDINATOR, "c1")
    study = services.study_create(name="Draft", cohorts=[cohort], order_seed=1)
    with pytest.raises(ValidationError, match="assign at least one reader"):
        services.study_open(study=study)
    with pytest.raises(ValidationError, match="reader role"):
        services.study_assign_readers(study=study, readers=[coordinator])
    services.study_assign_readers(study=study, readers=[reader])
    services.study_open(study=study)
    study.refresh_from_db()
    assert study.status == StudyStatus.OPEN
    with pytest.raises(ValidationError, match="only a draft"):
        services.study_assign_readers(study=study, readers=[reader])
    assert list(selectors.study_list(user=reader)) == [study]
    other = make_user(Role.READER, "r2")
    assert list(selectors.study_list(user=other)) == []
    worklist = list(selectors.reader_worklist(reader=reader, arm=study.arms.get()))
    assert len(worklist) == 6 and not any(entry.is_read for entry in worklist)


def test_roles_have_the_intended_permissions(make_user) -> None:
    reader = make_user(Role.READER)
    coordinator = make_user(Role.COORDINATOR)
    statistician = make_user(Role.STATISTICIAN)
    assert not reader.has_perm("cohorts.view_referencestandard")
    assert not reader.has_perm("studies.view_read")
    assert not reader.is_staff
    assert coordinator.has_perm("cohorts.view_patientidentity") and coordinator.is_staff
    assert statistician.has_perm("studies.view_read") and statistician.has_perm(
        "cohorts.view_referencestandard"
    )
    assert not statistician.has_perm("cohorts.view_patientidentity")


def test_progress_and_worklist_follow_the_reads(open_study) -> None:
    study, readers = open_study
    arm = study.arms.get(position=1)
    first_entry = selectors.reader_worklist(reader=readers[0], arm=arm).first()
    services.read_submit(
        reader=readers[0],
        arm=arm,
        node=first_entry.case.node,
        call="benign",
        confidence=10,
        idempotency_key=uuid.uuid4(),
    )
    worklist = list(selectors.reader_worklist(reader=readers[0], arm=arm))
    assert [entry.is_read for entry in worklist] == [True] + [False] * 5
    assert not any(e.is_read for e in selectors.reader_worklist(reader=readers[1], arm=arm))
    progress = {
        (row["reader"], row["arm"]): (row["read"], row["total"])
        for row in selectors.study_progress(study=study)
    }
    assert progress[("R1", "unaided")] == (1, 6)
    assert progress[("R1", "AI-aided")] == (0, 6)
    assert progress[("R2", "unaided")] == (0, 6)
    assert len(progress) == 3 * 2


def test_a_key_reused_for_a_different_submission_is_refused(open_study) -> None:
    study, readers = open_study
    arm, other_arm = study.arms.get(position=1), study.arms.get(position=2)
    first_node, second_node = (case.node for case in study.cases.order_by("pk")[:2])
    key = uuid.uuid4()
    submission = dict(
        reader=readers[0],
        arm=arm,
        node=first_node,
        call="metastasis",
        confidence=60,
        signs=["central_necrosis", "matting"],
        active_seconds=4.5,
        idempotency_key=key,
    )
    read, changed = services.read_submit(**submission)
    assert changed
    # A true retry (sign order does not matter) gets the stored outcome.
    again, changed = services.read_submit(
        **{**submission, "signs": ["matting", "central_necrosis"]}
    )
    assert again.pk == read.pk and not changed

    for difference, field in [
        ({"node": second_node}, "node"),
        ({"arm": other_arm}, "arm"),
        ({"call": "ene"}, "call"),
        ({"confidence": 61}, "confidence"),
        ({"signs": ["central_necrosis"]}, "signs"),
        ({"active_seconds": 9.0}, "active_seconds"),
    ]:
        with pytest.raises(services.ReadSubmissionConflict, match=field) as raised:
            services.read_submit(**{**submission, **difference})
        assert raised.value.differing == (field,) and raised.value.idempotency_key == key
    assert Read.objects.count() == 1 and ReadEvent.objects.count() == 1
    read.refresh_from_db()
    assert (read.node_id, read.call, read.confidence, read.active_seconds) == (
        first_node.pk,
        "metastasis",
        60,
        4.5,
    )


def test_events_recorded_before_submissions_were_stored_are_backfilled(open_study) -> None:
    """The migration fills what can be rebuilt exactly; a retry of such a key still matches."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("readerstudy.studies.migrations.0002_read_event_submission")
    study, readers = open_study
    arm = study.arms.get(position=1)
    node = study.cases.first().node
    key = uuid.uuid4()
    submission = dict(
        reader=readers[0],
        arm=arm,
        node=node,
        call="ene",
        confidence=80,
        signs=["matting", "central_necrosis"],
        active_seconds=3.0,
        idempotency_key=key,
    )
    read, _ = services.read_submit(**submission)
    ReadEvent.objects.update(submission={})  # as before the field existed

    migration.backfill_submissions(apps, None)
    event = ReadEvent.objects.get()
    assert event.submission == {
        "node": node.pk,
        "arm": arm.pk,
        "call": "ene",
        "confidence": 80,
        "signs": ["central_necrosis", "matting"],
    }
    assert services.read_submit(**submission) == (read, False)
    with pytest.raises(services.ReadSubmissionConflict, match="call"):
        services.read_submit(**{**submission, "call": "benign"})
