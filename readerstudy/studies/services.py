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
from readerstudy.studies import selectors
from readerstudy.studies.models import (
    ArmCompletion,
    ImagingSign,
    RandomisationUnit,
    Read,
    ReaderAssignment,
    ReaderStudy,
    ReadEvent,
    ReadEventAction,
    ReadingArm,
    ReadingOrderEntry,
    StudyCase,
    StudyDesign,
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
    design: str | None = None,
    randomisation_unit: str = RandomisationUnit.NODE,
    allow_read_changes: bool = True,
) -> ReaderStudy:
    """Create a draft study over all nodes of ``cohorts`` (or the given subset of them).

    ``design`` defaults to "single" for one arm and "independent" for several; "sequential"
    needs exactly two arms, the second (and only it) showing the model output.
    """
    if not cohorts:
        raise ValidationError({"cohorts": "a study needs at least one cohort"})
    if not arms:
        raise ValidationError({"arms": "a study needs at least one reading arm"})
    design = design or (StudyDesign.SINGLE if len(arms) == 1 else StudyDesign.INDEPENDENT)
    _validate_design(design=design, arms=arms)
    if randomisation_unit not in RandomisationUnit.values:
        raise ValidationError(
            {
                "randomisation_unit": f"unknown unit {randomisation_unit!r}; expected one of "
                f"{', '.join(RandomisationUnit.values)}"
            }
        )
    seed = int(order_seed if order_seed is not None else uuid.uuid4().int % (2**62))
    study = ReaderStudy.objects.create(
        name=name,
        description=description,
        instructions=instructions,
        ask_confidence=ask_confidence,
        ask_signs=ask_signs,
        order_seed=seed,
        created_by=created_by,
        design=design,
        randomisation_unit=randomisation_unit,
        allow_read_changes=allow_read_changes,
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


def _validate_design(*, design: str, arms: Sequence[ArmSpec]) -> None:
    if design not in StudyDesign.values:
        raise ValidationError(
            {
                "design": f"unknown design {design!r}; expected one of {', '.join(StudyDesign.values)}"
            }
        )
    if design == StudyDesign.SINGLE and len(arms) != 1:
        raise ValidationError({"design": f"a single-arm design has one arm, got {len(arms)}"})
    if design == StudyDesign.INDEPENDENT and len(arms) < 2:
        raise ValidationError({"design": "an independent design needs at least two arms"})
    if design == StudyDesign.SEQUENTIAL:
        if len(arms) != 2 or arms[0].shows_model_output or not arms[1].shows_model_output:
            raise ValidationError(
                {
                    "design": "a sequential design has two arms: unaided first, then one showing "
                    "the model output"
                }
            )
        if arms[1].washout_days:
            raise ValidationError(
                {"design": "a sequential design reads both arms in one sitting: no washout"}
            )


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


def _order_rng(
    *, seed: int, reader_code: str, arm_position: int, stream: int
) -> np.random.Generator:
    code_number = int.from_bytes(reader_code.encode(), "big")
    # Stream 0 keeps the seed sequence of the first version, so existing orders are unchanged.
    entropy = [seed, code_number, arm_position] + ([stream] if stream else [])
    return np.random.default_rng(entropy)


def reading_order_for(
    *, seed: int, reader_code: str, arm_position: int, case_ids: Sequence[int], stream: int = 0
) -> list[int]:
    """The randomised order of ``case_ids`` for one reader and arm, reproducible from the seed.

    Each (study seed, reader code, arm, stream) gets its own random stream, so adding a reader
    does not change anyone else's order; practice cases are drawn from stream 1, the study's
    cases from stream 0.
    """
    rng = _order_rng(seed=seed, reader_code=reader_code, arm_position=arm_position, stream=stream)
    ordered = sorted(case_ids)
    return [ordered[i] for i in rng.permutation(len(ordered))]


@dataclass(frozen=True)
class OrderedCase:
    case_id: int
    case_number: int
    node_number: int


def reading_order_cases(
    *,
    seed: int,
    reader_code: str,
    arm_position: int,
    cases: Sequence[tuple[int, int]],
    unit: str,
    stream: int = 0,
) -> list[OrderedCase]:
    """One reader's order of ``cases`` ((case id, scan id) pairs) with their neutral numbers.

    Node mode: every node is its own case, in the order of ``reading_order_for``. Patient mode:
    the scans in random order, and the nodes of each scan one after another in random order,
    numbered "case N, node k".
    """
    if unit == RandomisationUnit.NODE:
        order = reading_order_for(
            seed=seed,
            reader_code=reader_code,
            arm_position=arm_position,
            case_ids=[case_id for case_id, _ in cases],
            stream=stream,
        )
        return [OrderedCase(case_id, number, 1) for number, case_id in enumerate(order, start=1)]
    rng = _order_rng(seed=seed, reader_code=reader_code, arm_position=arm_position, stream=stream)
    scans: dict[int, list[int]] = {}
    for case_id, scan_id in cases:
        scans.setdefault(scan_id, []).append(case_id)
    groups = sorted(sorted(ids) for ids in scans.values())
    ordered: list[OrderedCase] = []
    for number, group_index in enumerate(rng.permutation(len(groups)), start=1):
        group = groups[group_index]
        ordered.extend(
            OrderedCase(group[i], number, node_number)
            for node_number, i in enumerate(rng.permutation(len(group)), start=1)
        )
    return ordered


def _reading_orders_draw(*, study: ReaderStudy) -> None:
    """Every reader's order for every arm: practice cases first, then the study's cases.

    In the sequential design both arms share the reader's order (drawn from arm 1's stream):
    the AI-aided read of a node follows its unaided read in the same sitting.
    """
    cases = list(study.cases.values_list("pk", "node__series_id", "is_practice"))
    practice = [(pk, scan) for pk, scan, is_practice in cases if is_practice]
    main = [(pk, scan) for pk, scan, is_practice in cases if not is_practice]
    arms = list(study.arms.all())
    ReadingOrderEntry.objects.filter(assignment__study=study).delete()
    entries = []
    for assignment in study.assignments.all():
        for arm in arms:
            stream_arm = 1 if study.design == StudyDesign.SEQUENTIAL else arm.position
            ordered = [
                ordered_case
                for stream, group in ((1, practice), (0, main))
                for ordered_case in reading_order_cases(
                    seed=study.order_seed,
                    reader_code=assignment.code,
                    arm_position=stream_arm,
                    cases=group,
                    unit=study.randomisation_unit,
                    stream=stream,
                )
            ]
            entries.extend(
                ReadingOrderEntry(
                    assignment=assignment,
                    arm=arm,
                    position=position,
                    case_id=item.case_id,
                    case_number=item.case_number,
                    node_number=item.node_number,
                )
                for position, item in enumerate(ordered, start=1)
            )
    ReadingOrderEntry.objects.bulk_create(entries, batch_size=2000)


@transaction.atomic
def study_cases_mark_practice(
    *, study: ReaderStudy, case_ids: Iterable[int], is_practice: bool = True
) -> int:
    """Mark (or unmark) cases of a draft study as practice; readers' orders are drawn again.

    Practice cases are read first, show the reference standard after each call and are left
    out of every analysis (``selectors.read_list_for_analysis``). Returns the cases changed.
    """
    study = ReaderStudy.objects.select_for_update().get(pk=study.pk)
    _require_draft(study)
    wanted = set(case_ids)
    found = set(study.cases.filter(pk__in=wanted).values_list("pk", flat=True))
    if wanted - found:
        raise ValidationError({"cases": f"case {min(wanted - found)} is not a case of this study"})
    changed = study.cases.filter(pk__in=found).exclude(is_practice=is_practice)
    count = changed.update(is_practice=is_practice)
    if not study.cases.filter(is_practice=False).exists():
        raise ValidationError({"cases": "a study needs at least one case that is not practice"})
    _reading_orders_draw(study=study)
    return count


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


class ReadLocked(PermissionDenied):
    """The read exists and may not be changed any more (finished, locked, or changes off)."""


def _require_writable(
    *, study: ReaderStudy, arm: ReadingArm, order_entry: ReadingOrderEntry, existing: Read | None
) -> None:
    """The workflow rules that can change while a submission waits for its lock.

    Called with the reader's order entry locked: finishing an arm and opening the AI-aided
    item of a node take the same lock, so neither can slip in between check and write.
    """
    if ArmCompletion.objects.filter(assignment_id=order_entry.assignment_id, arm=arm).exists():
        raise ReadLocked("you have finished this part of the study: its reads are final")
    if existing is None:
        return
    if not study.allow_read_changes:
        raise ReadLocked("this study does not allow changing a saved read")
    if study.design == StudyDesign.SEQUENTIAL and not arm.shows_model_output:
        aided = ReadingOrderEntry.objects.filter(
            assignment_id=order_entry.assignment_id,
            case_id=order_entry.case_id,
            arm__study=study,
            arm__shows_model_output=True,
        ).first()
        if aided is not None and (
            aided.opened_at is not None
            or Read.objects.filter(
                reader=existing.reader_id, arm=aided.arm_id, node=existing.node_id
            ).exists()
        ):
            raise ReadLocked(
                "the AI-aided read of this case has started: the unaided read is locked"
            )


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
        .only("pk", "assignment_id", "case_id", "ai_shown_at")
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
    _require_writable(study=study, arm=arm, order_entry=order_entry, existing=read)
    ai_shown_at = order_entry.ai_shown_at if arm.shows_model_output else None
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
            ai_shown_at=ai_shown_at,
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
    read.ai_shown_at = read.ai_shown_at or ai_shown_at
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


# --- The reader's workstation ---------------------------------------------------------------


def _lock_entry(pk: int) -> ReadingOrderEntry:
    return ReadingOrderEntry.objects.select_for_update(no_key=True, of=("self",)).get(pk=pk)


@transaction.atomic
def reading_item_open(*, entry: ReadingOrderEntry) -> ReadingOrderEntry:
    """Record when the reader first opened an item (refused with PermissionDenied when the
    item is not open to them yet: an arm in its washout, an AI-aided item before its unaided
    read). In the sequential design, opening the AI-aided item locks the node's unaided read:
    the unaided entry's lock is taken first, so a change of that read in flight either lands
    before or is refused after."""
    access = selectors.reading_item_access(entry=entry)
    if not access.open:
        raise PermissionDenied(access.reason)
    if entry.opened_at is not None:
        return entry
    study = entry.assignment.study
    if study.design == StudyDesign.SEQUENTIAL and entry.arm.shows_model_output:
        unaided = ReadingOrderEntry.objects.get(
            assignment=entry.assignment, case=entry.case, arm__study=study, arm__position=1
        )
        _lock_entry(unaided.pk)
    locked = _lock_entry(entry.pk)
    if locked.opened_at is None:
        locked.opened_at = timezone.now()
        locked.save(update_fields=["opened_at"])
    entry.opened_at = locked.opened_at
    return entry


@transaction.atomic
def reading_item_mark_ai_shown(*, entry: ReadingOrderEntry) -> ReadingOrderEntry:
    """Record when the model output was first shown with an item of an AI-aided arm (the
    inference side calls this when it hands the output out); the time is copied onto the read.
    Idempotent: the first time is kept."""
    if not entry.arm.shows_model_output:
        raise PermissionDenied("this arm does not show the model output")
    locked = _lock_entry(entry.pk)
    if locked.ai_shown_at is None:
        locked.ai_shown_at = timezone.now()
        locked.save(update_fields=["ai_shown_at"])
        # A read saved before the output was shown (it cannot be in the viewer, but a script
        # could) keeps its own value: only an empty one is filled.
        Read.objects.filter(
            reader_id=entry.assignment.reader_id,
            arm=entry.arm,
            node_id=entry.case.node_id,
            ai_shown_at__isnull=True,
        ).update(ai_shown_at=locked.ai_shown_at)
    entry.ai_shown_at = locked.ai_shown_at
    return entry


def reading_item_read_submit(
    *,
    entry: ReadingOrderEntry,
    call: str,
    idempotency_key: uuid.UUID,
    confidence: int | None = None,
    signs: Sequence[str] = (),
    active_seconds: float = 0.0,
    started_at=None,
) -> tuple[Read, bool, bool]:
    """Save the reader's call on one of their items. Returns (read, changed, created).

    ``read_submit`` does the exactly-once recording and the rules that can change while a
    submission waits (finished, changes allowed, the sequential lock); the item's access rule
    checked here only ever opens up (a washout ends, an unaided read is saved), so checking it
    before taking the lock is safe. Two tabs: the later submission wins and each is kept as an
    audited change.
    """
    access = selectors.reading_item_access(entry=entry)
    if not access.open:
        raise PermissionDenied(access.reason)
    read, changed = read_submit(
        reader=entry.assignment.reader,
        arm=entry.arm,
        node=entry.case.node,
        call=call,
        idempotency_key=idempotency_key,
        confidence=confidence,
        signs=signs,
        active_seconds=active_seconds,
        started_at=started_at,
    )
    created = (
        changed
        and ReadEvent.objects.filter(
            idempotency_key=idempotency_key, action=ReadEventAction.CREATED
        ).exists()
    )
    return read, changed, created


class ReadingUnfinished(ValidationError):
    """Finishing refused: some items are unread."""

    def __init__(self, *, unread: int) -> None:
        self.unread = unread
        super().__init__(f"{unread} item(s) not read yet; read every case before finishing")


@transaction.atomic
def reading_finish(*, assignment: ReaderAssignment) -> list[ArmCompletion]:
    """ "Finish study": the reader declares the part they are reading finished (both arms in the
    sequential design); its reads are final from then on. Every item, practice included, must
    be read. Takes the locks of all the part's items first, so no read is saved or changed
    in between. Finishing again is a no-op."""
    study = ReaderStudy.objects.get(pk=assignment.study_id)
    if study.status != StudyStatus.OPEN:
        raise PermissionDenied(f"the study is {study.status}, not open for reading")
    state = selectors.reading_state(assignment=assignment)
    if state.arm_finished:
        return list(ArmCompletion.objects.filter(assignment=assignment, arm__in=state.sitting))
    if not state.access.open:
        raise PermissionDenied(state.access.reason)
    list(
        ReadingOrderEntry.objects.select_for_update(no_key=True, of=("self",))
        .filter(assignment=assignment, arm__in=state.sitting)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    state = selectors.reading_state(assignment=assignment)  # again, under the locks
    if state.unread:
        raise ReadingUnfinished(unread=state.unread)
    now = timezone.now()
    return [
        ArmCompletion.objects.get_or_create(
            assignment=assignment, arm=arm, defaults={"finished_at": now}
        )[0]
        for arm in state.sitting
    ]
