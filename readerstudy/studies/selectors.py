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


def study_list(*, user: User) -> QuerySet[ReaderStudy]:
    """Studies a user may see: all with the view permission, else those they are assigned to."""
    studies = ReaderStudy.objects.annotate(
        case_count=Count("cases", distinct=True), reader_count=Count("assignments", distinct=True)
    )
    if user.has_perm("studies.view_readerstudy"):
        return studies
    return studies.filter(assignments__reader=user)


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


def study_progress(*, study: ReaderStudy) -> list[dict]:
    """Per reader and arm: cases read out of cases assigned."""
    total = study.cases.count()
    arms = list(study.arms.all())
    done = {
        (row["reader_id"], row["arm_id"]): row["count"]
        for row in Read.objects.filter(arm__study=study)
        .values("reader_id", "arm_id")
        .annotate(count=Count("id"))
    }
    return [
        {
            "reader": assignment.code,
            "arm": arm.name,
            "read": done.get((assignment.reader_id, arm.pk), 0),
            "total": total,
        }
        for assignment in study.assignments.all()
        for arm in arms
    ]
