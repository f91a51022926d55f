"""Coordinator console: thin views over the studies and accounts services.

Only users who may change studies (coordinators, administrators) get in; everyone else logged in
gets 403. Every change goes through a service, which enforces the rules (draft-only edits,
readers must have the reader role, opening needs readers and cases).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from readerstudy.accounts import services as account_services
from readerstudy.accounts.models import Role, User
from readerstudy.aimodels import services as model_services
from readerstudy.cohorts.selectors import import_job_list
from readerstudy.console.forms import (
    AssignReadersForm,
    ReaderCreateForm,
    StudyCreateForm,
    StudyDesign,
    StudyEditForm,
)
from readerstudy.studies import selectors as study_selectors
from readerstudy.studies import services as study_services
from readerstudy.studies.models import ReaderStudy, StudyStatus

CONSOLE_PERMISSION = "studies.change_readerstudy"


def coordinator_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.has_perm(CONSOLE_PERMISSION):
            raise PermissionDenied("the console is for study coordinators")
        return view(request, *args, **kwargs)

    return wrapped


def _error_text(error: ValidationError) -> str:
    if hasattr(error, "message_dict"):
        return "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
    return " ".join(error.messages)


@coordinator_required
def console_home(request: HttpRequest) -> HttpResponse:
    jobs = import_job_list(user=request.user)
    return render(
        request,
        "console/home.html",
        {
            "studies": study_selectors.study_list(user=request.user),
            "failed_jobs": [job for job in jobs[:50] if job.status == "failed"],
        },
    )


@coordinator_required
def study_new(request: HttpRequest) -> HttpResponse:
    form = StudyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        nodes = study_selectors.node_candidates(
            cohorts=list(data["cohorts"]),
            levels=data["levels"],
            min_short_axis_mm=data["min_short_axis_mm"],
            max_short_axis_mm=data["max_short_axis_mm"],
            per_class_limit=data["per_class_limit"],
            seed=data["order_seed"] or 0,
        )
        arms = [study_services.ArmSpec(name="unaided")]
        if data["design"] != StudyDesign.SINGLE:
            washout = data["washout_days"] or 0
            arms.append(
                study_services.ArmSpec(
                    name="AI-aided",
                    shows_model_output=True,
                    washout_days=washout if data["design"] == StudyDesign.INDEPENDENT else 0,
                )
            )
        try:
            if not nodes:
                raise ValidationError({"cohorts": "no node of these cohorts passes the filters"})
            with transaction.atomic():  # the study and its settings, or nothing
                study = study_services.study_create(
                    name=data["name"],
                    cohorts=list(data["cohorts"]),
                    created_by=request.user,
                    description=data["description"],
                    instructions=data["instructions"],
                    arms=arms,
                    ask_confidence=data["ask_confidence"],
                    ask_signs=data["ask_signs"],
                    order_seed=data["order_seed"],
                    nodes=nodes,
                    design=data["design"],
                    randomisation_unit=data["randomisation_unit"],
                    allow_read_changes=data["allow_read_changes"],
                )
                if data["model_version"] is not None:
                    model_services.study_model_version_set(
                        study=study, version=data["model_version"]
                    )
                if data["practice_cases"]:
                    _practice_cases_draw(study, data["practice_cases"], seed=study.order_seed)
        except ValidationError as error:
            form.add_error(None, _error_text(error))
        else:
            messages.success(request, f"Study created with {len(nodes)} cases (draft).")
            return redirect("console:study", study_id=study.pk)
    return render(request, "console/study_new.html", {"form": form})


def _practice_cases_draw(study: ReaderStudy, count: int, *, seed: int) -> None:
    """``count`` of the study's cases, drawn reproducibly from its seed, become practice."""
    case_ids = sorted(study.cases.values_list("pk", flat=True))
    picks = np.random.default_rng(seed).choice(
        len(case_ids), size=min(count, len(case_ids)), replace=False
    )
    study_services.study_practice_cases_set(study=study, case_ids=[case_ids[i] for i in picks])


def _study_or_404(study_id: int) -> ReaderStudy:
    return get_object_or_404(ReaderStudy, pk=study_id)


@coordinator_required
def study_manage(request: HttpRequest, study_id: int) -> HttpResponse:
    study = _study_or_404(study_id)
    edit = StudyEditForm(
        initial={
            "name": study.name,
            "description": study.description,
            "instructions": study.instructions,
            "ask_confidence": study.ask_confidence,
            "ask_signs": study.ask_signs,
        }
    )
    assign = AssignReadersForm()
    assign.fields["readers"].queryset = assign.fields["readers"].queryset.exclude(
        assignments__study=study
    )
    return render(
        request,
        "console/study.html",
        {
            "study": study,
            "is_draft": study.status == StudyStatus.DRAFT,
            "is_open": study.status == StudyStatus.OPEN,
            "arms": study.arms.all(),
            "practice_count": study.cases.filter(is_practice=True).count(),
            "assignments": study.assignments.select_related("reader"),
            "activity": study_selectors.study_reader_activity(study=study),
            "edit_form": edit,
            "assign_form": assign,
        },
    )


def _run(
    request: HttpRequest, study_id: int, action: Callable[[], object], done: str
) -> HttpResponse:
    try:
        action()
    except ValidationError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, done)
    return redirect("console:study", study_id=study_id)


@require_POST
@coordinator_required
def study_edit(request: HttpRequest, study_id: int) -> HttpResponse:
    study = _study_or_404(study_id)
    form = StudyEditForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Not saved: {form.errors.as_text()}")
        return redirect("console:study", study_id=study_id)
    return _run(
        request,
        study_id,
        lambda: study_services.study_update(study=study, **form.cleaned_data),
        "Saved.",
    )


@require_POST
@coordinator_required
def study_assign(request: HttpRequest, study_id: int) -> HttpResponse:
    study = _study_or_404(study_id)
    form = AssignReadersForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose at least one reader.")
        return redirect("console:study", study_id=study_id)
    readers = list(form.cleaned_data["readers"])
    return _run(
        request,
        study_id,
        lambda: study_services.study_assign_readers(study=study, readers=readers),
        f"Assigned {len(readers)} reader(s); their reading orders are drawn.",
    )


@require_POST
@coordinator_required
def study_unassign(request: HttpRequest, study_id: int, user_id: int) -> HttpResponse:
    study = _study_or_404(study_id)
    reader = get_object_or_404(User, pk=user_id)
    return _run(
        request,
        study_id,
        lambda: study_services.study_unassign_reader(study=study, reader=reader),
        f"{reader.username} is no longer assigned.",
    )


@require_POST
@coordinator_required
def study_open(request: HttpRequest, study_id: int) -> HttpResponse:
    study = _study_or_404(study_id)
    return _run(request, study_id, lambda: study_services.study_open(study=study), "Study opened.")


@require_POST
@coordinator_required
def study_close(request: HttpRequest, study_id: int) -> HttpResponse:
    study = _study_or_404(study_id)
    return _run(request, study_id, lambda: study_services.study_close(study=study), "Study closed.")


@coordinator_required
def reader_list(request: HttpRequest) -> HttpResponse:
    form = ReaderCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            reader = account_services.reader_account_create(**form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, _error_text(error))
        else:
            return _setup_link_page(request, reader, created=True)
    readers = (
        User.objects.filter(groups__name=str(Role.READER))
        .prefetch_related("assignments__study")
        .order_by("username")
    )
    return render(request, "console/readers.html", {"form": form, "readers": readers})


def _setup_link_page(request: HttpRequest, reader: User, *, created: bool) -> HttpResponse:
    link = request.build_absolute_uri(account_services.password_setup_path(user=reader))
    return render(
        request,
        "console/reader_link.html",
        {
            "reader": reader,
            "link": link,
            "created": created,
            "timeout_days": round(settings.PASSWORD_RESET_TIMEOUT / 86400, 1),
        },
    )


@require_POST
@coordinator_required
def reader_link(request: HttpRequest, user_id: int) -> HttpResponse:
    reader = get_object_or_404(User, pk=user_id, groups__name=str(Role.READER))
    return _setup_link_page(request, reader, created=False)
