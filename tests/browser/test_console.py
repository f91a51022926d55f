"""The coordinator console in a real browser: create a study, a reader account, assign, open."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from readerstudy.accounts.models import Role
from readerstudy.cohorts.services import cohort_import_folder
from readerstudy.studies.models import ReaderStudy, StudyStatus
from tests.browser.conftest import PageProblems
from tests.browser.test_cohort_upload import log_in
from tests.cohort_factory import write_cohort

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_coordinator_runs_a_study_from_the_console(
    page: Page, page_problems: PageProblems, screenshot, make_user, tmp_path: Path
) -> None:
    cohort = cohort_import_folder(write_cohort(tmp_path / "cohort", name="Console cohort")).cohort
    log_in(page, make_user(Role.COORDINATOR, "console-browser-coordinator"))
    page.get_by_role("link", name="Console").click()
    expect(page.get_by_role("heading", name="Coordinator console")).to_be_visible()

    page.get_by_role("link", name="Reader accounts").click()
    page.get_by_label("Username").fill("dr-browser")
    page.get_by_label("Profession").fill("radiologist")
    page.get_by_role("button", name="Create reader").click()
    link = page.locator("#setup-link").input_value()
    assert re.fullmatch(r"http://[^/]+/accounts/set-password/\w+/[\w-]+/", link), link
    screenshot("reader-link")

    page.goto("/console/studies/new/")
    page.get_by_label("Name").fill("Browser study")
    page.get_by_label("Instructions").fill("Call each outlined node.")
    page.get_by_label(cohort.name).check()
    page.get_by_label("Level III", exact=True).check()
    screenshot("new-study-form")
    page.get_by_role("button", name="Create draft study").click()
    expect(page.get_by_text("Study created with 2 cases (draft).")).to_be_visible()

    page.get_by_label("dr-browser").check()
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_text("Assigned 1 reader(s)")).to_be_visible()
    page.get_by_role("button", name="Open for reading").click()
    expect(page.get_by_text("Study opened.")).to_be_visible()
    expect(page.locator("table.activity")).to_contain_text("0 of 2")
    screenshot("study-open")

    study = ReaderStudy.objects.get(name="Browser study")
    assert study.status == StudyStatus.OPEN
    assert list(study.assignments.values_list("reader__username", flat=True)) == ["dr-browser"]
    assert page_problems.items == []
