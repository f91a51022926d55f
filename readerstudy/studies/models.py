"""Reader studies: what is read, by whom, in which arms and order, and the reads themselves.

A read belongs to exactly one (reader, node, arm); arms (e.g. unaided, then AI-aided after a
washout) make a study an MRMC design whose arms are compared as modalities.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from readerstudy.cohorts.models import Cohort, Node, NodeCall


class ImagingSign(models.TextChoices):
    """Imaging signs of ENE on CT (review 000), offered as an optional checklist."""

    INDISTINCT_MARGINS = "indistinct_margins", "Indistinct / irregular margins"
    PERINODAL_FAT_STRANDING = "perinodal_fat_stranding", "Perinodal fat stranding"
    CENTRAL_NECROSIS = "central_necrosis", "Central necrosis"
    MATTING = "matting", "Matting"
    INVASION = "invasion", "Invasion of adjacent structures"


class StudyStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class RandomisationUnit(models.TextChoices):
    """What a reader's randomised order shuffles."""

    NODE = "node", "Node: every node is its own case, in random order (001's design)"
    PATIENT = "patient", "Patient: all nodes of one scan together, scans and nodes in random order"


class StudyDesign(models.TextChoices):
    """How the arms of a study follow each other for a reader."""

    SINGLE = "single", "Single arm"
    INDEPENDENT = "independent", "Independent arms: the next after finishing one plus its washout"
    SEQUENTIAL = (
        "sequential",
        "Sequential: unaided call, locked, then the AI-aided call of each node",
    )


class ReaderStudy(models.Model):
    """A reader study over nodes of one or more cohorts."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    instructions = models.TextField(blank=True, help_text="shown to readers before they start")
    status = models.CharField(max_length=6, choices=StudyStatus.choices, default=StudyStatus.DRAFT)
    cohorts = models.ManyToManyField(Cohort, related_name="reader_studies")
    ask_confidence = models.BooleanField(default=False, help_text="ask a 0-100 confidence")
    ask_signs = models.BooleanField(default=False, help_text="ask the imaging-sign checklist")
    order_seed = models.BigIntegerField(help_text="seed of every reader's randomised order")
    randomisation_unit = models.CharField(
        max_length=7, choices=RandomisationUnit.choices, default=RandomisationUnit.NODE
    )
    design = models.CharField(
        max_length=11,
        choices=StudyDesign.choices,
        default=StudyDesign.SINGLE,
        help_text="fixed at creation; checked against the arms by study_create",
    )
    allow_read_changes = models.BooleanField(
        default=True,
        help_text="a reader may change a saved read until they finish (every change is audited)",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    model_version = models.ForeignKey(
        "aimodels.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="studies",
        help_text="the model whose output the AI-aided arm shows; fixed once the study opens",
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "reader studies"

    def __str__(self) -> str:
        return self.name


class StudyCase(models.Model):
    """A node included in a study (all nodes of the included cohorts unless narrowed)."""

    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="cases")
    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="study_cases")
    is_practice = models.BooleanField(
        default=False,
        help_text="read first, reference shown after the call, excluded from every analysis",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "node"], name="studycase_unique_node")
        ]

    def __str__(self) -> str:
        return f"{self.study}: {self.node}"


class ReadingArm(models.Model):
    """One reading condition of a study, e.g. unaided, then AI-aided after a washout."""

    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="arms")
    name = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField(help_text="1 = read first")
    shows_model_output = models.BooleanField(
        default=False, help_text="AI-aided arm: the model's output is shown to the reader"
    )
    washout_days = models.PositiveSmallIntegerField(
        default=0, help_text="minimum days after the reader finished the previous arm"
    )

    class Meta:
        ordering = ["study", "position"]
        constraints = [
            models.UniqueConstraint(fields=["study", "name"], name="arm_unique_name"),
            models.UniqueConstraint(fields=["study", "position"], name="arm_unique_position"),
        ]

    def __str__(self) -> str:
        return f"{self.study}: {self.name}"


class ReaderAssignment(models.Model):
    """A reader taking part in a study."""

    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="assignments")
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments"
    )
    code = models.CharField(max_length=20, help_text="R1, R2, ... as in reports")

    class Meta:
        ordering = ["study", "code"]
        constraints = [
            models.UniqueConstraint(fields=["study", "reader"], name="assignment_unique_reader"),
            models.UniqueConstraint(fields=["study", "code"], name="assignment_unique_code"),
        ]

    def __str__(self) -> str:
        return f"{self.study}: {self.code}"


class ReadingOrderEntry(models.Model):
    """Position of a case in one reader's randomised order for one arm: one reading item.

    A reader addresses it as (study, arm position, position) and sees it labelled by
    ``case_number`` and ``node_number``, numbers of their own order that trace back to nothing.
    """

    assignment = models.ForeignKey(
        ReaderAssignment, on_delete=models.CASCADE, related_name="order_entries"
    )
    arm = models.ForeignKey(ReadingArm, on_delete=models.CASCADE, related_name="order_entries")
    position = models.PositiveIntegerField()
    case = models.ForeignKey(StudyCase, on_delete=models.CASCADE, related_name="order_entries")
    case_number = models.PositiveIntegerField(
        default=1, help_text="1-based in reading order; practice cases are numbered on their own"
    )
    node_number = models.PositiveSmallIntegerField(
        default=1, help_text="1-based within the case (patient mode); always 1 in node mode"
    )
    opened_at = models.DateTimeField(
        null=True, blank=True, help_text="when the reader first opened this item"
    )
    ai_shown_at = models.DateTimeField(
        null=True, blank=True, help_text="when the model output was first shown with this item"
    )

    class Meta:
        ordering = ["assignment", "arm", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["assignment", "arm", "position"], name="order_unique_position"
            ),
            models.UniqueConstraint(fields=["assignment", "arm", "case"], name="order_unique_case"),
        ]

    def __str__(self) -> str:
        return f"{self.assignment} {self.arm.name} #{self.position}"


class ArmCompletion(models.Model):
    """A reader declared an arm finished ("Finish study"): its reads are final from then on."""

    assignment = models.ForeignKey(
        ReaderAssignment, on_delete=models.CASCADE, related_name="completions"
    )
    arm = models.ForeignKey(ReadingArm, on_delete=models.CASCADE, related_name="completions")
    finished_at = models.DateTimeField()

    class Meta:
        ordering = ["assignment", "arm"]
        constraints = [
            models.UniqueConstraint(fields=["assignment", "arm"], name="completion_unique_arm")
        ]

    def __str__(self) -> str:
        return f"{self.assignment} finished {self.arm.name}"


class Read(models.Model):
    """One reader's call on one node in one arm. Changes are kept in ReadEvent."""

    arm = models.ForeignKey(ReadingArm, on_delete=models.PROTECT, related_name="reads")
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reads"
    )
    node = models.ForeignKey(Node, on_delete=models.PROTECT, related_name="reads")
    call = models.CharField(max_length=12, choices=NodeCall.choices)
    confidence = models.PositiveSmallIntegerField(null=True, blank=True, help_text="0-100")
    signs = models.JSONField(default=list, blank=True, help_text="list of ImagingSign codes")
    active_seconds = models.FloatField(default=0, help_text="time on task with the case in view")
    started_at = models.DateTimeField(null=True, blank=True)
    ai_shown_at = models.DateTimeField(
        null=True, blank=True, help_text="AI-aided arms: when the model output was first shown"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    idempotency_key = models.UUIDField(
        default=uuid.uuid4, unique=True, help_text="client key of the submission that created it"
    )

    class Meta:
        ordering = ["arm", "reader", "node"]
        constraints = [
            models.UniqueConstraint(fields=["reader", "node", "arm"], name="read_unique_per_arm"),
            models.CheckConstraint(
                condition=Q(confidence__isnull=True) | Q(confidence__lte=100),
                name="read_confidence_range",
            ),
            models.CheckConstraint(
                condition=Q(active_seconds__gte=0), name="read_active_seconds_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reader} {self.node} {self.arm.name}: {self.call}"


class ReadEventAction(models.TextChoices):
    CREATED = "created", "Created"
    CHANGED = "changed", "Changed"


class ReadEvent(models.Model):
    """Audit trail: every creation and change of a read, with the values before and after."""

    read = models.ForeignKey(Read, on_delete=models.PROTECT, related_name="events")
    action = models.CharField(max_length=8, choices=ReadEventAction.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    idempotency_key = models.UUIDField(unique=True)
    submission = models.JSONField(
        default=dict,
        help_text="the submission as received (node, arm, call, confidence, signs, time), so a "
        "retry of it can be told from a key reused for a different submission",
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField()

    class Meta:
        ordering = ["read", "at"]

    def __str__(self) -> str:
        return f"{self.read} {self.action} at {self.at:%Y-%m-%d %H:%M}"
