"""Shared fixtures: media storage in a temporary folder, users per role, a real Celery worker.

With READERSTUDY_REQUIRE_SERVICES=1 (set by .ci/run) a test that needs PostgreSQL or the
Redis-backed worker fails instead of skipping when the service is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

# Under pytest-xdist every test process gets one core's worth of threads: PyTorch's and BLAS's
# own pools (one thread per core each) would otherwise oversubscribe the machine, which measured
# here doubles the wall time of the model tests. Set before numpy or torch is first imported.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _threads in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_threads, "1")

REPO = Path(__file__).resolve().parent.parent
REQUIRE_SERVICES = os.environ.get("READERSTUDY_REQUIRE_SERVICES") == "1"


def _missing_service(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _media_root(tmp_path_factory: pytest.TempPathFactory, settings) -> Path:
    media = tmp_path_factory.mktemp("media")
    settings.MEDIA_ROOT = media
    return media


@pytest.fixture(autouse=True)
def _test_settings(settings) -> None:
    """Tests speak plain HTTP to the test client and have no collected static manifest; PBKDF2's
    deliberate slowness protects stored passwords, not tests, so a cheap hasher is used. The
    test processes already use every core, so results are computed without a second process
    (tests/results/test_report_process.py and the browser tests' live server use one)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.RESULTS_REPORT_PROCESS = False
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _import_work_dir(tmp_path_factory: pytest.TempPathFactory, settings) -> Path:
    """Upload jobs run in-process unpack into a temporary folder, never into var/."""
    work = tmp_path_factory.mktemp("import-work")
    settings.COHORT_IMPORT_WORK_DIR = work
    return work


@pytest.fixture
def media_root(_media_root: Path) -> Path:
    return _media_root


def stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()]


@pytest.fixture
def postgres(django_db_blocker) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        _missing_service(f"test needs PostgreSQL, DATABASE_URL points at {connection.vendor}")


@pytest.fixture
def make_user(db):
    from readerstudy.accounts.models import Role
    from readerstudy.accounts.services import user_create_or_update

    def factory(role: Role | str = Role.READER, username: str | None = None):
        return user_create_or_update(
            username=username or f"{role}-{uuid.uuid4().hex[:6]}",
            password="pw-for-tests-1",
            role=Role(role),
        )

    return factory


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


# A parallel run (pytest-xdist) gives every test process its own worker folders and logs, as it
# gives each its own test database and broker key prefix (readerstudy/settings.py).
TEST_PROCESS = os.environ.get("PYTEST_XDIST_WORKER", "main")
WORKER_MEDIA = REPO / "var" / f"test-worker-media-{TEST_PROCESS}"
WORKER_WORK_DIR = REPO / "var" / f"test-worker-work-{TEST_PROCESS}"
# Test-only faults of tests/worker_app.py wait for a file of this name in this folder.
WORKER_RELEASE_DIR = REPO / "var" / f"test-worker-release-{TEST_PROCESS}"


def worker_environment(**extra: str) -> dict[str, str]:
    """Environment of a worker process that shares the test database, broker and media."""
    from urllib.parse import urlparse

    from django.conf import settings
    from django.db import connection

    broker = settings.CELERY_BROKER_URL
    parsed = urlparse(broker)
    if parsed.scheme not in ("redis", "rediss"):
        _missing_service(f"worker tests need CELERY_BROKER_URL=redis://..., got {broker!r}")
    if not _port_open(parsed.hostname or "127.0.0.1", parsed.port or 6379):
        _missing_service(f"Redis broker not reachable at {broker}")
    if connection.vendor != "postgresql":
        _missing_service("the worker shares the test database, which must be PostgreSQL")
    settings_dict = connection.settings_dict
    database_url = (
        f"postgres://{settings_dict['USER'] or ''}:{settings_dict['PASSWORD'] or ''}@"
        f"{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
    )
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "MEDIA_ROOT": str(WORKER_MEDIA),
        "COHORT_IMPORT_WORK_DIR": str(WORKER_WORK_DIR),
        "COHORT_IMPORT_RETRY_DELAY_SECONDS": "1",
        "MODEL_RUN_RETRY_DELAY_SECONDS": "1",
        "READERSTUDY_TEST_RELEASE_DIR": str(WORKER_RELEASE_DIR),
        **extra,
    }


def start_worker(*, app: str, queues: str, env: dict[str, str], log_name: str) -> subprocess.Popen:
    """A Celery worker process (solo pool: one task at a time, like a busy import worker)."""
    (REPO / "var").mkdir(exist_ok=True)
    log = open(REPO / "var" / f"{TEST_PROCESS}-{log_name}", "w")  # noqa: SIM115 - the child process holds it
    try:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                app,
                "worker",
                "--pool=solo",
                f"--queues={queues}",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname",
                f"test-{uuid.uuid4().hex[:6]}@%h",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    finally:
        log.close()


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """Real Celery worker processes on the Redis broker, sharing the test database and media.

    Two processes, as in production: one consumes the work queues (default, imports,
    inference), one only the health queue, so a long import never delays a health ping. The
    work worker runs tests/worker_app.py: the real app, plus faults that only archives named
    ``fault-...`` trigger. The tests publish through the app's configured broker
    (CELERY_BROKER_URL), so that must be Redis: .ci/run and `./run test` set it.
    """
    env = worker_environment(READERSTUDY_TEST_FAULTS="1")
    for folder in (WORKER_MEDIA, WORKER_WORK_DIR, WORKER_RELEASE_DIR):
        shutil.rmtree(folder, ignore_errors=True)  # each session starts empty
        folder.mkdir(parents=True, exist_ok=True)
    work = start_worker(
        app="tests.worker_app",
        queues="default,imports,inference",
        env=env,
        log_name="test-worker.log",
    )
    health = start_worker(
        app="readerstudy.celery", queues="health", env=env, log_name="test-worker-health.log"
    )
    try:
        yield {
            "broker": env["CELERY_BROKER_URL"],
            "media_root": WORKER_MEDIA,
            "work_dir": WORKER_WORK_DIR,
            "release_dir": WORKER_RELEASE_DIR,
            "process": work,
            "health_process": health,
        }
    finally:
        stop_worker(work)
        stop_worker(health)


def wait_for(predicate, *, timeout: float = 60.0, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int):
    """Under READERSTUDY_REQUIRE_SERVICES=1 (CI), a skipped test fails the run.

    A wrapper that runs outside pytest's terminal reporter, so the verdict is the run's very last
    line, below pytest's own "N passed, N skipped" summary, where nobody can miss it.
    """
    result = yield
    if not REQUIRE_SERVICES or _is_xdist_worker(session.config):
        return result
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and session.exitstatus == 0:
        session.exitstatus = 1
        if reporter:
            names = ", ".join(report.nodeid for report in skipped[:5])
            more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
            first_reason = _skip_reason(skipped[0])
            reporter.write_line(
                f"FAILED: {len(skipped)} test(s) skipped, and READERSTUDY_REQUIRE_SERVICES=1 "
                f"allows none ({names}{more}); first reason: {first_reason}",
                red=True,
                bold=True,
            )
    return result
