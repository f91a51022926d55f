"""Django admin for coordinators: studies, arms, assignments; reads are visible, never editable.

Every change of a study's state goes through ``studies.services``: a study is created by
``study_create`` (its cases and arms with it), readers are assigned by ``study_assign_readers``
(codes and reading orders with them), and it is opened and closed by ``study_open`` /
``study_close``, here as admin actions. Status, cohorts, arms and assignments are read-only in
the forms, so nothing can skip the services' checks.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from readerstudy.accounts.models import Role, User
from readerstudy.studies import services
from readerstudy.studies.models import (
    Read,
    ReaderAssignment,
    ReaderStudy,
    ReadEvent,
    ReadingArm,
    StudyCase,
    StudyDesign,
    StudyStatus,
)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ArmInline(ReadOnlyInline):
    model = ReadingArm
    fields = ("position", "name", "shows_model_output", "washout_days")
    readonly_fields = fields


class AssignmentInline(ReadOnlyInline):
    model = ReaderAssignment
    fields = ("code", "reader")
    readonly_fields = fields


# Arm designs offered when creating a study: (arms, StudyDesign).
ARM_DESIGNS = {
    "unaided": ((services.ArmSpec("unaided"),), StudyDesign.SINGLE),
    "unaided_then_aided": (
        (
            services.ArmSpec("unaided"),
            services.ArmSpec("AI-aided", shows_model_output=True, washout_days=28),
        ),
        StudyDesign.INDEPENDENT,
    ),
    "sequential": (
        (services.ArmSpec("unaided"), services.ArmSpec("AI-aided", shows_model_output=True)),
        StudyDesign.SEQUENTIAL,
    ),
}


class StudyAddForm(forms.ModelForm):
    """The fields study_create takes; the study itself is created by the service."""

    arm_design = forms.ChoiceField(
        choices=[
            ("unaided", "One arm: unaided"),
            ("unaided_then_aided", "Two arms: unaided, then AI-aided after a 28-day washout"),
            (
                "sequential",
                "Sequential: per node an unaided call, locked, then the AI-aided call, in one sitting",
            ),
        ],
        help_text="reading arms (fixed once the study exists)",
    )

    class Meta:
        model = ReaderStudy
        fields = (
            "name",
            "description",
            "instructions",
            "cohorts",
            "ask_confidence",
            "ask_signs",
            "randomisation_unit",
            "allow_read_changes",
        )


class PracticeCasesForm(forms.Form):
    cases = forms.ModelMultipleChoiceField(
        queryset=StudyCase.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="read first by every reader, with the reference standard shown after each "
        "call; never part of an analysis",
    )

    def __init__(self, *args, study: ReaderStudy, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["cases"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = study.cases.select_related("node__series__patient").order_by(
            "node__series__patient__pseudonym", "node__label"
        )
        field.initial = list(study.cases.filter(is_practice=True).values_list("pk", flat=True))


class AssignReadersForm(forms.Form):
    readers = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(groups__name=str(Role.READER)).order_by("username"),
        widget=forms.CheckboxSelectMultiple,
        help_text="each gets the next code (R1, R2, ...) and a randomised reading order",
    )


@admin.register(ReaderStudy)
class ReaderStudyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "status",
        "design",
        "ask_confidence",
        "ask_signs",
        "created_at",
        "opened_at",
        "closed_at",
    )
    list_filter = ("status", "cohorts")
    search_fields = ("name", "description")
    filter_horizontal = ("cohorts",)
    actions = ["open_studies", "close_studies", "assign_readers", "mark_practice_cases"]

    # Text may be edited at any time; what is read and by whom only through the services.
    always_read_only = (
        "status",
        "design",
        "randomisation_unit",
        "cohorts_list",
        "order_seed",
        "created_by",
        "created_at",
        "opened_at",
        "closed_at",
    )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = StudyAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return [*StudyAddForm.Meta.fields, "arm_design"]
        return [
            "name",
            "description",
            "instructions",
            "ask_confidence",
            "ask_signs",
            "allow_read_changes",
        ] + list(self.always_read_only)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if obj.status != StudyStatus.DRAFT:
            # Reads were validated against these: fixed once the study is open.
            return ("ask_confidence", "ask_signs", "allow_read_changes", *self.always_read_only)
        return self.always_read_only

    def get_inlines(self, request, obj):
        return [ArmInline, AssignmentInline] if obj is not None else []

    @admin.display(description="cohorts")
    def cohorts_list(self, study: ReaderStudy) -> str:
        return ", ".join(c.name for c in study.cohorts.all())

    def save_model(self, request, obj: ReaderStudy, form, change: bool) -> None:
        if change:
            # Only the form's own fields: a stale object must not write back status or dates.
            if form.changed_data:
                obj.save(update_fields=form.changed_data)
            return
        data = form.cleaned_data
        arms, design = ARM_DESIGNS[data["arm_design"]]
        study = services.study_create(
            name=data["name"],
            cohorts=list(data["cohorts"]),
            created_by=request.user,
            description=data["description"],
            instructions=data["instructions"],
            arms=arms,
            design=design,
            ask_confidence=data["ask_confidence"],
            ask_signs=data["ask_signs"],
            randomisation_unit=data["randomisation_unit"],
            allow_read_changes=data["allow_read_changes"],
        )
        # The admin goes on with this object (log entry, redirect): make it the stored study.
        obj.pk = study.pk
        obj.refresh_from_db()

    def _each(self, request: HttpRequest, queryset: QuerySet, action, verb: str) -> None:
        for study in queryset:
            try:
                action(study=study)
            except ValidationError as exc:
                self.message_user(
                    request, f"{study.name}: not {verb}: {'; '.join(exc.messages)}", messages.ERROR
                )
            else:
                self.message_user(request, f"{study.name}: {verb}.", messages.SUCCESS)

    @admin.action(description="Open the selected draft studies for reading", permissions=["change"])
    def open_studies(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, services.study_open, "opened")

    @admin.action(description="Close the selected open studies", permissions=["change"])
    def close_studies(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, services.study_close, "closed")

    @admin.action(description="Assign readers to the selected draft study…", permissions=["change"])
    def assign_readers(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(
                request, "Select exactly one study to assign readers.", messages.ERROR
            )
            return None
        study = queryset.get()
        form = AssignReadersForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            try:
                assignments = services.study_assign_readers(
                    study=study, readers=list(form.cleaned_data["readers"])
                )
            except ValidationError as exc:
                self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            else:
                codes = ", ".join(f"{a.reader.username} = {a.code}" for a in assignments)
                self.message_user(request, f"{study.name}: {codes}.", messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "admin/studies/readerstudy/assign_readers.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Assign readers to {study.name}",
                "study": study,
                "form": form,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "assigned": study.assignments.select_related("reader"),
            },
        )

    @admin.action(
        description="Mark practice cases of the selected draft study…", permissions=["change"]
    )
    def mark_practice_cases(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one study.", messages.ERROR)
            return None
        study = queryset.get()
        form = PracticeCasesForm(request.POST if "apply" in request.POST else None, study=study)
        if form.is_bound and form.is_valid():
            chosen = {case.pk for case in form.cleaned_data["cases"]}
            try:
                services.study_practice_cases_set(study=study, case_ids=chosen)
            except ValidationError as exc:
                self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(
                    request, f"{study.name}: {len(chosen)} practice case(s).", messages.SUCCESS
                )
            return None
        return TemplateResponse(
            request,
            "admin/studies/readerstudy/practice_cases.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Practice cases of {study.name}",
                "study": study,
                "form": form,
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            },
        )


class ReadEventInline(admin.TabularInline):
    model = ReadEvent
    extra = 0
    can_delete = False
    readonly_fields = (
        "action",
        "actor",
        "at",
        "idempotency_key",
        "submission",
        "before",
        "after",
    )

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Read)
class ReadAdmin(admin.ModelAdmin):
    list_display = (
        "reader",
        "node",
        "arm",
        "call",
        "confidence",
        "active_seconds",
        "ai_shown_at",
        "updated_at",
    )
    list_filter = ("arm__study", "arm", "call", "reader")
    search_fields = ("reader__username", "node__label", "node__series__patient__pseudonym")
    inlines = [ReadEventInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
