"""Django admin for users. Roles are given only through ``accounts.services.user_role_set``.

A role is a group with the permissions ``roles_ensure`` sets, plus matching staff/superuser
flags; editing groups, permissions or those flags by hand would give a user half a role (or
more than one), so they are read-only here and the role is set by an admin action.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest

from readerstudy.accounts.models import Role, User
from readerstudy.accounts.services import user_role_set

ROLE_FIELDS = ("groups", "user_permissions", "is_staff", "is_superuser")


def _role_action(role: Role):
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        for user in queryset:
            user_role_set(user=user, role=role)
        modeladmin.message_user(
            request,
            f"{', '.join(u.username for u in queryset)}: role {role.label}.",
            messages.SUCCESS,
        )

    action.__name__ = f"make_{role.value}"
    return admin.action(description=f"Give the selected users the role: {role.label}")(action)


@admin.register(User)
class ReaderStudyUserAdmin(UserAdmin):
    fieldsets = UserAdmin.fieldsets + (
        ("Reader profile", {"fields": ("profession", "years_of_experience", "is_simulated")}),
    )
    list_display = (
        "username",
        "first_name",
        "last_name",
        "profession",
        "role",
        "is_simulated",
        "is_staff",
    )
    list_filter = ("groups", "is_simulated", "is_staff", "is_active")
    readonly_fields = ROLE_FIELDS
    actions = [_role_action(role) for role in Role]

    @admin.display(description="role")
    def role(self, user: User) -> str:
        return ", ".join(group.name for group in user.groups.all())

    def get_actions(self, request: HttpRequest):
        # Giving roles is giving permissions: superusers only.
        actions = super().get_actions(request)
        if not request.user.is_superuser:
            for role in Role:
                actions.pop(f"make_{role.value}", None)
        return actions


admin.site.unregister(Group)


@admin.register(Group)
class RoleGroupAdmin(GroupAdmin):
    """The role groups, for looking up what a role may do; ``ensure_roles`` sets them."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
