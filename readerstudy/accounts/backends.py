"""Authentication with login rate limiting, for every login form (site and admin) alike."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from readerstudy.accounts.services import login_allowed, login_failure_record, login_failures_clear


class RateLimitedModelBackend(ModelBackend):
    """Django's username/password check, refused outright while the username is rate limited.

    Raising PermissionDenied makes ``authenticate`` stop and fail without trying the password,
    so a locked account cannot be probed further. Token authentication (scripts) does not pass
    through here: a token is a 40-character random key, not a guessable password.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None:
            return None
        if not login_allowed(username=username):
            raise PermissionDenied("too many failed logins")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_failure_record(username=username)
        else:
            login_failures_clear(username=username)
        return user
