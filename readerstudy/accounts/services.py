"""Writes for users and roles."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.tokens import default_token_generator
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.authtoken.models import Token

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


@transaction.atomic
def reader_account_create(
    *,
    username: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    profession: str = "",
    years_of_experience: int | None = None,
) -> User:
    """A new reader without a usable password; they choose one through
    :func:`password_setup_path` (there is no mail server: the coordinator hands the link over)."""
    username = username.strip()
    if not username:
        raise ValidationError({"username": "a username is required"})
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": f"the username {username!r} is taken"})
    user = User(
        username=username,
        first_name=first_name,
        last_name=last_name,
        email=email,
        profession=profession,
        years_of_experience=years_of_experience,
    )
    user.set_unusable_password()
    user.save()
    return user_role_set(user=user, role=Role.READER)


def password_setup_path(*, user: User) -> str:
    """The path of a one-time link on which ``user`` sets their password.

    Django's password-reset token: it is bound to the user's current password hash and last
    login, so it stops working once used (the password changed) and after
    ``PASSWORD_RESET_TIMEOUT`` seconds.
    """
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return reverse("password-setup", kwargs={"uidb64": uid, "token": token})


def user_token_issue(*, user: User, rotate: bool = False) -> Token:
    """The user's API token for scripts (``Authorization: Token <key>``), created if missing;
    ``rotate`` replaces it, so the old key stops working at once."""
    if not user.is_active:
        raise ValidationError({"user": f"{user.username} is inactive and gets no token"})
    if rotate:
        Token.objects.filter(user=user).delete()
    token, _ = Token.objects.get_or_create(user=user)
    return token


def _login_failure_key(username: str) -> str:
    # Hashed: a cache key (and whatever logs it) never shows the username.
    return "login-failures:" + hashlib.sha256(username.strip().lower().encode()).hexdigest()


def login_allowed(*, username: str) -> bool:
    """False while ``username`` has had LOGIN_FAILURE_LIMIT failed logins within the window."""
    return int(cache.get(_login_failure_key(username), 0)) < settings.LOGIN_FAILURE_LIMIT


def login_failure_record(*, username: str) -> int:
    """Count a failed login; the window starts at the first failure. Returns the count."""
    key = _login_failure_key(username)
    if cache.add(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)
        return 1


def login_failures_clear(*, username: str) -> None:
    cache.delete(_login_failure_key(username))
