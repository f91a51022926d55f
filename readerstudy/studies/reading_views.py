"""The reader's pages around the workstation: the worklist and a study's instructions.

Both show only what ``selectors.reading_worklist`` / ``reading_assignment_get`` give a reader:
their assigned, open studies, neutral progress counts, never a case's identity.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from readerstudy.studies import selectors
from readerstudy.studies.apis import workstation_url


@login_required
def worklist_view(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "studies/worklist.html",
        {"worklist": selectors.reading_worklist(reader=request.user)},
    )


@login_required
def instructions_view(request: HttpRequest, study_id: int) -> HttpResponse:
    assignment = selectors.reading_assignment_get(reader=request.user, study_id=study_id)
    state = selectors.reading_state(assignment=assignment)
    return render(
        request,
        "studies/instructions.html",
        {
            "study": assignment.study,
            "state": state,
            "arms": state.arms,
            "workstation_url": workstation_url(study_id),
        },
    )
