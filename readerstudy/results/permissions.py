"""Who may see a study's results and downloads: those who see the study in full.

The results hold the reference standard, every reader's reads, model output and patient
pseudonyms, so the rule is the study's full view (``studies.permissions.sees_every_study``:
coordinators, statisticians, admins). A reader, assigned or not, gets 403.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from readerstudy.accounts.models import User
from readerstudy.studies.permissions import sees_every_study


def may_see_results(user: User | AnonymousUser) -> bool:
    return sees_every_study(user)
