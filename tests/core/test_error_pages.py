"""Error pages come in the site's own style, with a way home, and give nothing away."""

from __future__ import annotations

import pytest
from django.test import Client

from readerstudy.accounts.models import Role

pytestmark = pytest.mark.django_db

DEBUG_PAGE_MARKERS = (
    "Using the URLconf",
    "Django tried these URL patterns",
    "Traceback",
    "Request Method",
    "secret detail",
    "DEBUG = True",
)


def assert_styled_error(response, status: int, heading: str) -> None:
    assert response.status_code == status
    html = response.content.decode()
    assert heading in html
    assert 'class="topbar"' in html and "css/app.css" in html  # base.html
    assert 'href="/">Back to the home page' in html
    for marker in DEBUG_PAGE_MARKERS:
        assert marker not in html, marker


def test_unknown_url_gets_the_styled_404(client, make_user) -> None:
    assert_styled_error(client.get("/no-such-page/"), 404, "Page not found")
    client.force_login(make_user(Role.READER))
    response = client.get("/studies/999999/")
    assert_styled_error(response, 404, "Page not found")
    assert "no such study" not in response.content.decode()


def test_forbidden_page_gets_the_styled_403(client, make_user) -> None:
    client.force_login(make_user(Role.READER))
    assert_styled_error(client.get("/cohorts/upload/"), 403, "You may not open this page")


@pytest.mark.urls("tests.core.error_urls")
def test_a_failing_view_gets_the_styled_500() -> None:
    client = Client(raise_request_exception=False)
    assert_styled_error(client.get("/test-failure/"), 500, "Something went wrong")
