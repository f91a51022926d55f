"""Cohorts, patients, CT series and lymph nodes with their reference standard.

Models hold data and invariants (as database constraints); everything that writes them lives in
``services.py``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from cohortformat import vocabulary
from cohortformat.vocabulary import Vocabulary


def _text_choices(name: str, words: Vocabulary) -> type[models.TextChoices]:
    """Model choices built from the import format's vocabulary (values and labels defined once,
    in ``cohortformat.vocabulary``); members keep the vocabulary's names, e.g. ``NodeCall.ENE``."""
    return models.TextChoices(
        name, [(t.name, (t.value, t.label)) for t in words.terms], module=__name__
    )


Sex = _text_choices("Sex", vocabulary.SEX)
PrimarySite = _text_choices("PrimarySite", vocabulary.PRIMARY_SITE)
TStage = _text_choices("TStage", vocabulary.T_STAGE)
NStage = _text_choices("NStage", vocabulary.N_STAGE)
HpvStatus = _text_choices("HpvStatus", vocabulary.HPV_STATUS)
NeckLevel = _text_choices("NeckLevel", vocabulary.NECK_LEVEL)
Side = _text_choices("Side", vocabulary.SIDE)
#: The three calls of 001's reader study, also used for the reference standard.
NodeCall = _text_choices("NodeCall", vocabulary.REFERENCE)
ReferenceSource = _text_choices("ReferenceSource", vocabulary.REFERENCE_SOURCE)


class Cohort(models.Model):
    """A set of patients from one source, e.g. "internal" or "external test set 2"."""

    name = models.CharField(max_length=200, unique=True)
    institution = models.CharField(
        max_length=200, blank=True, help_text="Source institution. Never shown to readers."
    )
    description = models.TextField(blank=True)
    is_synthetic = models.BooleanField(
        default=False, help_text="Generated data, not patients. Shown wherever a case is shown."
    )
    content_sha256 = models.CharField(
        max_length=64,
        unique=True,
        help_text="Digest of the imported folder; re-importing identical content is a no-op.",
    )
    imported_at = models.DateTimeField(auto_now_add=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Patient(models.Model):
    """A pseudonymous patient with the covariates of 001's Tables 1-2."""

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="patients")
    pseudonym = models.CharField(max_length=64, unique=True)
    age = models.PositiveSmallIntegerField(null=True, blank=True)
    sex = models.CharField(max_length=1, choices=Sex.choices, blank=True)
    primary_site = models.CharField(max_length=20, choices=PrimarySite.choices, blank=True)
    pt_stage = models.CharField(
        "pathologic T stage", max_length=4, choices=TStage.choices, blank=True
    )
    pn_stage = models.CharField(
        "pathologic N stage", max_length=4, choices=NStage.choices, blank=True
    )
    hpv_status = models.CharField(
        max_length=10, choices=HpvStatus.choices, default=HpvStatus.UNKNOWN
    )

    class Meta:
        ordering = ["cohort", "pseudonym"]
        constraints = [
            models.CheckConstraint(
                condition=Q(age__isnull=True) | Q(age__lte=130), name="patient_age_plausible"
            )
        ]

    def __str__(self) -> str:
        return self.pseudonym


class PatientIdentity(models.Model):
    """The original-to-pseudonym mapping. Coordinators only: never serialised to readers."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="identity")
    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="+")
    source_patient_id = models.CharField(max_length=200, help_text="patient_id in the manifest")
    dicom_patient_id = models.CharField(max_length=200, blank=True)
    dicom_patient_name = models.CharField(max_length=200, blank=True)
    dicom_study_instance_uid = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name_plural = "patient identities"
        constraints = [
            models.UniqueConstraint(
                fields=["cohort", "source_patient_id"], name="identity_unique_source_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source_patient_id} -> {self.patient.pseudonym}"


class CTSeries(models.Model):
    """One de-identified CT series; its slices are DICOM files in media storage."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="series")
    study_instance_uid = models.CharField(max_length=64)
    series_instance_uid = models.CharField(max_length=64, unique=True)
    frame_of_reference_uid = models.CharField(max_length=64, blank=True)
    rows = models.PositiveIntegerField()
    columns = models.PositiveIntegerField()
    slice_count = models.PositiveIntegerField()
    pixel_spacing_row_mm = models.FloatField(help_text="distance between rows (mm)")
    pixel_spacing_column_mm = models.FloatField(help_text="distance between columns (mm)")
    slice_thickness_mm = models.FloatField(null=True, blank=True)
    slice_spacing_mm = models.FloatField(help_text="distance between slice centres (mm)")
    image_orientation = models.JSONField(help_text="ImageOrientationPatient (6 cosines)")
    first_position = models.JSONField(help_text="ImagePositionPatient of slice 0 (mm)")
    manufacturer = models.CharField(max_length=100, blank=True)
    manufacturer_model = models.CharField(max_length=100, blank=True)
    convolution_kernel = models.CharField(max_length=100, blank=True)
    contrast_agent = models.CharField(max_length=100, blank=True)
    contrast_phase = models.CharField(max_length=100, blank=True)
    kvp = models.FloatField(null=True, blank=True)
    label_map = models.FileField(
        max_length=300, help_text="compressed NumPy label map (slice, row, column) of all nodes"
    )
    deidentification_method = models.TextField(
        blank=True,
        help_text="de-identification profile and options applied to every slice (as recorded "
        "in each file's DeidentificationMethod)",
    )

    class Meta:
        verbose_name = "CT series"
        verbose_name_plural = "CT series"
        constraints = [
            models.CheckConstraint(condition=Q(slice_count__gt=0), name="series_has_slices"),
            models.CheckConstraint(
                condition=Q(pixel_spacing_row_mm__gt=0)
                & Q(pixel_spacing_column_mm__gt=0)
                & Q(slice_spacing_mm__gt=0),
                name="series_positive_spacing",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} CT ({self.slice_count} slices)"


class CTSlice(models.Model):
    """One DICOM instance of a series, in slice order (ascending along the slice normal)."""

    series = models.ForeignKey(CTSeries, on_delete=models.CASCADE, related_name="slices")
    index = models.PositiveIntegerField()
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    position_along_normal_mm = models.FloatField()
    file = models.FileField(max_length=300)
    sha256 = models.CharField(max_length=64, help_text="of the de-identified file as stored")

    class Meta:
        ordering = ["series", "index"]
        constraints = [
            models.UniqueConstraint(fields=["series", "index"], name="slice_unique_index")
        ]

    def __str__(self) -> str:
        return f"{self.series.patient} slice {self.index}"


class Node(models.Model):
    """One pre-identified lymph node of a series, with measurements computed from its mask."""

    series = models.ForeignKey(CTSeries, on_delete=models.CASCADE, related_name="nodes")
    label = models.CharField(max_length=50, help_text="node_id in the manifest, e.g. N1")
    mask_label = models.PositiveIntegerField(help_text="value in the series label map")
    level = models.CharField(max_length=4, choices=NeckLevel.choices)
    side = models.CharField(max_length=5, choices=Side.choices)
    voxel_count = models.PositiveIntegerField()
    centroid_voxel = models.JSONField(help_text="(slice, row, column), voxel units")
    centroid_mm = models.JSONField(help_text="patient coordinates (LPS, mm)")
    bbox = models.JSONField(help_text="[slice0, row0, col0, slice1, row1, col1], end exclusive")
    short_axis_mm = models.FloatField(help_text="largest axial diameter perpendicular to the long")
    long_axis_mm = models.FloatField(help_text="largest axial diameter")
    volume_mm3 = models.FloatField()

    class Meta:
        ordering = ["series", "label"]
        constraints = [
            models.UniqueConstraint(fields=["series", "label"], name="node_unique_label"),
            models.UniqueConstraint(fields=["series", "mask_label"], name="node_unique_mask_label"),
            models.CheckConstraint(condition=Q(voxel_count__gt=0), name="node_mask_not_empty"),
            models.CheckConstraint(condition=Q(mask_label__gt=0), name="node_mask_label_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.series.patient} {self.label}"


class ReferenceStandard(models.Model):
    """Ground truth of one node. Never shown to readers."""

    node = models.OneToOneField(Node, on_delete=models.CASCADE, related_name="reference")
    call = models.CharField(max_length=12, choices=NodeCall.choices)
    ene_extent_mm = models.FloatField(null=True, blank=True)
    ene_grade = models.PositiveSmallIntegerField(null=True, blank=True)
    source = models.CharField(
        max_length=20, choices=ReferenceSource.choices, default=ReferenceSource.PATHOLOGY
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(call="ene")
                | (Q(ene_extent_mm__isnull=True) & Q(ene_grade__isnull=True)),
                name="reference_ene_fields_only_for_ene",
            ),
            models.CheckConstraint(
                condition=Q(ene_extent_mm__isnull=True) | Q(ene_extent_mm__gte=0),
                name="reference_ene_extent_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(ene_grade__isnull=True) | Q(ene_grade__gte=1, ene_grade__lte=4),
                name="reference_ene_grade_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.node}: {self.call}"

    @property
    def ene_category(self) -> str:
        """micro (<= 2 mm) or macro (> 2 mm) ENE, blank when not ENE or extent unknown."""
        if self.ene_extent_mm is None:
            return ""
        return "micro" if self.ene_extent_mm <= 2 else "macro"


class JobStatus(models.TextChoices):
    PENDING = "pending", "Queued"
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Retrying"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


# The import job's status machine, the one place that says which change is allowed. A job is
# queued (pending), claimed by a worker (running), and then either ends (succeeded / failed: for
# good, a re-delivered task leaves it alone) or goes back to the queue (retrying) after a
# transient database error or a lost worker, keeping its uploaded archive for the next attempt.
# running -> running is a new attempt taking over a job whose worker stopped sending heartbeats.
JOB_TRANSITIONS: dict[str, frozenset[str]] = {
    JobStatus.PENDING: frozenset({JobStatus.RUNNING, JobStatus.FAILED}),
    JobStatus.RETRYING: frozenset({JobStatus.RUNNING, JobStatus.FAILED}),
    JobStatus.RUNNING: frozenset(
        {JobStatus.RUNNING, JobStatus.RETRYING, JobStatus.SUCCEEDED, JobStatus.FAILED}
    ),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
}
JOB_ENDED: frozenset[str] = frozenset(
    status for status, targets in JOB_TRANSITIONS.items() if not targets
)


def job_statuses_leading_to(target: str) -> frozenset[str]:
    """The statuses from which a job may change to ``target``."""
    return frozenset(status for status, targets in JOB_TRANSITIONS.items() if target in targets)


class ImportJob(models.Model):
    """A cohort import started from the browser (zip upload) or the command line."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="how many times a worker has started this job"
    )
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="running: the attempt's last sign of life (stale: its worker is gone); "
        "queued: when it was last sent to the workers",
    )
    progress = models.PositiveSmallIntegerField(default=0, help_text="percent")
    stage = models.CharField(max_length=200, blank=True)
    archive = models.FileField(
        max_length=300, blank=True, help_text="uploaded zip, kept until the job has ended"
    )
    archive_name = models.CharField(max_length=255, blank=True)
    archive_size = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, help_text="shown to coordinators: no paths, no tracebacks")
    cohort = models.ForeignKey(
        Cohort, null=True, blank=True, on_delete=models.SET_NULL, related_name="import_jobs"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__lte=100), name="importjob_progress_le_100"
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in JobStatus]),
                name="importjob_status_known",
            ),
        ]

    def __str__(self) -> str:
        return f"Import {self.pk} ({self.status})"

    @property
    def has_ended(self) -> bool:
        return self.status in JOB_ENDED

    def may_change_to(self, status: str) -> bool:
        return status in JOB_TRANSITIONS[self.status]
