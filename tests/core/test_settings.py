"""Settings come from the environment; production settings pass Django's deployment checks."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO


def _run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # A test run's own variables (DEBUG, the async-unsafe switch) must not leak into the check.
    leaked = (
        "DEBUG",
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
        "SECURE_SSL_REDIRECT",
    )
    clean = {k: v for k, v in os.environ.items() if k not in leaked}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings() -> None:
    result = _run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={
            "DEBUG": "0",
            "SECRET_KEY": "x7!" * 25 + "production-secret",
            "ALLOWED_HOSTS": "reader.example.org",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_demo_defaults_need_no_server() -> None:
    code = (
        "import os; os.environ.pop('DATABASE_URL', None); os.environ.pop('CELERY_BROKER_URL', None);"
        "from readerstudy import settings as s;"
        "print(s.DATABASES['default']['ENGINE']); print(s.CELERY_BROKER_URL)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    engine, broker = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert broker == "filesystem://"


def test_database_url_selects_postgresql() -> None:
    code = "from readerstudy import settings as s; d = s.DATABASES['default']; print(d['ENGINE'], d['NAME'], d['HOST'])"
    env = {**os.environ, "DATABASE_URL": "postgres://u:p@db.example:5432/readers"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "readers", "db.example"]


def test_health_check_is_exempt_from_the_https_redirect() -> None:
    code = (
        "import django; django.setup();"
        "from django.test import Client; c = Client();"
        "print(c.get('/healthz').status_code, c.get('/accounts/login/').status_code)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "readerstudy.settings",
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "1",
        "ALLOWED_HOSTS": "testserver",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "301"]
