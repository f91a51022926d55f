"""Writes for users and roles."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from readerstudy.accounts.models import Role, User

# Which model permissions each role gets. Readers get none on models: they act only through the
# reading services, which check study assignment themselves.
ROLE_PERMISSIONS: dict[Role, list[str]] = {
    Role.READER: [],
    Role.COORDINATOR: [
        "cohorts.add_cohort",
        "cohorts.change_cohort",
        "cohorts.view_cohort",
        "cohorts.view_patient",
        "cohorts.change_patient",
        "cohorts.view_patientidentity",
        "cohorts.view_ctseries",
        "cohorts.view_node",
        "cohorts.view_referencestandard",
        "cohorts.view_importjob",
        "cohorts.add_importjob",
        "studies.add_readerstudy",
        "studies.change_readerstudy",
        "studies.view_readerstudy",
        "studies.add_readingarm",
        "studies.change_readingarm",
        "studies.view_readingarm",
        "studies.add_readerassignment",
        "studies.change_readerassignment",
        "studies.delete_readerassignment",
        "studies.view_readerassignment",
        "studies.view_studycase",
        "studies.view_read",
        "accounts.view_user",
        *[
            f"aimodels.{action}_{model}"
            for model in ("trainingrun", "predictionrun", "attribution")
            for action in ("add", "change", "view")
        ],
        "aimodels.view_modelversion",
        "aimodels.view_prediction",
    ],
    Role.STATISTICIAN: [
        "cohorts.view_cohort",
        "cohorts.view_patient",
        "cohorts.view_node",
        "cohorts.view_referencestandard",
        "studies.view_readerstudy",
        "studies.view_readingarm",
        "studies.view_readerassignment",
        "studies.view_studycase",
        "studies.view_read",
        "aimodels.view_modelversion",
        "aimodels.view_trainingrun",
        "aimodels.view_predictionrun",
        "aimodels.view_prediction",
        "aimodels.view_attribution",
    ],
    Role.ADMIN: [],
}


@transaction.atomic
def roles_ensure() -> dict[str, Group]:
    """Create the role groups and (re)set their permissions. Safe to run any number of times."""
    groups: dict[str, Group] = {}
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=str(role))
        permissions = []
        for dotted in codenames:
            app_label, codename = dotted.split(".")
            permissions.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        if role == Role.ADMIN:
            permissions = list(Permission.objects.all())
        group.permissions.set(permissions)
        groups[str(role)] = group
    return groups


@transaction.atomic
def user_create_or_update(
    *,
    username: str,
    password: str,
    role: Role,
    first_name: str = "",
    last_name: str = "",
    profession: str = "",
    years_of_experience: int | None = None,
) -> User:
    """Create a user with one role, or bring an existing one to this state (idempotent)."""
    groups = roles_ensure()
    user, _ = User.objects.get_or_create(username=username)
    user.first_name = first_name
    user.last_name = last_name
    user.profession = profession
    user.years_of_experience = years_of_experience
    user.set_password(password)
    user.save()
    return user_role_set(user=user, role=role, groups=groups)


@transaction.atomic
def user_role_set(*, user: User, role: Role, groups: dict[str, Group] | None = None) -> User:
    """Give a user exactly one role: its group, and admin access only where the role has it."""
    groups = groups or roles_ensure()
    # Coordinators and admins manage data in the Django admin; readers never enter it.
    user.is_staff = role in (Role.COORDINATOR, Role.ADMIN)
    user.is_superuser = role == Role.ADMIN
    user.save(update_fields=["is_staff", "is_superuser"])
    user.groups.set([groups[str(role)]])
    return user
