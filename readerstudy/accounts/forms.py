"""The login form: says so when a username is rate limited (the backend refuses it anyway)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from readerstudy.accounts.services import login_allowed


class RateLimitedAuthenticationForm(AuthenticationForm):
    def clean(self):
        username = self.cleaned_data.get("username")
        if username and not login_allowed(username=username):
            minutes = max(1, settings.LOGIN_FAILURE_WINDOW_SECONDS // 60)
            raise ValidationError(
                f"Too many failed logins for this user. Try again in up to {minutes} minutes.",
                code="rate_limited",
            )
        return super().clean()
