"""Writes for reader studies: creating a study, assigning readers, ordering cases, recording reads."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC

import numpy as np
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from readerstudy.accounts.models import Role, User
from readerstudy.cohorts.models import Cohort, Node, NodeCall
from readerstudy.studies.models import (
    ImagingSign,
    Read,
    ReaderAssignment,
    ReaderStudy,
    ReadEvent,
    ReadEventAction,
    ReadingArm,
    ReadingOrderEntry,
    StudyCase,
    StudyStatus,
)


@dataclass(frozen=True)
class ArmSpec:
    name: str
    shows_model_output: bool = False
    washout_days: int = 0


DEFAULT_ARMS = (ArmSpec(name="unaided"),)


@transaction.atomic
def study_create(
    *,
    name: str,
    cohorts: Sequence[Cohort],
    created_by: User | None = None,
    description: str = "",
    instructions: str = "",
    arms: Sequence[ArmSpec] = DEFAULT_ARMS,
    ask_confidence: bool = False,
    ask_signs: bool = False,
    order_seed: int | None = None,
    nodes: Iterable[Node] | None = None,
) -> ReaderStudy:
    """Create a draft study over all nodes of ``cohorts`` (or the given subset of them)."""
    if not cohorts:
        raise ValidationError({"cohorts": "a study needs at least one cohort"})
    if not arms:
        raise ValidationError({"arms": "a study needs at least one reading arm"})
    seed = int(order_seed if order_seed is not None else uuid.uuid4().int % (2**62))
    study = ReaderStudy.objects.create(
        name=name,
        description=description,
        instructions=instructions,
        ask_confidence=ask_confidence,
        ask_signs=ask_signs,
        order_seed=seed,
        created_by=created_by,
    )
    study.cohorts.set(cohorts)
    cohort_ids = {c.pk for c in cohorts}
    if nodes is None:
        selected = Node.objects.filter(series__patient__cohort__in=cohort_ids)
    else:
        selected = list(nodes)
        outside = [n for n in selected if n.series.patient.cohort_id not in cohort_ids]
        if outside:
            raise ValidationError({"nodes": f"node {outside[0]} is not in the study's cohorts"})
    StudyCase.objects.bulk_create(StudyCase(study=study, node=node) for node in selected)
    for position, arm in enumerate(arms, start=1):
        ReadingArm.objects.create(
            study=study,
            name=arm.name,
            position=position,
            shows_model_output=arm.shows_model_output,
            washout_days=arm.washout_days,
        )
    return study


def _require_draft(study: ReaderStudy) -> None:
    if study.status != StudyStatus.DRAFT:
        raise ValidationError(
            f"study {study.name!r} is {study.status}; only a draft can be changed"
        )


@transaction.atomic
def study_assign_readers(*, study: ReaderStudy, readers: Sequence[User]) -> list[ReaderAssignment]:
    """Assign readers (codes R1, R2, ... in the given order) and draw their reading orders."""
    study = ReaderStudy.objects.select_for_update().get(pk=study.pk)
    _require_draft(study)
    assignments = []
    next_code = study.assignments.count() + 1
    for reader in readers:
        if not reader.has_role(Role.READER):
            raise ValidationError({"readers": f"{reader.username} does not have the reader role"})
        assignment, created = ReaderAssignment.objects.get_or_create(
            study=study, reader=reader, defaults={"code": f"R{next_code}"}
        )
        if created:
            next_code += 1
        assignments.append(assignment)
    _reading_orders_draw(study=study)
    return assignments


def reading_order_for(
    *, seed: int, reader_code: str, arm_position: int, case_ids: Sequence[int]
) -> list[int]:
    """The randomised order of ``case_ids`` for one reader and arm, reproducible from the seed.

    Each (study seed, reader code, arm) gets its own stream, so adding a reader does not change
    anyone else's order.
    """
    code_number = int.from_bytes(reader_code.encode(), "big")
    rng = np.random.default_rng([seed, code_number, arm_position])
    ordered = sorted(case_ids)
    return [ordered[i] for i in rng.permutation(len(ordered))]


def _reading_orders_draw(*, study: ReaderStudy) -> None:
    case_ids = list(study.cases.values_list("pk", flat=True))
    arms = list(study.arms.all())
    ReadingOrderEntry.objects.filter(assignment__study=study).delete()
    entries = []
    for assignment in study.assignments.all():
        for arm in arms:
            order = reading_order_for(
                seed=study.order_seed,
                reader_code=assignment.code,
                arm_position=arm.position,
                case_ids=case_ids,
            )
            entries.extend(
                ReadingOrderEntry(assignment=assignment, arm=arm, position=i, case_id=case_id)
                for i, case_id in enumerate(order, start=1)
            )
    ReadingOrderEntry.objects.bulk_create(entries, batch_size=2000)


@transaction.atomic
def study_open(*, study: ReaderStudy) -> ReaderStudy:
    study = ReaderStudy.objects.select_for_update().get(pk=study.pk)
    _require_draft(study)
    if not study.assignments.exists():
        raise ValidationError("assign at least one reader before opening the study")
    if not study.cases.exists():
        raise ValidationError("the study has no cases")
    study.status = StudyStatus.OPEN
    study.opened_at = timezone.now()
    study.save(update_fields=["status", "opened_at"])
    return study


@transaction.atomic
def study_close(*, study: ReaderStudy) -> ReaderStudy:
    study = ReaderStudy.objects.select_for_update().get(pk=study.pk)
    if study.status != StudyStatus.OPEN:
        raise ValidationError(
            f"study {study.name!r} is {study.status}; only an open study can be closed"
        )
    study.status = StudyStatus.CLOSED
    study.closed_at = timezone.now()
    study.save(update_fields=["status", "closed_at"])
    return study


def _read_values(read: Read) -> dict:
    return {
        "call": read.call,
        "confidence": read.confidence,
        "signs": list(read.signs),
        "active_seconds": read.active_seconds,
    }


def _validate_read_input(
    *, study: ReaderStudy, call: str, confidence: int | None, signs: Sequence[str]
) -> list[str]:
    if call not in NodeCall.values:
        raise ValidationError(
            {"call": f"unknown call {call!r}; expected one of {', '.join(NodeCall.values)}"}
        )
    if confidence is not None:
        if not study.ask_confidence:
            raise ValidationError({"confidence": "this study does not ask for a confidence"})
        if not 0 <= confidence <= 100:
            raise ValidationError({"confidence": f"must be 0-100, got {confidence}"})
    elif study.ask_confidence:
        raise ValidationError({"confidence": "this study asks for a confidence from 0 to 100"})
    signs = list(dict.fromkeys(signs))
    if signs and not study.ask_signs:
        raise ValidationError({"signs": "this study does not ask for imaging signs"})
    unknown = [s for s in signs if s not in ImagingSign.values]
    if unknown:
        raise ValidationError({"signs": f"unknown sign {unknown[0]!r}"})
    return signs


class ReadSubmissionConflict(Exception):
    """An idempotency key already recorded a different submission; nothing was recorded.

    A key identifies one submission: repeating it with the same payload (a retry after a lost
    response) returns the stored outcome, but reusing it for another node, arm, call,
    confidence, signs or time on task would silently drop the new call. An API maps this
    exception to HTTP 409 Conflict; the client must send the new submission with a new key.
    """

    def __init__(self, *, idempotency_key: uuid.UUID, differing: Sequence[str]) -> None:
        self.idempotency_key = idempotency_key
        self.differing = tuple(differing)
        super().__init__(
            f"submission key {idempotency_key} was already used for a different submission "
            f"(differs in: {', '.join(self.differing)}); send a new submission with a new key"
        )


def _submission(
    *,
    arm: ReadingArm,
    node: Node,
    call: str,
    confidence: int | None,
    signs: Sequence[str],
    active_seconds: float,
    started_at,
) -> dict:
    """What a client sent, normalised (sign order does not matter), as stored on the event."""
    try:
        seconds = float(active_seconds)
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ValidationError(
            {"active_seconds": f"must be a non-negative number of seconds, got {active_seconds!r}"}
        )
    if started_at is not None and timezone.is_aware(started_at):
        started_at = started_at.astimezone(UTC)
    return {
        "node": node.pk,
        "arm": arm.pk,
        "call": call,
        "confidence": confidence,
        "signs": sorted({str(sign) for sign in signs}),
        "active_seconds": seconds,
        "started_at": None if started_at is None else started_at.isoformat(),
    }


def _stored_outcome(
    *, event: ReadEvent, reader: User, submission: dict, idempotency_key: uuid.UUID
) -> tuple[Read, bool]:
    """The answer to a repeated key: the stored read if it is the same submission, else refuse."""
    if event.actor_id != reader.pk:
        raise PermissionDenied("this submission key belongs to another reader")
    differing = [
        field
        for field, value in submission.items()
        if field in event.submission and event.submission[field] != value
    ]
    if differing:
        raise ReadSubmissionConflict(idempotency_key=idempotency_key, differing=differing)
    return event.read, False


def read_submit(
    *,
    reader: User,
    arm: ReadingArm,
    node: Node,
    call: str,
    idempotency_key: uuid.UUID,
    confidence: int | None = None,
    signs: Sequence[str] = (),
    active_seconds: float = 0.0,
    started_at=None,
) -> tuple[Read, bool]:
    """Record or change a reader's call on a node in an arm. Returns (read, changed).

    Exactly-once: a submission is identified by the client's ``idempotency_key``; repeating it
    (a retry after a lost response, a double click) returns the stored read and ``changed=False``
    without a second write, whatever else races with it. Reusing a key for a different
    submission raises :class:`ReadSubmissionConflict` and records nothing. A new key for an
    existing (reader, node, arm) changes the read and adds an audit event. Only an assigned
    reader of an open study may read a node included in it.

    Concurrency: all submissions for one (reader, node, arm) are serialised on that reader's
    ReadingOrderEntry row for the case (it exists for every assigned case), locked before the
    key is looked up; so copies of one submission, and the creation of the read, never race.
    The one race left, one key sent for two different reads at once, ends in a unique-key
    violation for the later one, which then finds the stored key and is refused as a conflict.
    """
    submission = _submission(
        arm=arm,
        node=node,
        call=call,
        confidence=confidence,
        signs=signs,
        active_seconds=active_seconds,
        started_at=started_at,
    )
    arguments = dict(
        reader=reader,
        arm=arm,
        node=node,
        call=call,
        idempotency_key=idempotency_key,
        confidence=confidence,
        signs=signs,
        active_seconds=active_seconds,
        started_at=started_at,
        submission=submission,
    )
    try:
        return _read_submit(**arguments)
    except IntegrityError:
        # Only a key that another read's submission stored concurrently gets here (see above);
        # that transaction has committed, so the second attempt finds it and answers for it.
        return _read_submit(**arguments)


@transaction.atomic
def _read_submit(
    *,
    reader: User,
    arm: ReadingArm,
    node: Node,
    call: str,
    idempotency_key: uuid.UUID,
    confidence: int | None,
    signs: Sequence[str],
    active_seconds: float,
    started_at,
    submission: dict,
) -> tuple[Read, bool]:
    # The lock first: the key lookup below must see what an earlier holder committed.
    order_entry = (
        ReadingOrderEntry.objects.select_for_update(no_key=True, of=("self",))
        .filter(arm=arm, assignment__reader=reader, case__node=node)
        .only("pk")
        .first()
    )
    previous_event = (
        ReadEvent.objects.select_related("read").filter(idempotency_key=idempotency_key).first()
    )
    if previous_event is not None:
        return _stored_outcome(
            event=previous_event,
            reader=reader,
            submission=submission,
            idempotency_key=idempotency_key,
        )
    # Fresh from the database: a cached arm.study may predate the study being closed.
    study = ReaderStudy.objects.get(pk=arm.study_id)
    if study.status != StudyStatus.OPEN:
        raise ValidationError(f"study {study.name!r} is {study.status}, not open for reading")
    if order_entry is None:
        if not ReaderAssignment.objects.filter(study=study, reader=reader).exists():
            raise PermissionDenied("you are not a reader of this study")
        raise ValidationError({"node": "this node is not part of the study"})
    clean_signs = _validate_read_input(study=study, call=call, confidence=confidence, signs=signs)

    read = Read.objects.select_for_update().filter(reader=reader, node=node, arm=arm).first()
    if read is None:
        read = Read.objects.create(
            reader=reader,
            node=node,
            arm=arm,
            call=call,
            confidence=confidence,
            signs=clean_signs,
            active_seconds=submission["active_seconds"],
            started_at=started_at,
            idempotency_key=idempotency_key,
        )
        ReadEvent.objects.create(
            read=read,
            action=ReadEventAction.CREATED,
            actor=reader,
            idempotency_key=idempotency_key,
            submission=submission,
            before=None,
            after=_read_values(read),
        )
        return read, True
    before = _read_values(read)
    read.call = call
    read.confidence = confidence
    read.signs = clean_signs
    # Time on task accumulates over every visit to the case.
    read.active_seconds = read.active_seconds + submission["active_seconds"]
    read.save()
    ReadEvent.objects.create(
        read=read,
        action=ReadEventAction.CHANGED,
        actor=reader,
        idempotency_key=idempotency_key,
        submission=submission,
        before=before,
        after=_read_values(read),
    )
    return read, True


@transaction.atomic
def study_update(
    *,
    study: ReaderStudy,
    name: str | None = None,
    description: str | None = None,
    instructions: str | None = None,
    ask_confidence: bool | None = None,
    ask_signs: bool | None = None,
) -> ReaderStudy:
    """Change a draft study's texts and questions (what readers are asked is fixed once open)."""
    study = ReaderStudy.objects.select_for_update().get(pk=study.pk)
    _require_draft(study)
    changes = {
        "name": name,
        "description": description,
        "instructions": instructions,
        "ask_confidence": ask_confidence,
        "ask_signs": ask_signs,
    }
    fields = [field for field, value in changes.items() if value is not None]
    for field in fields:
        setattr(study, field, changes[field])
    if "name" in fields and ReaderStudy.objects.exclude(pk=study.pk).filter(name=name).exists():
        raise ValidationError({"name": f"a study named {name!r} exists"})
    study.save(update_fields=fields)
    return study


@transaction.atomic
def study_unassign_reader(*, study: ReaderStudy, reader: User) -> None:
    """Take a reader off a draft study (their reading order goes with them)."""
    study = ReaderStudy.objects.select_for_update().get(pk=study.pk)
    _require_draft(study)
    ReaderAssignment.objects.filter(study=study, reader=reader).delete()
