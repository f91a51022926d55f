"""A user's own API token page: scripts authenticate with ``Authorization: Token <key>``."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods
from rest_framework.authtoken.models import Token

from readerstudy.accounts.services import user_token_issue


@login_required
@require_http_methods(["GET", "POST"])
def api_token_view(request: HttpRequest) -> HttpResponse:
    """GET says whether a token exists; POST creates or replaces it and shows the key once."""
    key = None
    if request.method == "POST":
        key = user_token_issue(user=request.user, rotate=True).key
    return render(
        request,
        "accounts/api_token.html",
        {"key": key, "has_token": Token.objects.filter(user=request.user).exists()},
    )
