"""Input forms of the coordinator console. They validate shape only; rules live in services."""

from __future__ import annotations

from django import forms

from readerstudy.accounts.models import Role, User
from readerstudy.aimodels.models import ModelVersion
from readerstudy.cohorts.models import Cohort, NeckLevel
from readerstudy.studies.models import RandomisationUnit


class StudyDesign:
    SINGLE = "single"
    INDEPENDENT = "independent"
    SEQUENTIAL = "sequential"
    CHOICES = [
        (SINGLE, "Single unaided arm"),
        (INDEPENDENT, "Unaided, then AI-aided after a washout (independent arms)"),
        (SEQUENTIAL, "Sequential: unaided call locked, then the AI-aided call in the same sitting"),
    ]


class StudyCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    instructions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text="shown to readers before the first case and one click away while reading",
    )
    cohorts = forms.ModelMultipleChoiceField(
        queryset=Cohort.objects.order_by("name"), widget=forms.CheckboxSelectMultiple
    )
    levels = forms.MultipleChoiceField(
        choices=NeckLevel.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="leave empty for every level",
    )
    min_short_axis_mm = forms.FloatField(required=False, min_value=0, label="Short axis from (mm)")
    max_short_axis_mm = forms.FloatField(required=False, min_value=0, label="Short axis to (mm)")
    per_class_limit = forms.IntegerField(
        required=False,
        min_value=1,
        label="Balance classes: at most this many nodes per reference call",
    )
    design = forms.ChoiceField(choices=StudyDesign.CHOICES, initial=StudyDesign.SINGLE)
    washout_days = forms.IntegerField(
        required=False, min_value=0, initial=28, help_text="independent arms only"
    )
    model_version = forms.ModelChoiceField(
        queryset=ModelVersion.objects.order_by("-pk"),
        required=False,
        help_text="the model whose output the AI-aided arm shows (fixed once the study opens)",
    )
    randomisation_unit = forms.ChoiceField(
        choices=RandomisationUnit.choices,
        initial=RandomisationUnit.NODE,
        help_text="node: every node its own case (001); patient: a scan's nodes together",
    )
    practice_cases = forms.IntegerField(
        required=False,
        min_value=0,
        initial=0,
        help_text="drawn at random from the selected nodes; read first, reference shown, "
        "never analysed",
    )
    allow_read_changes = forms.BooleanField(
        required=False, initial=True, label="Readers may change a saved call until they finish"
    )
    ask_confidence = forms.BooleanField(required=False, label="Ask a 0-100 confidence")
    ask_signs = forms.BooleanField(required=False, label="Ask the imaging-sign checklist")
    order_seed = forms.IntegerField(
        required=False, min_value=0, help_text="leave empty for a random seed (it is stored)"
    )

    def clean(self) -> dict:
        data = super().clean()
        low, high = data.get("min_short_axis_mm"), data.get("max_short_axis_mm")
        if low is not None and high is not None and low > high:
            self.add_error("max_short_axis_mm", "must not be below the lower bound")
        return data


class StudyEditForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    instructions = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    ask_confidence = forms.BooleanField(required=False, label="Ask a 0-100 confidence")
    ask_signs = forms.BooleanField(required=False, label="Ask the imaging-sign checklist")


class AssignReadersForm(forms.Form):
    readers = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(groups__name=str(Role.READER)).order_by("username"),
        widget=forms.CheckboxSelectMultiple,
    )


class ReaderCreateForm(forms.Form):
    username = forms.CharField(max_length=150)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(required=False)
    profession = forms.CharField(
        max_length=100, required=False, help_text="e.g. radiologist, radiation oncologist"
    )
    years_of_experience = forms.IntegerField(required=False, min_value=0, max_value=70)
