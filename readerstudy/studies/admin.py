"""Django admin for coordinators: studies, arms, assignments; reads are visible, never editable."""

from django.contrib import admin

from readerstudy.studies.models import Read, ReaderAssignment, ReaderStudy, ReadEvent, ReadingArm


class ArmInline(admin.TabularInline):
    model = ReadingArm
    extra = 0


class AssignmentInline(admin.TabularInline):
    model = ReaderAssignment
    extra = 0
    readonly_fields = ("code",)


@admin.register(ReaderStudy)
class ReaderStudyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "status",
        "ask_confidence",
        "ask_signs",
        "created_at",
        "opened_at",
        "closed_at",
    )
    list_filter = ("status", "cohorts")
    search_fields = ("name", "description")
    readonly_fields = ("order_seed", "created_by", "created_at", "opened_at", "closed_at")
    filter_horizontal = ("cohorts",)
    inlines = [ArmInline, AssignmentInline]


class ReadEventInline(admin.TabularInline):
    model = ReadEvent
    extra = 0
    can_delete = False
    readonly_fields = ("action", "actor", "at", "idempotency_key", "before", "after")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Read)
class ReadAdmin(admin.ModelAdmin):
    list_display = ("reader", "node", "arm", "call", "confidence", "active_seconds", "updated_at")
    list_filter = ("arm__study", "arm", "call", "reader")
    search_fields = ("reader__username", "node__label", "node__series__patient__pseudonym")
    inlines = [ReadEventInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
