"""Trained node classifiers as registered, immutable model versions; the jobs that train them
and run them over cohorts; their predictions and integrated-gradients attributions.

A model version is a bundle folder written by ``inference.bundle`` (below
``settings.MODELS_ROOT``) plus this row, which records the bundle's identity (sha256 of its
``model.json``, which lists every file's sha256): loading refuses a folder whose checksums do
not match. Rows are never updated (``save`` refuses, and a PostgreSQL trigger added by the
migration refuses an UPDATE from anywhere); a version a study shows cannot be deleted
(``ReaderStudy.model_version`` is PROTECT).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from readerstudy.cohorts.models import Cohort, Node


class ModelKind(models.TextChoices):
    DEEP = "deep", "Deep (two-stream 2.5D CNN, fold ensemble)"
    RADIOMICS = "radiomics", "Radiomics (IBSI features + logistic regression)"
    FUSION = "fusion", "Fusion (stacking of deep and radiomics)"


class ModelVersionImmutable(Exception):
    """A registered model version was about to be changed."""


class ModelVersion(models.Model):
    label = models.CharField(max_length=100, unique=True, help_text="e.g. deep-internal-s1-3")
    kind = models.CharField(max_length=10, choices=ModelKind.choices)
    bundle_path = models.CharField(
        max_length=300, unique=True, help_text="folder below settings.MODELS_ROOT"
    )
    bundle_sha256 = models.CharField(
        max_length=64, help_text="sha256 of model.json, which lists every file's sha256"
    )
    files = models.JSONField(help_text="{file name: sha256} as recorded in model.json")
    config = models.JSONField(help_text="model.json as registered")
    training_cohort = models.ForeignKey(
        Cohort, null=True, blank=True, on_delete=models.PROTECT, related_name="model_versions"
    )
    seed = models.BigIntegerField()
    n_folds = models.PositiveSmallIntegerField()
    code_sha256 = models.CharField(max_length=64, help_text="of the inference package's sources")
    git_commit = models.CharField(max_length=40, blank=True)
    versions = models.JSONField(default=dict, help_text="python and library versions")
    oof_metrics = models.JSONField(default=dict, help_text="internal out-of-fold figures")
    intended_use = models.TextField()
    inputs = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="used_by", help_text="fusion inputs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in ModelKind]), name="modelversion_kind_known"
            ),
            models.CheckConstraint(condition=Q(n_folds__gte=2), name="modelversion_two_folds"),
        ]

    def __str__(self) -> str:
        return self.label

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise ModelVersionImmutable(f"model version {self.label}: registered, never changed")
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class RunStatus(models.TextChoices):
    PENDING = "pending", "Queued"
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Retrying"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# The one place that says which status change a run may make (as cohorts' JOB_TRANSITIONS):
# queued -> running -> succeeded / failed / cancelled for good, or back to the queue (retrying)
# after a transient error. running -> running: a new attempt taking over from a lost worker.
RUN_TRANSITIONS: dict[str, frozenset[str]] = {
    RunStatus.PENDING: frozenset({RunStatus.RUNNING, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.RETRYING: frozenset({RunStatus.RUNNING, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.RUNNING: frozenset(
        {
            RunStatus.RUNNING,
            RunStatus.RETRYING,
            RunStatus.SUCCEEDED,
            RunStatus.FAILED,
            RunStatus.CANCELLED,
        }
    ),
    RunStatus.SUCCEEDED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
}
RUN_ENDED: frozenset[str] = frozenset(s for s, targets in RUN_TRANSITIONS.items() if not targets)


class Run(models.Model):
    """Fields shared by training and prediction runs: a job a coordinator watches."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    progress = models.FloatField(default=0.0, help_text="0..1")
    stage = models.CharField(max_length=200, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True, help_text="estimated seconds left")
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True, help_text="shown to coordinators: no paths, no tracebacks")

    class Meta:
        abstract = True

    @property
    def has_ended(self) -> bool:
        return self.status in RUN_ENDED

    def may_change_to(self, status: str) -> bool:
        return status in RUN_TRANSITIONS[self.status]


class TrainingRun(Run):
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="training_runs")
    kind = models.CharField(max_length=10, choices=ModelKind.choices)
    n_folds = models.PositiveSmallIntegerField(default=5)
    seed = models.BigIntegerField(default=0)
    options = models.JSONField(
        default=dict, blank=True, help_text="epochs, patience, grid, width, fusion_method"
    )
    intended_use = models.TextField(blank=True)
    deep_input = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    radiomics_input = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A fusion run may wait for two training runs queued with it (the demo does).
    deep_input_run = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    radiomics_input_run = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    predict_cohorts = models.ManyToManyField(
        Cohort, blank=True, related_name="+", help_text="predicted once the model is registered"
    )
    model_version = models.OneToOneField(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="training_run"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in RunStatus]),
                name="trainingrun_status_known",
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=1), name="trainingrun_progress"
            ),
            models.CheckConstraint(condition=Q(n_folds__gte=2), name="trainingrun_two_folds"),
        ]

    def __str__(self) -> str:
        return f"Training {self.pk} ({self.kind}, {self.status})"


class PredictionRun(Run):
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="prediction_runs"
    )
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="prediction_runs")
    nodes_total = models.PositiveIntegerField(default=0)
    nodes_done = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in RunStatus]),
                name="predictionrun_status_known",
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=1), name="predictionrun_progress"
            ),
        ]

    def __str__(self) -> str:
        return f"Prediction {self.pk} ({self.model_version}, {self.status})"


class Prediction(models.Model):
    """One model version's class probabilities for one node (a re-run updates it)."""

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="predictions"
    )
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="predictions")
    p_benign = models.FloatField()
    p_metastasis = models.FloatField()
    p_ene = models.FloatField()
    out_of_fold = models.BooleanField(
        default=False, help_text="from the fold model that never saw this node (training cohort)"
    )
    fold = models.PositiveSmallIntegerField(null=True, blank=True)
    run = models.ForeignKey(
        PredictionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model_version", "node"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "node"], name="prediction_unique_version_node"
            ),
            models.CheckConstraint(
                condition=Q(p_benign__gte=0, p_benign__lte=1)
                & Q(p_metastasis__gte=0, p_metastasis__lte=1)
                & Q(p_ene__gte=0, p_ene__lte=1),
                name="prediction_probabilities_in_range",
            ),
            models.CheckConstraint(
                condition=Q(out_of_fold=False) | Q(fold__isnull=False),
                name="prediction_oof_has_fold",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_version} {self.node_id}"

    @property
    def probabilities(self) -> dict[str, float]:
        return {"benign": self.p_benign, "metastasis": self.p_metastasis, "ene": self.p_ene}


class Attribution(models.Model):
    """Integrated gradients of a node's ENE output, computed once by a task and kept."""

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="attributions"
    )
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="attributions")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING)
    error = models.TextField(blank=True)
    arrays = models.FileField(max_length=300, blank=True, help_text="npz: crops and maps")
    image = models.FileField(max_length=300, blank=True, help_text="PNG overlay")
    p_ene = models.FloatField(null=True, blank=True)
    convergence_delta = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "node"], name="attribution_unique_version_node"
            )
        ]

    def __str__(self) -> str:
        return f"IG {self.model_version} {self.node_id} ({self.status})"
