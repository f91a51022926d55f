"""Study pages. Who sees which study, and how much of it, is ``studies.permissions``' rule."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from readerstudy.studies import selectors
from readerstudy.studies.permissions import StudyView, sees_every_study, study_view_for


@login_required
def study_list_view(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "studies/list.html",
        {
            "studies": selectors.study_list(user=request.user),
            "full_view": sees_every_study(request.user),
        },
    )


@login_required
def study_detail_view(request: HttpRequest, study_id: int) -> HttpResponse:
    study = selectors.study_get(user=request.user, study_id=study_id)
    if study is None:
        raise Http404("no such study")
    if study_view_for(request.user) is StudyView.FULL:
        return render(
            request,
            "studies/detail.html",
            {
                "study": study,
                "progress": selectors.study_progress(study=study),
                "arms": study.arms.all(),
                "practice_count": study.cases.filter(is_practice=True).count(),
            },
        )
    # A reader: name, instructions, the arms and their own progress, nothing else.
    return render(
        request,
        "studies/reader_detail.html",
        {
            "study": study,
            "assignment": study.assignments.get(reader=request.user),
            "progress": selectors.study_progress(study=study, reader=request.user),
            "arms": study.arms.all(),
        },
    )
