"""Who may see which reader study: the one rule, used by every list, page and API alike.

- Users with ``studies.view_readerstudy`` (coordinators, statisticians, admins) see every study
  in full: cohorts, all readers' progress, the order seed.
- A reader sees the studies they are assigned to, and of each only what a reader may see: its
  name, instructions, arms and their own progress; never the reference standard, model output or
  another reader's reads.
- Nobody else sees a study (a list leaves it out, a page answers 404).
"""

from __future__ import annotations

from enum import Enum

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from readerstudy.accounts.models import User
from readerstudy.studies.models import ReaderStudy


class StudyView(Enum):
    FULL = "full"
    READER = "reader"


def sees_every_study(user: User | AnonymousUser) -> bool:
    return user.is_authenticated and user.has_perm("studies.view_readerstudy")


def visible_studies(user: User | AnonymousUser) -> QuerySet[ReaderStudy]:
    """The studies ``user`` may open: all for staff roles, else the reader's assigned ones."""
    if not user.is_authenticated:
        return ReaderStudy.objects.none()
    if sees_every_study(user):
        return ReaderStudy.objects.all()
    return ReaderStudy.objects.filter(assignments__reader=user)


def study_view_for(user: User | AnonymousUser) -> StudyView:
    """How much of a visible study ``user`` gets to see."""
    return StudyView.FULL if sees_every_study(user) else StudyView.READER
