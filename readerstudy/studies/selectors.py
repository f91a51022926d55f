"""Reads for reader studies.

What a reader may see is decided here: a reader gets their own assignments, their reading
order and their own reads, never the reference standard, model output or other readers' calls.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db.models import Count, Exists, OuterRef, QuerySet

from readerstudy.accounts.models import User
from readerstudy.cohorts.models import Cohort, Node
from readerstudy.studies.models import (
    Read,
    ReaderAssignment,
    ReaderStudy,
    ReadingArm,
    ReadingOrderEntry,
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
    """Per reader and arm: cases read out of cases assigned; only ``reader``'s rows if given."""
    total = study.cases.count()
    arms = list(study.arms.all())
    reads = Read.objects.filter(arm__study=study)
    assignments = study.assignments.all()
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
    """Per reader and arm: cases read, time on task, median seconds per case, last activity."""
    total = study.cases.count()
    seconds: dict[tuple[int, int], list[float]] = {}
    last: dict[tuple[int, int], datetime] = {}
    for reader_id, arm_id, active, updated in Read.objects.filter(arm__study=study).values_list(
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
