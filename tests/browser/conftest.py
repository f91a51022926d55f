"""Browser tests: Playwright's sync API driving Debian's chromium against pytest-django's live server.

The live server runs in a thread of the test process while Playwright's sync API keeps an event
loop in the main thread, so Django's async-safety check must be relaxed before Django is used.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

import pytest  # noqa: E402

from tests.conftest import REPO, _missing_service, stored_files  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Response
    from pytest_django.live_server_helper import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO / "var" / "screenshots"
PASSWORD = "pw-for-tests-1"  # what tests.conftest.make_user sets


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One chromium per test module (Playwright's event loop lives only as long as it)."""
    if not os.access(CHROMIUM, os.X_OK):
        _missing_service(f"browser tests need Debian's chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# The live server speaks plain HTTP and serves static files straight from static/ (there is no
# collected manifest). SecurityMiddleware reads SECURE_SSL_REDIRECT once, when the server's
# handler is built, so these must be in place before the server starts, not per test.
LIVE_SERVER_SETTINGS: dict[str, Any] = {
    "SECURE_SSL_REDIRECT": False,
    "SESSION_COOKIE_SECURE": False,
    "CSRF_COOKIE_SECURE": False,
}


@pytest.fixture(scope="module")
def _module_media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser-media")


@pytest.fixture(autouse=True)
def _media_root(live_server: LiveServer, _module_media_root: Path) -> Path:
    """Shadows tests/conftest.py's per-test media folder: the live server's media folder is set
    once for the module (see live_server), because a setting changed while the threaded server
    still answers a closed page's requests can leave its storage pointing at the old folder."""
    return _module_media_root


@pytest.fixture(autouse=True)
def _test_settings(live_server: LiveServer) -> None:
    """Shadows tests/conftest.py's per-test settings: live_server sets them once per module."""


@pytest.fixture(scope="module")
def live_server(
    request: pytest.FixtureRequest, django_db_setup, _module_media_root: Path
) -> Iterator[LiveServer]:
    """pytest-django's live server, started per module under the settings above.

    Shadows pytest-django's session-wide fixture of the same name, so its helper still gives
    each test a transactional database and allows the server's host. The settings tests change
    per test elsewhere (media folder, password hasher) are fixed here for the whole module.
    """
    from django.conf import settings
    from django.test import override_settings
    from pytest_django.live_server_helper import LiveServer

    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    addr = request.config.getvalue("liveserver") or os.getenv(
        "DJANGO_LIVE_TEST_SERVER_ADDRESS", "localhost"
    )
    with override_settings(
        STORAGES=storages,
        MEDIA_ROOT=_module_media_root,
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        **LIVE_SERVER_SETTINGS,
    ):
        server = LiveServer(addr)
        try:
            yield server
        finally:
            server.stop()


@dataclass
class PageProblems:
    """Console errors, uncaught exceptions and failed requests seen by a page."""

    items: list[str] = field(default_factory=list)

    def on_console(self, message: Any) -> None:
        # Chromium logs every failed request as a console error too: on_response reports those.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.items.append(f"console: {message.text}")

    def on_response(self, response: Response) -> None:
        # The site has no favicon; chromium asks for one on its own.
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            self.items.append(f"{response.status} {response.url}")


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(browser: Browser, live_server, page_problems: PageProblems) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("console", page_problems.on_console)
    page.on("pageerror", lambda error: page_problems.items.append(f"pageerror: {error}"))
    page.on("response", page_problems.on_response)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def screenshot(page: Page, request: pytest.FixtureRequest):
    """screenshot("name") saves var/screenshots/<test>-<name>.png (full page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test_name = request.node.name.removeprefix("test_")

    def take(name: str) -> Path:
        path = SCREENSHOTS / f"{test_name}-{name}.png"
        page.wait_for_load_state("load")
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def shared_media(celery_worker_process: dict[str, Any], settings) -> Iterator[Path]:
    """The live server stores uploads where the worker reads them; this test's files go after."""
    media = Path(celery_worker_process["media_root"])
    settings.MEDIA_ROOT = media
    before = set(stored_files(media))
    yield media
    for path in set(stored_files(media)) - before:
        path.unlink(missing_ok=True)
