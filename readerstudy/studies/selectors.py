"""Reads for reader studies.

What a reader may see is decided here: a reader gets their own assignments, their reading
order and their own reads, never the reference standard, model output or other readers' calls.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.http import Http404
from django.utils import timezone

from readerstudy.accounts.models import User
from readerstudy.cohorts.models import Cohort, Node, NodeCall, ReferenceStandard
from readerstudy.studies.models import (
    ArmCompletion,
    RandomisationUnit,
    Read,
    ReaderAssignment,
    ReaderStudy,
    ReadingArm,
    ReadingOrderEntry,
    StudyCase,
    StudyDesign,
    StudyStatus,
)
from readerstudy.studies.permissions import visible_studies


def study_list(*, user: User) -> QuerySet[ReaderStudy]:
    """Studies a user may see (``permissions.visible_studies``), with case and reader counts."""
    return visible_studies(user).annotate(
        case_count=Count("cases", distinct=True), reader_count=Count("assignments", distinct=True)
    )


def study_get(*, user: User, study_id: int) -> ReaderStudy | None:
    """One study if ``user`` may see it (the same rule as the list), else None."""
    return study_list(user=user).filter(pk=study_id).first()


def reader_assignment_list(*, reader: User) -> QuerySet[ReaderAssignment]:
    return ReaderAssignment.objects.filter(reader=reader).select_related("study")


def reader_worklist(*, reader: User, arm: ReadingArm) -> QuerySet[ReadingOrderEntry]:
    """The reader's cases for an arm in their randomised order, each marked read or not."""
    own_read = Read.objects.filter(reader=reader, arm=arm, node=OuterRef("case__node"))
    return (
        ReadingOrderEntry.objects.filter(assignment__reader=reader, arm=arm)
        .select_related("case__node")
        .annotate(is_read=Exists(own_read))
        .order_by("position")
    )


def study_progress(*, study: ReaderStudy, reader: User | None = None) -> list[dict]:
    """Per reader and arm: cases read out of cases assigned, practice cases not counted; only
    ``reader``'s rows if given."""
    total = study.cases.filter(is_practice=False).count()
    arms = list(study.arms.all())
    reads = read_list_for_analysis(study=study)
    assignments = study.assignments.select_related("reader")
    if reader is not None:
        reads = reads.filter(reader=reader)
        assignments = assignments.filter(reader=reader)
    done = {
        (row["reader_id"], row["arm_id"]): row["count"]
        for row in reads.values("reader_id", "arm_id").annotate(count=Count("id"))
    }
    return [
        {
            "reader": assignment.code,
            "simulated": assignment.reader.is_simulated,
            "arm": arm.name,
            "read": done.get((assignment.reader_id, arm.pk), 0),
            "total": total,
        }
        for assignment in assignments
        for arm in arms
    ]


@dataclass(frozen=True)
class ReaderActivity:
    """One reader's work in one arm of a study, for the coordinator console."""

    code: str
    username: str
    full_name: str
    simulated: bool
    arm: str
    read: int
    total: int
    active_seconds: float
    median_seconds_per_case: float | None
    last_activity: datetime | None

    @property
    def finished(self) -> bool:
        return self.total > 0 and self.read >= self.total


def study_reader_activity(*, study: ReaderStudy) -> list[ReaderActivity]:
    """Per reader and arm: cases read, time on task, median seconds per case, last activity
    (practice cases left out, as in every count)."""
    total = study.cases.filter(is_practice=False).count()
    seconds: dict[tuple[int, int], list[float]] = {}
    last: dict[tuple[int, int], datetime] = {}
    for reader_id, arm_id, active, updated in read_list_for_analysis(study=study).values_list(
        "reader_id", "arm_id", "active_seconds", "updated_at"
    ):
        key = (reader_id, arm_id)
        seconds.setdefault(key, []).append(active)
        if key not in last or updated > last[key]:
            last[key] = updated
    rows = []
    for assignment in study.assignments.select_related("reader"):
        reader = assignment.reader
        for arm in study.arms.all():
            times = seconds.get((reader.pk, arm.pk), [])
            rows.append(
                ReaderActivity(
                    code=assignment.code,
                    username=reader.username,
                    full_name=reader.get_full_name(),
                    simulated=bool(getattr(reader, "is_simulated", False)),
                    arm=arm.name,
                    read=len(times),
                    total=total,
                    active_seconds=float(sum(times)),
                    median_seconds_per_case=float(statistics.median(times)) if times else None,
                    last_activity=last.get((reader.pk, arm.pk)),
                )
            )
    return rows


def node_candidates(
    *,
    cohorts: Sequence[Cohort],
    levels: Sequence[str] = (),
    min_short_axis_mm: float | None = None,
    max_short_axis_mm: float | None = None,
    per_class_limit: int | None = None,
    seed: int = 0,
) -> list[Node]:
    """The nodes of ``cohorts`` a study would include under these filters.

    ``per_class_limit`` balances the classes: at most that many nodes of each reference call,
    drawn at random (reproducibly from ``seed``); nodes without a reference standard are left
    out then, since their class is unknown.
    """
    nodes = Node.objects.filter(series__patient__cohort__in=cohorts).select_related("reference")
    if levels:
        nodes = nodes.filter(level__in=levels)
    if min_short_axis_mm is not None:
        nodes = nodes.filter(short_axis_mm__gte=min_short_axis_mm)
    if max_short_axis_mm is not None:
        nodes = nodes.filter(short_axis_mm__lte=max_short_axis_mm)
    selected = list(nodes.order_by("pk"))
    if per_class_limit is None:
        return selected
    by_call: dict[str, list[Node]] = {}
    for node in selected:
        reference = getattr(node, "reference", None)
        if reference is not None:
            by_call.setdefault(reference.call, []).append(node)
    rng = np.random.default_rng(seed)
    kept: list[Node] = []
    for call in sorted(by_call):
        group = by_call[call]
        if len(group) > per_class_limit:
            picks = rng.choice(len(group), size=per_class_limit, replace=False)
            group = [group[i] for i in sorted(picks)]
        kept.extend(group)
    return sorted(kept, key=lambda node: node.pk)


# --- The reader's workstation ---------------------------------------------------------------
#
# A reading item is one ReadingOrderEntry, addressed by (study id, arm position, position in the
# reader's own order): numbers that are per reader and randomised, so they trace back to no
# patient. Nothing below hands a reader a pk of a node, patient, series or slice.


@dataclass(frozen=True)
class ItemRef:
    arm: int
    position: int


def _item_queryset(*, reader: User) -> QuerySet[ReadingOrderEntry]:
    # Every reading request starts here, so the join is kept to what its callers use (the
    # reader is the caller, not joined); the address is unique, so no ORDER BY either.
    return (
        ReadingOrderEntry.objects.filter(assignment__reader=reader)
        .select_related("assignment__study", "arm", "case__node")
        .order_by()
    )


def reading_item_lookup(
    *, reader: User, study_id: int, arm_position: int, position: int
) -> ReadingOrderEntry | None:
    """The reader's own item at this address in a study they are assigned to, whatever its status."""
    found = list(
        _item_queryset(reader=reader).filter(
            assignment__study_id=study_id, arm__position=arm_position, position=position
        )[:1]
    )
    if not found:
        return None
    entry = found[0]
    entry.assignment.reader = reader
    return entry


def reading_item_get(
    *, reader: User, study_id: int, arm_position: int, position: int
) -> ReadingOrderEntry:
    """The reader's item at (study, arm position, position); Http404 unless the reader is
    assigned to the study, the study is open and the item exists. Used by every endpoint that
    takes an item address (reads, images), so all answer "no such item" alike."""
    entry = reading_item_lookup(
        reader=reader, study_id=study_id, arm_position=arm_position, position=position
    )
    if entry is None or entry.assignment.study.status != StudyStatus.OPEN:
        raise Http404("no such reading item")
    return entry


def reading_item_label(
    *, case_number: int, node_number: int, nodes_in_case: int, is_practice: bool, unit: str
) -> str:
    """ "Case 012" (node mode), "Case 012 - node 3" (patient mode), "Practice 1" (practice)."""
    base = f"Practice {case_number}" if is_practice else f"Case {case_number:03d}"
    if unit == RandomisationUnit.PATIENT and nodes_in_case > 1:
        return f"{base} - node {node_number}"
    return base


def reading_assignment_get(*, reader: User, study_id: int) -> ReaderAssignment:
    """The reader's assignment to an open study; Http404 otherwise."""
    assignment = (
        ReaderAssignment.objects.filter(reader=reader, study_id=study_id)
        .select_related("study")
        .first()
    )
    if assignment is None or assignment.study.status != StudyStatus.OPEN:
        raise Http404("no such study")
    return assignment


@dataclass(frozen=True)
class ArmAccess:
    """Whether a reader may open the items of an arm now, and if not, why and from when."""

    open: bool
    reason: str = ""
    opens_at: datetime | None = None


def arm_access(
    *, assignment: ReaderAssignment, arm: ReadingArm, now: datetime | None = None
) -> ArmAccess:
    """Independent design: an arm opens when the reader finished the previous one, plus its
    washout. Single and sequential designs have every arm open (the sequential design's
    per-node rule is in ``reading_item_access``)."""
    study = assignment.study
    if study.design != StudyDesign.INDEPENDENT or arm.position == 1:
        return ArmAccess(open=True)
    previous = (
        ArmCompletion.objects.filter(assignment=assignment, arm__position=arm.position - 1)
        .only("finished_at")
        .first()
    )
    if previous is None:
        return ArmAccess(open=False, reason=f"finish part {arm.position - 1} of the study first")
    opens_at = previous.finished_at + timedelta(days=arm.washout_days)
    if (now or timezone.now()) < opens_at:
        return ArmAccess(
            open=False,
            reason=f"this part opens after the washout, on {opens_at:%Y-%m-%d %H:%M} UTC",
            opens_at=opens_at,
        )
    return ArmAccess(open=True)


def reading_item_access(*, entry: ReadingOrderEntry) -> ArmAccess:
    """May the reader open this item now? (The entry is theirs and the study open.)"""
    access = arm_access(assignment=entry.assignment, arm=entry.arm)
    if not access.open:
        return access
    study = entry.assignment.study
    if study.design == StudyDesign.SEQUENTIAL and entry.arm.shows_model_output:
        unaided_read = Read.objects.filter(
            reader_id=entry.assignment.reader_id,
            node_id=entry.case.node_id,
            arm__study=study,
            arm__position=1,
        ).exists()
        if not unaided_read:
            return ArmAccess(open=False, reason="save the unaided read of this case first")
    return access


def _sequential(study: ReaderStudy) -> bool:
    return study.design == StudyDesign.SEQUENTIAL


def reading_item_neighbours(*, entry: ReadingOrderEntry) -> tuple[ItemRef | None, ItemRef | None]:
    """(previous, next) in the reader's sequence: within the arm, or, in the sequential design,
    unaided p -> AI-aided p -> unaided p+1."""
    study = entry.assignment.study
    count = ReadingOrderEntry.objects.filter(assignment=entry.assignment, arm=entry.arm).count()
    arm, position = entry.arm.position, entry.position
    if _sequential(study):
        if arm == 1:
            previous = ItemRef(2, position - 1) if position > 1 else None
            return previous, ItemRef(2, position)
        return ItemRef(1, position), (ItemRef(1, position + 1) if position < count else None)
    previous = ItemRef(arm, position - 1) if position > 1 else None
    following = ItemRef(arm, position + 1) if position < count else None
    return previous, following


def reading_item_locked(*, entry: ReadingOrderEntry, read: Read | None) -> bool:
    """True when the reader may no longer change (or make) this item's read; the same rules
    ``services.read_submit`` enforces under its lock."""
    study = entry.assignment.study
    if ArmCompletion.objects.filter(assignment=entry.assignment, arm=entry.arm).exists():
        return True
    if read is None:
        return False
    if not study.allow_read_changes:
        return True
    if _sequential(study) and not entry.arm.shows_model_output:
        aided = ReadingOrderEntry.objects.filter(
            assignment=entry.assignment, case=entry.case, arm__shows_model_output=True
        ).first()
        return aided is not None and (
            aided.opened_at is not None
            or Read.objects.filter(
                reader=read.reader_id, arm=aided.arm_id, node=read.node_id
            ).exists()
        )
    return False


def reading_item_read(*, entry: ReadingOrderEntry) -> Read | None:
    return Read.objects.filter(
        reader_id=entry.assignment.reader_id, arm=entry.arm, node_id=entry.case.node_id
    ).first()


def reading_item_nodes_in_case(*, entry: ReadingOrderEntry) -> int:
    if entry.assignment.study.randomisation_unit == RandomisationUnit.NODE:
        return 1  # every node is its own case
    return ReadingOrderEntry.objects.filter(
        assignment=entry.assignment,
        arm=entry.arm,
        case_number=entry.case_number,
        case__is_practice=entry.case.is_practice,
    ).count()


def practice_reference(*, entry: ReadingOrderEntry) -> dict | None:
    """The reference standard of a practice item (shown after the call); None for any other."""
    if not entry.case.is_practice:
        return None
    reference = ReferenceStandard.objects.filter(node_id=entry.case.node_id).first()
    if reference is None:
        return None
    return {"call": reference.call, "label": NodeCall(reference.call).label}


@dataclass
class ReadingState:
    """Where a reader stands in a study: the part they are in, their progress, what is next."""

    assignment: ReaderAssignment
    arms: list[ReadingArm]
    current_arm: ReadingArm
    sitting: list[ReadingArm]  # the arms read now: the current one, or both (sequential)
    access: ArmAccess
    items_total: int
    items_read: int
    practice_total: int
    practice_read: int
    cases_total: int
    cases_read: int
    next_item: ItemRef | None
    arm_finished: bool
    finished: bool

    @property
    def can_finish(self) -> bool:
        return (
            not self.arm_finished
            and self.access.open
            and self.items_read == self.items_total
            and self.practice_read == self.practice_total
        )

    @property
    def unread(self) -> int:
        return self.items_total - self.items_read + self.practice_total - self.practice_read


def reading_state(*, assignment: ReaderAssignment) -> ReadingState:
    study = assignment.study
    arms = list(study.arms.order_by("position"))
    completed = set(
        ArmCompletion.objects.filter(assignment=assignment).values_list("arm_id", flat=True)
    )
    if _sequential(study):
        sitting = arms
    else:
        unfinished = [arm for arm in arms if arm.pk not in completed]
        sitting = [unfinished[0] if unfinished else arms[-1]]
    read_nodes = set(
        Read.objects.filter(reader_id=assignment.reader_id, arm__in=sitting).values_list(
            "arm_id", "node_id"
        )
    )
    entries = list(
        ReadingOrderEntry.objects.filter(assignment=assignment, arm__in=sitting)
        .order_by("position", "arm__position")
        .values_list(
            "arm_id",
            "arm__position",
            "position",
            "case_number",
            "case__is_practice",
            "case__node_id",
        )
    )
    access = arm_access(assignment=assignment, arm=sitting[0])
    counts = {"items": [0, 0], "practice": [0, 0]}
    cases: dict[int, bool] = {}
    next_item = None
    for arm_id, arm_position, position, case_number, is_practice, node_id in entries:
        is_read = (arm_id, node_id) in read_nodes
        tally = counts["practice" if is_practice else "items"]
        tally[0] += 1
        tally[1] += is_read
        if not is_practice:
            cases[case_number] = cases.get(case_number, True) and is_read
        if next_item is None and not is_read:
            next_item = ItemRef(arm_position, position)
    arm_finished = all(arm.pk in completed for arm in sitting)
    if not access.open or arm_finished:
        next_item = None
    current_arm = sitting[0]
    if next_item is not None:
        current_arm = next(arm for arm in sitting if arm.position == next_item.arm)
    return ReadingState(
        assignment=assignment,
        arms=arms,
        current_arm=current_arm,
        sitting=sitting,
        access=access,
        items_total=counts["items"][0],
        items_read=counts["items"][1],
        practice_total=counts["practice"][0],
        practice_read=counts["practice"][1],
        cases_total=len(cases),
        cases_read=sum(cases.values()),
        next_item=next_item,
        arm_finished=arm_finished,
        finished=all(arm.pk in completed for arm in arms),
    )


def reading_worklist(*, reader: User) -> list[ReadingState]:
    """The reader's assigned, open studies with where they stand in each."""
    assignments = (
        ReaderAssignment.objects.filter(reader=reader, study__status=StudyStatus.OPEN)
        .select_related("study")
        .order_by("study__name")
    )
    return [reading_state(assignment=assignment) for assignment in assignments]


def read_list_for_analysis(*, study: ReaderStudy) -> QuerySet[Read]:
    """Every read that counts: all arms and readers of the study, practice cases left out.

    The one selector every export and analysis of reads goes through, so a practice read can
    never reach a report.
    """
    practice_nodes = StudyCase.objects.filter(study=study, is_practice=True).values("node_id")
    return (
        Read.objects.filter(arm__study=study)
        .exclude(node_id__in=practice_nodes)
        .select_related("arm", "reader", "node")
    )
