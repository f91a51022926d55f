"""Cached analyses of a study's reads: recomputed only when what they were computed from changes."""

from __future__ import annotations

from django.db import models

from readerstudy.studies.models import ReaderStudy


class ResultSnapshot(models.Model):
    """The full analysis of a study at one state of its inputs.

    ``fingerprint`` is the sha256 of everything the analysis reads (every read's id and
    ``updated_at``, the reference standard, the model predictions, the analysis options): a
    snapshot with the current fingerprint is up to date, any other is stale.
    """

    study = models.ForeignKey(
        ReaderStudy, on_delete=models.CASCADE, related_name="result_snapshots"
    )
    fingerprint = models.CharField(max_length=64)
    computed_at = models.DateTimeField(auto_now_add=True)
    seconds = models.FloatField(help_text="time the computation took")
    n_reads = models.PositiveIntegerField()
    results = models.JSONField(help_text="node-level and patient-clustered analysis reports")

    class Meta:
        ordering = ["study", "-computed_at"]
        get_latest_by = "computed_at"
        constraints = [
            models.UniqueConstraint(
                fields=["study", "fingerprint"], name="resultsnapshot_unique_fingerprint"
            )
        ]

    def __str__(self) -> str:
        return f"{self.study}: results of {self.n_reads} reads at {self.computed_at:%Y-%m-%d %H:%M}"
