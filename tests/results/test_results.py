"""Study results: the cached analysis, its downloads, who may get them, and the dashboard."""

from __future__ import annotations

import io
import json
import math
import uuid
from pathlib import Path

import pandas as pd
import pytest

from analysis.cli import main as analysis_main
from analysis.mrmc import or_analysis
from readerstudy.accounts.models import Role
from readerstudy.results import dashboard, services
from readerstudy.results.models import ResultSnapshot
from readerstudy.results.tasks import results_refresh
from readerstudy.studies import services as study_services
from readerstudy.studies.models import Read
from readerstudy.studies.simulation import (
    SIMULATED_PANEL,
    simulated_read_draw,
    simulated_readers_ensure,
)
from tests.results_factory import db_cohort, db_model_predictions

pytestmark = pytest.mark.django_db


def make_results_study(*, patients: tuple[int, int] = (8, 6), readers: int = 3):
    """An open two-arm study over an internal and an external database-only cohort, every node
    read by ``readers`` simulated readers (rows written directly: fast)."""
    internal = db_cohort(name="internal", patients=patients[0], seed=11)
    external = db_cohort(name="external", patients=patients[1], seed=12)
    study = study_services.study_create(
        name="results study",
        cohorts=[internal, external],
        arms=[
            study_services.ArmSpec("unaided"),
            study_services.ArmSpec("AI-aided", shows_model_output=True),
        ],
        ask_confidence=True,
        order_seed=5,
    )
    users = simulated_readers_ensure(panel=SIMULATED_PANEL[:readers])
    study_services.study_assign_readers(study=study, readers=users)
    study = study_services.study_open(study=study)
    nodes = list(
        study.cases.select_related("node__reference", "node__series__patient__cohort").order_by(
            "node_id"
        )
    )
    reads = []
    for profile, user in zip(SIMULATED_PANEL, users, strict=False):
        for arm in study.arms.order_by("position"):
            for case in nodes:
                node = case.node
                draw = simulated_read_draw(
                    profile=profile,
                    seed=0,
                    study_id=study.pk,
                    node_id=node.pk,
                    reference=node.reference.call,
                    external=node.series.patient.cohort.name == "external",
                    short_axis_mm=node.short_axis_mm,
                    arm_position=arm.position,
                    aided=arm.shows_model_output,
                    ask_confidence=True,
                    ask_signs=False,
                )
                reads.append(
                    Read(
                        arm=arm,
                        reader=user,
                        node=node,
                        call=draw.call,
                        confidence=draw.confidence,
                        active_seconds=draw.active_seconds,
                        idempotency_key=draw.idempotency_key,
                    )
                )
    Read.objects.bulk_create(reads)
    return study


@pytest.fixture
def study():
    return make_results_study()


@pytest.fixture
def people(make_user):
    return {
        "statistician": make_user(Role.STATISTICIAN, "stat"),
        "coordinator": make_user(Role.COORDINATOR, "coord"),
        "reader": make_user(Role.READER, "plain-reader"),
    }


def _download(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, url
    return b"".join(response.streaming_content) if response.streaming else response.content


def assert_same_numbers(a, b, path: str = "") -> None:
    """Equal structure; numbers equal to 1e-9 (relative or absolute)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), path
        for key in a:
            assert_same_numbers(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_numbers(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None, path
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), f"{path}: {a} != {b}"
    else:
        assert a == b, path


def test_downloaded_csv_reproduces_the_dashboard_numbers(study, people, client, tmp_path: Path):
    snapshot = services.results_current(study=study)
    results = snapshot.results
    assert results["n_reads"] == 3 * 2 * study.cases.count() == snapshot.n_reads
    assert results["patient_clustered"]["options"]["variance"] == "obuchowski_clustered"
    task = results["patient_clustered"]["cohorts"][-1]["tasks"][0]
    assert "mrmc" in task and "mrmc_clustered" in task  # node-level and clustered side by side

    client.force_login(people["statistician"])
    csv_bytes = _download(client, f"/studies/{study.pk}/results/reads.csv")
    frame = pd.read_csv(io.BytesIO(csv_bytes))
    assert len(frame) == snapshot.n_reads
    assert frame["reader_simulated"].all()
    assert set(frame["call"]) <= {"benign", "metastasis", "ene"}
    path = tmp_path / "reads.csv"
    path.write_bytes(csv_bytes)
    for key, extra in (
        ("patient_clustered", ["--cluster-column", "patient"]),
        ("node_level", ["--curves"]),
    ):
        out = tmp_path / f"{key}.json"
        code = analysis_main(
            ["report", "--input", str(path), "--calls", *extra, "--output", str(out)]
        )
        assert code == 0
        assert_same_numbers(json.loads(out.read_text()), results[key])
    assert "--cluster-column patient" in results["reproduce"]["patient_clustered"]

    pdf = _download(client, f"/studies/{study.pk}/results/report.pdf")
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") >= 1

    dictionary = _download(client, f"/studies/{study.pk}/results/reads-dictionary.md").decode()
    for column in frame.columns:
        assert f"`{column}`" in dictionary

    # MRMCaov / iMRMC inputs give the same OR-MRMC as the dashboard
    client.force_login(people["coordinator"])  # coordinators get the downloads too
    mrmcaov = pd.read_csv(
        io.BytesIO(_download(client, f"/studies/{study.pk}/results/mrmcaov.csv?task=ene"))
    )
    assert list(mrmcaov.columns) == ["reader", "treatment", "case", "truth", "rating"]
    ours = or_analysis(mrmcaov.rename(columns={"treatment": "modality", "rating": "score"}))
    pooled = snapshot.results["node_level"]["cohorts"][-1]
    assert pooled["cohort"] == "all cohorts"
    ene = next(t for t in pooled["tasks"] if t["task"] == "ene")
    assert ours.f == pytest.approx(ene["mrmc"]["f"], rel=1e-12)

    text = _download(client, f"/studies/{study.pk}/results/imrmc/?task=ene").decode()
    header, data = text.split("BEGIN DATA:\n")
    n_cases = study.cases.count()
    positives = int(mrmcaov.drop_duplicates("case")["truth"].sum())
    assert f"N1: {positives}" in header and f"N0: {n_cases - positives}" in header
    assert "NR: 3" in header and "NM: 2" in header
    rows = [line.split(",") for line in data.strip().splitlines()]
    assert sum(r[0] == "-1" for r in rows) == n_cases
    assert len(rows) == n_cases + len(mrmcaov)
    assert client.get(f"/studies/{study.pk}/results/imrmc/?task=nonsense").status_code == 400


def test_a_changed_read_invalidates_the_cache_and_the_dashboard_shows_it(
    study, people, client, monkeypatch
):
    client.force_login(people["statistician"])
    page = client.get(f"/studies/{study.pk}/results/")
    assert page.status_code == 200 and "No results yet" in page.content.decode()
    assert client.get(f"/api/v1/studies/{study.pk}/results/").json()["status"] == "pending"
    first = services.results_current(study=study)
    api = client.get(f"/api/v1/studies/{study.pk}/results/").json()
    assert api["status"] == "ready" and api["n_reads"] == 3 * 2 * study.cases.count()
    html = client.get(f"/studies/{study.pk}/results/").content.decode()
    assert "<svg" in html and "reader mean" in html and ">simulated</span>" in html
    assert "95% CI (patients)" in html and "patient-clustered" in html
    assert "Cohort: external" in html and "Cohort: all cohorts" in html
    assert services.results_current(study=study).pk == first.pk  # cached, not recomputed
    assert services.results_latest(study=study) == (first, True)
    read = Read.objects.filter(arm__study=study).order_by("pk").first()
    new_call = "benign" if read.call != "benign" else "ene"
    study_services.read_submit(
        reader=read.reader,
        arm=read.arm,
        node=read.node,
        call=new_call,
        confidence=50,
        idempotency_key=uuid.uuid4(),
    )
    latest, up_to_date = services.results_latest(study=study)
    assert latest.pk == first.pk and not up_to_date
    stale = client.get(f"/studies/{study.pk}/results/").content.decode()
    assert "the reads have changed: an update is being computed" in stale
    assert client.get(f"/api/v1/studies/{study.pk}/results/").json()["status"] == "stale"
    second_id = results_refresh(study.pk)  # the Celery task's body
    second = ResultSnapshot.objects.get(pk=second_id)
    assert second.pk != first.pk and second.fingerprint != first.fingerprint
    assert results_refresh(study.pk) == second.pk  # idempotent
    assert services.results_latest(study=study) == (second, True)
    # The page shows the new snapshot, rendered once and then taken from the cache.
    fresh = client.get(f"/studies/{study.pk}/results/").content.decode()
    assert "an update is being computed" not in fresh
    assert f"from {second.n_reads} reads" in fresh and "reader mean" in fresh

    def not_again(*args, **kwargs):
        raise AssertionError("a cached snapshot was rendered again")

    monkeypatch.setattr(dashboard, "dashboard_context", not_again)
    again = client.get(f"/studies/{study.pk}/results/").content.decode()
    tables = fresh.index('<h2 class="section">')  # the page's own form tokens differ per request
    assert again[tables:] == fresh[tables:]


ROUTES = (
    "/studies/{id}/results/",
    "/studies/{id}/results/reads.csv",
    "/studies/{id}/results/reads-dictionary.md",
    "/studies/{id}/results/analysis.json",
    "/studies/{id}/results/report.pdf",
    "/studies/{id}/results/imrmc/?task=ene",
    "/studies/{id}/results/mrmcaov.csv?task=metastasis",
    "/api/v1/studies/{id}/results/",
)


def test_readers_get_403_on_every_results_route(make_user, client):
    study = make_results_study(patients=(3, 2), readers=2)
    assigned = study.assignments.first().reader
    outsider = make_user(Role.READER, "outsider")
    for user in (assigned, outsider):
        client.force_login(user)
        for route in ROUTES:
            assert client.get(route.format(id=study.pk)).status_code == 403, (user, route)
    client.logout()
    for route in ROUTES:
        status = client.get(route.format(id=study.pk)).status_code
        assert status == (403 if route.startswith("/api/") else 302), route
    assert not ResultSnapshot.objects.exists()  # nothing was computed for them


def test_the_readers_are_the_people_who_made_calls_not_the_models():
    study = make_results_study(patients=(4, 3), readers=2)
    nodes = [
        (case.node_id, case.node.reference.call)
        for case in study.cases.select_related("node__reference")
    ]
    db_model_predictions(nodes, label="listed-model", seed=3)
    results = services.results_compute(study=study)
    assert results["models"] == ["listed-model"]
    assert "listed-model" not in {code for code, _ in results["readers"]}
    assert len(results["readers"]) == 2 and all(simulated for _, simulated in results["readers"])
