"""A coordinator uploads a cohort in a real browser and watches the import run on the real worker.

The import is held just before its database write (a table lock from a second connection) so the
test can see the job page show "Running" and then change to "Succeeded" without a reload,
however fast the worker is.
"""

from __future__ import annotations

import contextlib
import io
import re
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Page, expect

from readerstudy.accounts.models import Role, User
from readerstudy.cohorts.models import Cohort, ImportJob
from tests.browser.conftest import PASSWORD, PageProblems
from tests.cohort_factory import read_manifest_rows, write_cohort, write_manifest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]

# Records what the job card shows after every change; installed before the page's own scripts.
RECORD_JOB_CARD = """
window.__jobLog = [];
document.addEventListener("DOMContentLoaded", () => {
  const card = document.getElementById("job");
  if (!card) return;
  const text = (id) => document.getElementById(id).textContent.trim();
  const record = () => {
    const entry = [text("job-status"), text("job-percent")];
    const last = window.__jobLog[window.__jobLog.length - 1];
    if (!last || last[0] !== entry[0] || last[1] !== entry[1]) window.__jobLog.push(entry);
  };
  record();
  new MutationObserver(record).observe(card, {subtree: true, childList: true, characterData: true});
});
"""


def zip_of(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def log_in(page: Page, user: User) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name=f"Welcome, {user.username}")).to_be_visible()


def assert_styled(page: Page) -> None:
    """app.css really loaded: the page background and the top bar carry its colours."""
    page.wait_for_load_state("load")  # the stylesheet, not just the DOM
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(244, 245, 247)"
    topbar = page.locator("header.topbar")
    assert topbar.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(17, 24, 39)"


@contextlib.contextmanager
def cohort_writes_held() -> Iterator[None]:
    """Hold inserts into the cohort table (reads go on) until the block ends."""
    from django.db import connection

    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
    ) as held:
        held.execute(f'LOCK TABLE "{Cohort._meta.db_table}" IN EXCLUSIVE MODE')
        yield
    # Leaving psycopg's block commits, which releases the lock.


@pytest.fixture
def coordinator(make_user: Callable[..., User]) -> User:
    return make_user(Role.COORDINATOR)


@pytest.mark.worker
def test_coordinator_uploads_and_watches_the_import_live(
    page: Page,
    page_problems: PageProblems,
    screenshot: Callable[[str], Path],
    coordinator: User,
    shared_media: Path,
    tmp_path: Path,
) -> None:
    name = f"Browser cohort {uuid.uuid4().hex[:6]}"
    archive = tmp_path / "browser-cohort.zip"
    archive.write_bytes(zip_of(write_cohort(tmp_path / "cohort", name=name)))
    page.add_init_script(RECORD_JOB_CARD)

    log_in(page, coordinator)
    assert_styled(page)
    screenshot("1-home")
    page.get_by_role("navigation").get_by_role("link", name="Cohorts").click()
    expect(page.get_by_role("heading", name="Cohorts", exact=True)).to_be_visible()
    page.get_by_role("link", name="Upload a cohort (.zip)").click()
    expect(page.get_by_role("heading", name="Upload a cohort")).to_be_visible()
    page.get_by_label("Archive").set_input_files(archive)
    screenshot("2-upload")

    with cohort_writes_held():
        page.get_by_role("button", name="Upload and import").click()
        expect(page.get_by_role("heading", name=re.compile(r"Import job #\d+"))).to_be_visible()
        job = ImportJob.objects.get(created_by=coordinator)
        expect(page).to_have_url(re.compile(rf"/cohorts/jobs/{job.pk}/$"))
        expect(page.get_by_text(f"Upload received; import job {job.pk} is queued.")).to_be_visible()
        page.evaluate("window.__sameDocument = 'not reloaded'")
        # The worker has unpacked, checked and stored everything and waits on the database.
        expect(page.locator("#job-status")).to_have_text("Running", timeout=90_000)
        expect(page.locator("#job-stage")).to_have_text("writing to the database")
        expect(page.locator("#job-percent")).to_have_text(re.compile(r"^9\d%$"))
        assert 90 <= page.locator("#job-progress").evaluate("el => el.value") < 100
        screenshot("3-running")

    expect(page.locator("#job-status")).to_have_text("Succeeded", timeout=60_000)
    expect(page.locator("#job-percent")).to_have_text("100%")
    assert page.locator("#job-progress").evaluate("el => el.value") == 100
    expect(page.locator("#job-stage")).to_have_text("imported")
    expect(page.locator("#job-cohort")).to_have_text(f"Cohort: {name}")
    expect(page.locator("#job-error")).to_be_hidden()
    assert page.evaluate("window.__sameDocument") == "not reloaded"
    log = page.evaluate("window.__jobLog")
    assert log[-1] == ["Succeeded", "100%"], log
    assert "Running" in [status for status, _ in log], log
    assert page.locator("#job-status").evaluate("el => el.className") == "status succeeded"
    screenshot("4-succeeded")

    page.get_by_role("navigation").get_by_role("link", name="Cohorts").click()
    row = page.get_by_role("row").filter(has_text=name)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Springfield General Hospital")
    expect(row.get_by_role("cell").nth(3)).to_have_text("2")  # patients
    expect(row.get_by_role("cell").nth(4)).to_have_text("6")  # nodes
    jobs = page.get_by_role("row").filter(has_text="browser-cohort.zip")
    expect(jobs).to_contain_text("Succeeded")
    assert_styled(page)
    screenshot("5-cohorts")
    assert Cohort.objects.get(name=name).import_jobs.get() == job
    assert page_problems.items == []


@pytest.mark.worker
def test_failed_upload_shows_the_error(
    page: Page,
    page_problems: PageProblems,
    screenshot: Callable[[str], Path],
    coordinator: User,
    shared_media: Path,
    tmp_path: Path,
) -> None:
    folder = write_cohort(tmp_path / "cohort", name=f"Broken {uuid.uuid4().hex[:6]}")
    rows = read_manifest_rows(folder)
    rows[1]["level"] = "XII"  # manifest row 3
    write_manifest(folder, rows)
    archive = tmp_path / "broken-cohort.zip"
    archive.write_bytes(zip_of(folder))
    not_a_zip = tmp_path / "manifest.csv"
    not_a_zip.write_text("patient_id\n")

    log_in(page, coordinator)
    page.goto("/cohorts/upload/")
    # Refused at upload: a form error, no job.
    page.get_by_label("Archive").set_input_files(not_a_zip)
    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator(".errorlist")).to_have_text("manifest.csv: expected a .zip archive")
    assert ImportJob.objects.count() == 0
    screenshot("1-form-error")

    # Accepted, then refused by the import on the worker.
    page.get_by_label("Archive").set_input_files(archive)
    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator("#job-status")).to_have_text("Failed", timeout=90_000)
    error = page.locator("#job-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("manifest.csv, row 3, field 'level'")
    expect(error).to_contain_text("XII")
    expect(page.locator("#job-cohort")).to_be_hidden()
    # No progress bar or stage ("failed") next to a failure: the error says what failed.
    expect(page.locator("#job-progress")).to_be_hidden()
    expect(page.locator("#job-stage")).to_be_hidden()
    assert page.locator("#job-status").evaluate("el => el.className") == "status failed"
    assert error.evaluate("el => getComputedStyle(el).color") == "rgb(207, 34, 46)"
    screenshot("2-job-failed")

    page.get_by_role("link", name="Back to cohorts").click()
    expect(page.get_by_role("row").filter(has_text="broken-cohort.zip")).to_contain_text("Failed")
    assert Cohort.objects.count() == 0
    assert page_problems.items == []


def test_reader_home_has_no_cohorts(
    page: Page,
    page_problems: PageProblems,
    screenshot: Callable[[str], Path],
    make_user: Callable[..., User],
) -> None:
    reader = make_user(Role.READER)
    log_in(page, reader)
    assert_styled(page)
    expect(page.get_by_role("heading", name="Your reading", exact=True)).to_be_visible()
    expect(page.get_by_text("You have no open reading assignments.")).to_be_visible()
    expect(page.get_by_role("link", name="Cohorts")).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("Upload"))).to_have_count(0)
    expect(page.get_by_role("heading", name="Cohorts")).to_have_count(0)
    expect(page.get_by_role("navigation").get_by_role("link", name="Studies")).to_be_visible()
    screenshot("1-home")
    assert page_problems.items == []

    response = page.goto("/cohorts/upload/")
    assert response is not None and response.status == 403
