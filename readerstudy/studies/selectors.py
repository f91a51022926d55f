"""Reads for reader studies.

What a reader may see is decided here: a reader gets their own assignments, their reading
order and their own reads, never the reference standard, model output or other readers' calls.
"""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, QuerySet

from readerstudy.accounts.models import User
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
