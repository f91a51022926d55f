"""The demo set-up: generated cohorts imported, users per role, an open two-arm study; idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest

from readerstudy.accounts.models import Role, User
from readerstudy.cohorts.models import Cohort, Node
from readerstudy.core.services import DEMO_STUDY_NAME, DemoCohort, demo_setup
from readerstudy.studies.models import Read, ReaderStudy, StudyStatus
from tests.conftest import REPO

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_demo_setup_builds_everything_once(tmp_path: Path) -> None:
    small = (DemoCohort("internal", "internal", 1, 1), DemoCohort("external", "external", 1, 2))
    lines: list[str] = []
    study = demo_setup(data_dir=tmp_path, cohorts=small, say=lines.append)

    assert study.name == DEMO_STUDY_NAME and study.status == StudyStatus.OPEN
    assert Cohort.objects.count() == 2 and all(c.is_synthetic for c in Cohort.objects.all())
    assert study.cases.count() == Node.objects.count() > 0
    assert list(study.arms.values_list("name", "shows_model_output")) == [
        ("unaided", False),
        ("AI-aided", True),
    ]
    assert set(study.assignments.values_list("code", flat=True)) == {f"R{i}" for i in range(1, 11)}
    for username, role in [
        ("reader1", Role.READER),
        ("coordinator", Role.COORDINATOR),
        ("statistician", Role.STATISTICIAN),
    ]:
        user = User.objects.get(username=username)
        assert user.has_role(role) and user.check_password(f"{username}-demo")
    simulated = study.assignments.filter(reader__is_simulated=True)
    assert set(simulated.values_list("code", flat=True)) == {"R6", "R7", "R8", "R9", "R10"}
    # the simulated panel has read every node in both arms; the five demo readers nothing
    assert Read.objects.count() == 5 * 2 * study.cases.count()
    assert not Read.objects.filter(reader__is_simulated=False).exists()
    reads_before = Read.objects.count()

    counts = (
        Cohort.objects.count(),
        Node.objects.count(),
        ReaderStudy.objects.count(),
        User.objects.count(),
    )
    demo_setup(data_dir=tmp_path, cohorts=small, say=lines.append)
    assert (
        Cohort.objects.count(),
        Node.objects.count(),
        ReaderStudy.objects.count(),
        User.objects.count(),
    ) == counts
    assert any("already imported" in line for line in lines)
    assert Read.objects.count() == reads_before


def _demo_environment() -> dict[str, str]:
    """The environment `./run demo` gives the web server (plain http, DEBUG off)."""
    import os

    run_script = (REPO / "run").read_text()
    demo_body = run_script[run_script.index("cmd_demo()") : run_script.index("cmd_bench()")]
    assert "export DEBUG=0 READERSTUDY_DEMO=1" in demo_body
    leaked = {
        "DEBUG",
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "STATICFILES_BACKEND",
    }
    clean = {k: v for k, v in os.environ.items() if k not in leaked}
    return {
        **clean,
        "DEBUG": "0",
        "READERSTUDY_DEMO": "1",
        "DJANGO_SETTINGS_MODULE": "readerstudy.settings",
    }


# Runs in a fresh interpreter with the demo's settings; no database is touched (anonymous pages).
DEMO_REQUESTS = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings
client = Client(raise_request_exception=False, HTTP_HOST="127.0.0.1:8000")
answers = {}
for path in ["/no-such-page/", "/accounts/login/", "/static/css/app.css", "/static/admin/css/base.css"]:
    response = client.get(path)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    answers[path] = {
        "status": response.status_code,
        "body": body.decode(errors="replace")[:20000],
        "hsts": response.headers.get("Strict-Transport-Security"),
        "cookies": {name: bool(morsel["secure"]) for name, morsel in response.cookies.items()},
    }
with override_settings(ROOT_URLCONF="tests.core.error_urls"):
    response = client.get("/test-failure/")
    answers["failure"] = {"status": response.status_code, "body": response.content.decode()}
answers["debug"] = settings.DEBUG
print(json.dumps(answers))
"""


def test_demo_serves_no_debug_pages_on_plain_http() -> None:
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", DEMO_REQUESTS],
        cwd=REPO,
        env=_demo_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    assert answers["debug"] is False

    not_found = answers["/no-such-page/"]
    assert not_found["status"] == 404 and "Page not found" in not_found["body"]
    assert "Back to the home page" in not_found["body"]
    assert "Django tried these URL patterns" not in not_found["body"]
    failure = answers["failure"]
    assert failure["status"] == 500 and "Something went wrong" in failure["body"]
    assert "Traceback" not in failure["body"] and "secret detail" not in failure["body"]

    login = answers["/accounts/login/"]
    assert login["status"] == 200  # no redirect to https
    assert login["hsts"] is None
    assert login["cookies"] == {"csrftoken": False}  # set, without the Secure flag
    # Static files (the site's and the admin's) come from WhiteNoise without collectstatic.
    assert answers["/static/css/app.css"]["status"] == 200
    assert ".topbar" in answers["/static/css/app.css"]["body"]
    assert answers["/static/admin/css/base.css"]["status"] == 200
