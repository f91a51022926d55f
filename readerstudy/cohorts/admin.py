"""Django admin for coordinators: browse and search cohorts, patients, nodes and imports.

Imported data is changed only by importing: patients and their covariates, series, nodes and
reference standards are read-only here so the admin cannot break what a running study and its
analysis rely on. Only a cohort's free-text description may be edited.
"""

from django.contrib import admin

from readerstudy.cohorts.models import (
    Cohort,
    CTSeries,
    ImportJob,
    Node,
    Patient,
    PatientIdentity,
    ReferenceStandard,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):
    list_display = ("name", "institution", "is_synthetic", "imported_at", "imported_by")
    list_filter = ("is_synthetic", "institution")
    search_fields = ("name", "institution", "description")
    # The name identifies the cohort to re-imports and reports; institution and the synthetic
    # flag come from cohort.json. Only the description is free text.
    readonly_fields = (
        "name",
        "institution",
        "content_sha256",
        "imported_at",
        "imported_by",
        "is_synthetic",
    )

    def has_add_permission(self, request) -> bool:
        return False  # cohorts arrive by import only


class PatientIdentityInline(admin.StackedInline):
    model = PatientIdentity
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    readonly_fields = (
        "source_patient_id",
        "dicom_patient_id",
        "dicom_patient_name",
        "dicom_study_instance_uid",
    )
    fields = readonly_fields


@admin.register(Patient)
class PatientAdmin(ReadOnlyAdmin):
    list_display = (
        "pseudonym",
        "cohort",
        "age",
        "sex",
        "primary_site",
        "pt_stage",
        "pn_stage",
        "hpv_status",
    )
    list_filter = ("cohort", "sex", "primary_site", "pt_stage", "pn_stage", "hpv_status")
    search_fields = ("pseudonym", "identity__source_patient_id")
    inlines = [PatientIdentityInline]

    def get_inlines(self, request, obj):
        if request.user.has_perm("cohorts.view_patientidentity"):
            return self.inlines
        return []


@admin.register(PatientIdentity)
class PatientIdentityAdmin(ReadOnlyAdmin):
    list_display = ("source_patient_id", "patient", "cohort", "dicom_patient_id")
    list_filter = ("cohort",)
    search_fields = ("source_patient_id", "dicom_patient_id", "patient__pseudonym")


@admin.register(CTSeries)
class CTSeriesAdmin(ReadOnlyAdmin):
    list_display = (
        "patient",
        "slice_count",
        "rows",
        "columns",
        "pixel_spacing_row_mm",
        "slice_spacing_mm",
        "manufacturer",
        "convolution_kernel",
        "contrast_phase",
    )
    list_filter = ("patient__cohort", "manufacturer", "convolution_kernel", "contrast_phase")
    search_fields = ("patient__pseudonym", "series_instance_uid")


class ReferenceInline(admin.StackedInline):
    model = ReferenceStandard
    can_delete = False
    readonly_fields = ("call", "ene_extent_mm", "ene_grade", "source")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Node)
class NodeAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__",
        "level",
        "side",
        "short_axis_mm",
        "long_axis_mm",
        "volume_mm3",
        "reference_call",
    )
    list_filter = ("series__patient__cohort", "level", "side", "reference__call")
    search_fields = ("label", "series__patient__pseudonym")
    inlines = [ReferenceInline]

    @admin.display(description="reference", ordering="reference__call")
    def reference_call(self, node: Node) -> str:
        return node.reference.get_call_display() if hasattr(node, "reference") else ""


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "archive_name",
        "status",
        "progress",
        "stage",
        "created_by",
        "created_at",
        "cohort",
    )
    list_filter = ("status",)
    search_fields = ("archive_name", "error")
