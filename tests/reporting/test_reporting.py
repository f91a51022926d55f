"""Report presentation: the tables read every number from the analysis report; the PDF renders."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import pyplot as plt

from analysis.report import study_report
from readerstudy.reporting.methods import methods_paragraphs, software_versions
from readerstudy.reporting.pdf import report_curves, report_pdf
from readerstudy.reporting.tables import report_view

CALLS = ["benign", "metastasis", "ene"]


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    """Two cohorts, three readers and a model on 3-way calls, 3 nodes per patient."""
    rng = np.random.default_rng(7)
    rows = []
    for cohort, n in (("internal", 45), ("external", 30)):
        for i in range(n):
            reference = rng.choice(CALLS, p=[0.5, 0.3, 0.2])
            level = CALLS.index(reference)
            common = dict(case=f"{cohort}-{i}", reference=reference, cohort=cohort)
            common["cluster"] = f"{cohort}-p{i // 3}"
            for r in range(3):
                call = int(np.clip(level + rng.choice([-1, 0, 0, 0, 1]), 0, 2))
                rows.append({**common, "reader": f"R{r + 1}", "call": CALLS[call]})
            p = rng.dirichlet([1 + 2 * (level == k) for k in range(3)])
            rows.append(
                {**common, "reader": "model", "p_benign": p[0], "p_meta": p[1], "p_ene": p[2]}
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def reports(ratings) -> tuple[dict, dict]:
    node_level = study_report(
        ratings, derivation_cohort="internal", curves=True, include_mrmc=False
    )
    clustered = study_report(
        ratings, derivation_cohort="internal", cluster=True, include_mrmc=False
    )
    return node_level, clustered


def test_tables_carry_the_report_numbers_unchanged(reports) -> None:
    node_level, clustered = reports
    view = report_view(node_level, clustered=clustered)
    assert [c.name for c in view.cohorts] == ["internal", "external", "all cohorts"]
    internal_ene = view.cohorts[0].tasks[0]
    assert internal_ene.task == "ene"
    modality = node_level["cohorts"][0]["tasks"][0]["modalities"][0]
    roc = {r["reader"]: r for r in modality["roc"]}
    clustered_roc = {
        r["reader"]: r for r in clustered["cohorts"][0]["tasks"][0]["modalities"][0]["roc"]
    }
    model = internal_ene.models[0]
    assert model.auc.auc == roc["model"]["auc"]
    assert list(model.auc.ci) == roc["model"]["ci95"]
    assert list(model.auc.ci_clustered) == clustered_roc["model"]["ci95"]
    assert model.auc.ci_clustered != model.auc.ci  # clustering changes the interval
    assert model.auc.n_clusters == 15
    youden = modality["models_detail"][0]["thresholds"]["youden"]
    assert model.youden.sensitivity.numerator == youden["tp"]
    assert model.youden.sensitivity.denominator == youden["tp"] + youden["fn"]
    assert [p.label for p in model.fixed_fpr] == [
        "FPR 5%",
        "FPR 10%",
        "FPR 15%",
        "FPR 20%",
        "FPR 30%",
    ]
    versus = {v["b"]: v for v in modality["models_detail"][0]["versus_readers"]}
    for reader in internal_ene.readers:
        assert reader.p_vs_model == versus[reader.auc.name]["p_value"]
    assert internal_ene.fleiss_kappa == modality["fleiss_kappa"]["fleiss_kappa"]
    assert "<svg" in internal_ene.roc_svg and "Reader mean" in internal_ene.roc_svg
    assert [c.who for c in view.cohorts[0].confusion] == ["R1", "R2", "R3", "model"]


def test_methods_name_every_method_and_the_software(reports) -> None:
    text = " ".join(methods_paragraphs(reports[0], versions=software_versions()))
    for needle in (
        "DeLong",
        "Obuchowski",
        "Youden",
        "Wilson",
        "Fleiss",
        "Hillis",
        "McNemar",
        "fixed on the internal cohort",
        "numpy",
        "scipy",
        "statsmodels",
    ):
        assert needle in text, needle


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) missing")
def test_pdf_opens_and_every_page_renders(ratings, tmp_path: Path) -> None:
    # one cohort keeps the test short: methods page + 3 task pages
    internal = ratings[ratings["cohort"] == "internal"]
    node_level = study_report(internal, curves=True, include_mrmc=False)
    clustered = study_report(internal, cluster=True, include_mrmc=False)
    pdf = report_pdf(
        report_view(node_level, clustered=clustered),
        title="Test study",
        computed_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
        n_reads=300,
        methods=methods_paragraphs(node_level, versions={"python": "3"}),
        curves=report_curves(node_level),
    )
    (tmp_path / "report.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "30", "-png", str(tmp_path / "report.pdf"), str(tmp_path / "page")],
        check=True,
        capture_output=True,
    )
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 1 + 3  # methods, then one page per task
    for page in pages:
        pixels = plt.imread(page)[..., :3].mean(axis=2)  # grey levels in 0..1
        assert (pixels < 0.5).mean() > 0.002, f"{page.name} is blank"


def test_results_template_shows_the_tables_with_numerators(reports) -> None:
    from django.template.loader import render_to_string

    node_level, clustered = reports
    view = report_view(node_level, clustered=clustered)
    html = render_to_string("reporting/report_body.html", {"view": view})
    task = view.cohorts[0].tasks[0]
    model = task.models[0]
    assert f"{model.auc.auc:.3f} ({model.auc.ci[0]:.3f}-{model.auc.ci[1]:.3f})" in html
    sensitivity = model.youden.sensitivity
    assert f"({sensitivity.numerator}/{sensitivity.denominator})" in html
    assert "fixed on the internal cohort and carried to the others" in html
    assert html.count('<table class="confusion">') == 3 * 4  # 3 cohorts x (3 readers + model)
    assert html.count("<svg") >= 9


def test_thresholds_carried_from_the_internal_cohort_are_listed(reports) -> None:
    view = report_view(reports[0])
    carried = [r for r in view.threshold_transfers if r.validation_cohort == "external"]
    assert {r.rule for r in carried} == {
        "youden",
        "fpr<=0.05",
        "fpr<=0.1",
        "fpr<=0.15",
        "fpr<=0.2",
        "fpr<=0.3",
    }
    youden = next(r for r in carried if r.task == "ene" and r.rule == "youden")
    internal_model = view.cohorts[0].tasks[0].models[0]
    assert youden.validation.threshold == internal_model.youden.threshold  # the same cutoff
