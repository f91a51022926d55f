"""Study pages for coordinators and statisticians (the reader workstation is its own issue)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from readerstudy.studies import selectors


@login_required
def study_list_view(request: HttpRequest) -> HttpResponse:
    return render(
        request, "studies/list.html", {"studies": selectors.study_list(user=request.user)}
    )


@login_required
def study_detail_view(request: HttpRequest, study_id: int) -> HttpResponse:
    study = selectors.study_list(user=request.user).filter(pk=study_id).first()
    if study is None or not request.user.has_perm("studies.view_readerstudy"):
        raise Http404("no such study")
    return render(
        request,
        "studies/detail.html",
        {
            "study": study,
            "progress": selectors.study_progress(study=study),
            "arms": study.arms.all(),
        },
    )
