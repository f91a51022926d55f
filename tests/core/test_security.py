"""Hardening for the reader workstation: CSP, no inline script, login rate limiting, session
idle timeout, the API docs page and tokens, and no identifiers in the request log."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from readerstudy.accounts.models import Role
from readerstudy.cohorts.models import Patient, PatientIdentity
from readerstudy.cohorts.services import cohort_import_folder
from readerstudy.studies import services
from tests.cohort_factory import write_cohort
from tests.conftest import REPO

pytestmark = pytest.mark.django_db
PASSWORD = "pw-for-tests-1"


def test_every_page_has_a_csp_without_inline_script(client, make_user) -> None:
    client.force_login(make_user(Role.READER))
    response = client.get("/")
    policy = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "Content-Security-Policy" in client.get("/api/v1/worklist").headers


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"<style[\s>]", re.I), "<style> element"),
]


def test_no_template_of_ours_has_inline_script_or_style() -> None:
    found = []
    for path in sorted((REPO / "templates").rglob("*.html")):
        text = path.read_text()
        for pattern, what in INLINE:
            for match in pattern.finditer(text):
                found.append(f"{path.relative_to(REPO)}: {what}: {match.group(0)!r}")
    assert not found, "\n".join(found)


@pytest.fixture
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_login_is_rate_limited_per_username(client, make_user, settings, fresh_cache) -> None:
    settings.LOGIN_FAILURE_LIMIT = 3
    user = make_user(Role.READER, "limited")
    other = make_user(Role.READER, "unaffected")
    for _ in range(3):
        response = client.post("/accounts/login/", {"username": "limited", "password": "wrong"})
        assert response.status_code == 200 and "correct username" in response.content.decode()
    # Now even the right password is refused, with a message saying why, in both login forms.
    refused = client.post("/accounts/login/", {"username": "limited", "password": PASSWORD})
    assert "Too many failed logins" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    admin_login = client.post(
        "/admin/login/", {"username": "limited", "password": PASSWORD, "next": "/admin/"}
    )
    assert admin_login.status_code == 200 and "_auth_user_id" not in client.session
    # Another user is not affected; the key in the cache does not name the user.
    ok = client.post("/accounts/login/", {"username": "unaffected", "password": PASSWORD})
    assert ok.status_code == 302 and int(client.session["_auth_user_id"]) == other.pk
    client.logout()
    assert not any("limited" in str(key) for key in getattr(cache, "_cache", {}))
    # When the window has passed (here: the count is gone), the right password works again.
    cache.clear()
    ok = client.post("/accounts/login/", {"username": "limited", "password": PASSWORD})
    assert ok.status_code == 302 and int(client.session["_auth_user_id"]) == user.pk


def test_a_successful_login_clears_the_failures(client, make_user, settings, fresh_cache) -> None:
    settings.LOGIN_FAILURE_LIMIT = 2
    make_user(Role.READER, "forgetful")
    client.post("/accounts/login/", {"username": "forgetful", "password": "wrong"})
    assert (
        client.post("/accounts/login/", {"username": "forgetful", "password": PASSWORD}).status_code
        == 302
    )
    client.logout()
    client.post("/accounts/login/", {"username": "forgetful", "password": "wrong"})
    assert (
        client.post("/accounts/login/", {"username": "forgetful", "password": PASSWORD}).status_code
        == 302
    )


def test_sessions_end_after_the_idle_timeout_and_each_request_renews(client, make_user) -> None:
    from django.conf import settings

    assert settings.SESSION_COOKIE_AGE == 30 * 60 and settings.SESSION_SAVE_EVERY_REQUEST
    client.force_login(make_user(Role.READER))
    key = client.session.session_key
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() + timedelta(minutes=1)
    )
    assert client.get("/").status_code == 200
    renewed = Session.objects.get(session_key=key).expire_date
    assert renewed > timezone.now() + timedelta(minutes=29)
    # Idle for longer than the timeout: the session is gone, the user must log in again.
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    response = client.get("/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_docs_page_is_served_from_our_own_files_for_logged_in_users(client, make_user) -> None:
    assert client.get("/api/docs/").status_code == 302
    client.force_login(make_user(Role.READER))
    page = client.get("/api/docs/")
    html = page.content.decode()
    assert page.status_code == 200 and 'id="swagger-ui"' in html
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(src.startswith("/") for src in sources), sources
    assert any("swagger-ui-bundle.js" in src for src in sources)
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "/api/schema/" in script.content.decode()
    schema = client.get("/api/schema/").content.decode()
    for route in ("/api/v1/worklist", "/api/v1/studies/{study_id}/arms/{arm}/items/{pos}/read"):
        assert route in schema


def test_a_user_gets_their_token_from_a_page_or_the_command(client, make_user, capsys) -> None:
    user = make_user(Role.READER, "scripter")
    client.force_login(user)
    assert "no token yet" in client.get("/accounts/token/").content.decode()
    first = client.post("/accounts/token/").content.decode()
    key = Token.objects.get(user=user).key
    assert key in first
    # The page never shows an existing key again; replacing it stops the old one.
    assert key not in client.get("/accounts/token/").content.decode()
    client.post("/accounts/token/")
    assert Token.objects.get(user=user).key != key
    call_command("api_token", "scripter")
    printed = capsys.readouterr().out.strip()
    assert printed == Token.objects.get(user=user).key
    call_command("api_token", "scripter", "--rotate")
    assert capsys.readouterr().out.strip() != printed
    assert (
        Client().get("/api/v1/worklist", HTTP_AUTHORIZATION=f"Token {printed}").status_code == 403
    )


def test_the_request_log_carries_no_identifier(tmp_path: Path, make_user, caplog) -> None:
    cohort = cohort_import_folder(write_cohort(tmp_path / "cohort", name="Log cohort")).cohort
    reader = make_user(Role.READER, "logged")
    outsider = make_user(Role.READER, "outsider")
    study = services.study_create(name="Log study", cohorts=[cohort], order_seed=7)
    services.study_assign_readers(study=study, readers=[reader])
    services.study_open(study=study)
    client, other = Client(), Client()
    client.force_login(reader)
    other.force_login(outsider)
    caplog.set_level(logging.DEBUG)
    base = f"/api/v1/studies/{study.pk}/arms/1/items"
    client.get(f"{base}/1")
    client.put(
        f"{base}/1/read",
        data={"call": "nonsense", "idempotency_key": str(uuid.uuid4())},
        content_type="application/json",
    )
    client.get(f"{base}/99")
    other.get(f"{base}/1")
    other.put(f"{base}/1/read", data={}, content_type="application/json")
    assert any("Not Found" in r.getMessage() for r in caplog.records)  # the log did run
    text = "\n".join(r.getMessage() for r in caplog.records)
    identifiers = [cohort.name, cohort.institution]
    identifiers += list(Patient.objects.values_list("pseudonym", flat=True))
    identifiers += list(PatientIdentity.objects.values_list("source_patient_id", flat=True))
    assert not [value for value in identifiers if value in text]
