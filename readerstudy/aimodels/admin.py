"""Admin: model versions and runs are read-only here (a version is immutable; runs are changed
only by their tasks and the cancel button of the runs page)."""

from django.contrib import admin

from readerstudy.aimodels.models import ModelVersion, PredictionRun, TrainingRun


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ("label", "kind", "training_cohort", "seed", "n_folds", "created_at")
    list_filter = ("kind",)
    search_fields = ("label", "bundle_sha256")


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    list_display = ("pk", "kind", "cohort", "seed", "status", "progress", "created_at")
    list_filter = ("status", "kind")


@admin.register(PredictionRun)
class PredictionRunAdmin(ReadOnlyAdmin):
    list_display = ("pk", "model_version", "cohort", "status", "progress", "created_at")
    list_filter = ("status",)
