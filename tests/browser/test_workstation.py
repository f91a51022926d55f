"""The reader workstation in a real browser, against the real reading and image endpoints.

One test walks a reader's sitting (the study import is the expensive part, so it is done once):
log in, the image really renders, scrolling, a window preset, the outline toggle, keyboard calls
saved and still there after a reload, an offline spell that loses nothing, and two tabs on the
same case that do not produce two reads. Screenshots go to var/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from readerstudy.accounts.models import Role, User
from readerstudy.cohorts.services import cohort_import_folder
from readerstudy.studies import services
from readerstudy.studies.models import Read, ReaderStudy
from tests.browser.conftest import PASSWORD, PageProblems
from tests.synthetic_cohorts import shared_base, synthetic_cohort

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]

# Statistics of the main canvas: how many pixels are not black, how many are the outline's
# yellow, and a checksum that changes when anything on it does.
CANVAS_STATS = """() => {
  const canvas = document.querySelector('#ws-viewport canvas');
  const {width, height} = canvas;
  const data = canvas.getContext('2d').getImageData(0, 0, width, height).data;
  let lit = 0, yellow = 0, sum = 0;
  for (let i = 0; i < data.length; i += 4) {
    const r = data[i], g = data[i + 1], b = data[i + 2];
    if (r + g + b > 30) lit++;
    if (r > 200 && g > 170 && b < 90) yellow++;
    sum = (sum * 31 + r + 7 * g + 13 * b) % 1000000007;
  }
  return {lit: lit / (width * height), yellow, sum, width, height};
}"""


def canvas(page: Page) -> dict:
    return page.evaluate(CANVAS_STATS)


def wait_for_new_canvas(page: Page, before: dict) -> dict:
    page.wait_for_function(
        f"() => ({CANVAS_STATS})().sum !== {before['sum']}", timeout=5_000, polling=50
    )
    return canvas(page)


@pytest.fixture
def reading_study(tmp_path_factory: pytest.TempPathFactory, make_user) -> tuple[ReaderStudy, User]:
    folder = synthetic_cohort(shared_base(tmp_path_factory), "int2")
    cohort = cohort_import_folder(folder).cohort
    reader = make_user(Role.READER, "ws-reader")
    study = services.study_create(
        name="Workstation study",
        cohorts=[cohort],
        order_seed=20260112,
        instructions="Call every outlined node: benign, metastasis without ENE, or with ENE.",
        ask_confidence=True,
        ask_signs=True,
    )
    # One practice case: read first, its reference shown after the call.
    services.study_practice_cases_set(study=study, case_ids=[study.cases.order_by("pk")[0].pk])
    services.study_assign_readers(study=study, readers=[reader])
    services.study_open(study=study)
    return study, reader


def reads_of(reader: User) -> list[tuple[int, str]]:
    return list(Read.objects.filter(reader=reader).order_by("pk").values_list("node_id", "call"))


def wait_saved(page: Page) -> None:
    expect(page.locator("#ws-save")).to_have_attribute("data-state", "saved", timeout=15_000)


def test_a_reader_reads_in_the_workstation(
    page: Page, reading_study, screenshot, page_problems: PageProblems
) -> None:
    study, reader = reading_study

    # Log in through the login page, straight into the workstation.
    page.goto(f"/accounts/login/?next=/reading/{study.pk}/")
    page.get_by_label("Username").fill(reader.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(rf"/reading/{study.pk}/#a1-p1$"))
    expect(page.locator("#workstation[data-ready='a1-p1']")).to_be_attached()

    # The image really renders: most of the canvas is lit, and the outline is drawn. The
    # outline is fetched after the first image by design (it never holds the image up), so it
    # is waited for.
    shown = canvas(page)
    assert shown["width"] > 300 and shown["lit"] > 0.3, shown
    page.wait_for_function(f"() => ({CANVAS_STATS})().yellow > 20", timeout=10_000, polling=50)
    shown = canvas(page)
    assert shown["yellow"] > 20, "the node's outline is on the central slice"
    expect(page.locator("#ws-ov-bl")).to_have_text(re.compile(r"W 350\s+L 50"))
    screenshot("opened")

    # The outline toggles with O.
    page.keyboard.press("o")
    hidden = wait_for_new_canvas(page, shown)
    assert hidden["yellow"] < shown["yellow"] / 10
    page.keyboard.press("o")
    shown = wait_for_new_canvas(page, hidden)
    assert shown["yellow"] > 20

    # Scrolling changes the slice (arrow key and mouse wheel).
    slice_before = page.locator("#workstation").get_attribute("data-slice")
    page.keyboard.press("ArrowDown")
    scrolled = wait_for_new_canvas(page, shown)
    assert page.locator("#workstation").get_attribute("data-slice") != slice_before
    page.locator("#ws-viewport").hover()
    page.mouse.wheel(0, 120)
    scrolled = wait_for_new_canvas(page, scrolled)

    # A preset changes the pixels and the W/L shown.
    page.keyboard.press("b")
    bone = wait_for_new_canvas(page, scrolled)
    expect(page.locator("#ws-ov-bl")).to_have_text(re.compile(r"W 2000\s+L 500"))
    assert bone["sum"] != scrolled["sum"]
    screenshot("bone-window")
    page.keyboard.press("s")
    page.keyboard.press("g")  # back to the node

    # Keyboard calls. The first item is practice: 2, a confidence (] twice: 70) and Enter save
    # it and show the reference; Enter again moves on.
    expect(page.locator("#ws-practice")).to_be_visible()
    page.keyboard.press("2")
    expect(page.locator(".ws-call.is-selected")).to_have_attribute("data-call", "metastasis")
    page.keyboard.press("Enter")
    expect(page.locator("#ws-error")).to_contain_text("confidence")
    page.keyboard.press("]")
    page.keyboard.press("]")
    expect(page.locator("#ws-confidence-value")).to_have_text("70")
    page.get_by_label("Central necrosis").check()
    page.keyboard.press("Enter")
    expect(page.locator("#ws-reference")).to_contain_text("Reference:")
    screenshot("practice-reference")
    page.keyboard.press("Enter")
    expect(page.locator("#workstation[data-ready='a1-p2']")).to_be_attached()
    page.keyboard.press("3")
    page.keyboard.press("[")
    page.keyboard.press("Enter")
    expect(page.locator("#workstation[data-ready='a1-p3']")).to_be_attached()
    wait_saved(page)
    assert [call for _, call in reads_of(reader)] == ["metastasis", "ene"]
    practice = Read.objects.filter(reader=reader).order_by("pk").first()
    assert (practice.confidence, practice.signs) == (70, ["central_necrosis"])
    assert practice.active_seconds > 0

    # Still there after a reload.
    page.reload()
    expect(page.locator("#workstation[data-ready='a1-p3']")).to_be_attached()
    page.evaluate("location.hash = '#a1-p1'")
    expect(page.locator("#workstation[data-ready='a1-p1']")).to_be_attached()
    expect(page.locator(".ws-call.is-selected")).to_have_attribute("data-call", "metastasis")
    expect(page.locator("#ws-label")).to_have_attribute("data-status", "saved")

    # Offline: the call is kept and shown as unsent, then sent when the network is back.
    page.evaluate("location.hash = '#a1-p3'")
    expect(page.locator("#workstation[data-ready='a1-p3']")).to_be_attached()
    page.context.set_offline(True)
    page.keyboard.press("1")
    page.keyboard.press("]")
    page.keyboard.press("Enter")
    expect(page.locator("#ws-save")).to_have_attribute("data-state", "offline")
    screenshot("offline")
    assert len(reads_of(reader)) == 2
    page.context.set_offline(False)
    wait_saved(page)
    assert [call for _, call in reads_of(reader)] == ["metastasis", "ene", "benign"]

    # Two tabs on the same case: one read, and the later change is the one kept.
    other = page.context.new_page()
    other.goto(f"/reading/{study.pk}/#a1-p4")
    expect(other.locator("#workstation[data-ready='a1-p4']")).to_be_attached()
    page.evaluate("location.hash = '#a1-p4'")
    expect(page.locator("#workstation[data-ready='a1-p4']")).to_be_attached()
    for tab in (page, other):
        tab.keyboard.press("1")
        tab.keyboard.press("]")
    page.keyboard.press("Enter")
    other.keyboard.press("Enter")
    wait_saved(page)
    wait_saved(other)
    other.evaluate("location.hash = '#a1-p4'")
    expect(other.locator("#workstation[data-ready='a1-p4']")).to_be_attached()
    other.keyboard.press("3")
    other.keyboard.press("]")
    other.keyboard.press("Enter")
    wait_saved(other)
    reads = reads_of(reader)
    assert len(reads) == len({node for node, _ in reads}) == 4
    assert reads[-1][1] == "ene"
    other.close()
    screenshot("final")
    assert not page_problems.items, page_problems.items
