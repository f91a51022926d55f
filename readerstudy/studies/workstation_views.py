"""The reader workstation page: a shell that the browser fills from the reading and image APIs.

The page itself carries no case data (no item, node, patient or series): the script asks
``/api/v1/`` for the session and the items, so every access decision stays with those endpoints.
Only an assigned reader of an open study may open it; everyone else, coordinators included, gets
404 (a coordinator has no reading order to work through).
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from readerstudy.studies.models import ReaderStudy, StudyStatus
from readerstudy.studies.permissions import visible_studies


def _reading_study(*, user, study_id: int) -> ReaderStudy:
    """The open study ``user`` reads, under the project's one visibility rule; else 404."""
    study = (
        visible_studies(user)
        .filter(pk=study_id, status=StudyStatus.OPEN, assignments__reader=user)
        .first()
    )
    if study is None:
        raise Http404("no such study")
    return study


@login_required
@ensure_csrf_cookie
def workstation_view(request: HttpRequest, study_id: int) -> HttpResponse:
    study = _reading_study(user=request.user, study_id=study_id)
    return render(
        request,
        "studies/workstation.html",
        {"study": study, "user_key": f"u{request.user.pk}"},
    )
