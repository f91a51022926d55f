"""Under the Content-Security-Policy, every page a reader or coordinator opens runs without a
single violation: the reader's worklist and instructions, the API docs (Swagger UI from our own
static files) and the coordinator's admin pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from readerstudy.accounts.models import Role
from readerstudy.cohorts.services import cohort_import_folder
from readerstudy.studies import services
from tests.browser.conftest import PASSWORD, PageProblems
from tests.cohort_factory import write_cohort

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]

# Records every CSP violation the page reports, installed before any of its own scripts.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def _log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def _violations(page: Page) -> list[str]:
    return page.evaluate("window.__csp")


@pytest.mark.django_db(transaction=True)
def test_pages_run_under_the_csp_without_violations(
    page: Page, page_problems: PageProblems, make_user, tmp_path: Path, screenshot
) -> None:
    reader = make_user(Role.READER, "csp-reader")
    make_user(Role.COORDINATOR, "csp-coordinator")
    cohort = cohort_import_folder(write_cohort(tmp_path / "cohort")).cohort
    study = services.study_create(
        name="CSP study", cohorts=[cohort], instructions="Call every node.", order_seed=5
    )
    services.study_assign_readers(study=study, readers=[reader])
    services.study_open(study=study)
    page.add_init_script(RECORD_VIOLATIONS)

    _log_in(page, "csp-reader")
    expect(page.get_by_role("link", name="Start")).to_be_visible()
    expect(page.locator("table.worklist")).to_contain_text("case 1 of 6")
    screenshot("reader-home")
    seen = {"/": _violations(page)}
    for path in ("/reading/", f"/reading/{study.pk}/instructions", "/accounts/token/"):
        page.goto(path)
        seen[path] = _violations(page)
    expect(page.get_by_role("button", name="Create a token")).to_be_visible()
    page.goto(f"/reading/{study.pk}/instructions")
    expect(page.get_by_text("Call every node.")).to_be_visible()
    expect(page.get_by_role("link", name="Start reading")).to_have_attribute(
        "href", f"/reading/{study.pk}/"
    )
    screenshot("instructions")
    page.goto("/api/docs/")
    expect(page.get_by_text("/api/v1/worklist")).to_be_visible()
    screenshot("api-docs")
    seen["/api/docs/"] = _violations(page)

    page.context.clear_cookies()
    _log_in(page, "csp-coordinator")
    for path in (
        "/admin/",
        "/admin/studies/readerstudy/",
        "/admin/studies/readerstudy/add/",
        f"/admin/studies/readerstudy/{study.pk}/change/",
        "/cohorts/",
    ):
        page.goto(path)
        page.wait_for_load_state("load")
        seen[path] = _violations(page)
    violations = {path: found for path, found in seen.items() if found}
    assert not violations, violations
    assert not [p for p in page_problems.items if "Content Security Policy" in p], (
        page_problems.items
    )
