"""The study report: structure, agreement with the individual functions, robustness."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis import (
    AnalysisInputError,
    compare_readers,
    model_vs_reader_mean,
    ratings_matrix,
    study_report,
    task_ratings,
    validate_ratings,
)


def _study(seed: int = 0, cohorts: tuple[str, ...] = ("ext1", "ext2")) -> pd.DataFrame:
    """Synthetic 3-way study: three readers' calls and a model's probabilities per node."""
    rng = np.random.default_rng(seed)
    rows = []
    for cohort in cohorts:
        for patient in range(20):
            for node in range(int(rng.integers(2, 6))):
                reference = int(rng.choice([0, 1, 2], p=[0.65, 0.2, 0.15]))
                case = f"{cohort}-p{patient}-n{node}"
                cluster = f"{cohort}-p{patient}"
                for reader in ("R1", "R2", "R3"):
                    call = int(np.clip(reference + rng.choice([-1, 0, 0, 0, 1]), 0, 2))
                    rows.append(
                        {
                            "case": case,
                            "reader": reader,
                            "call": call,
                            "reference": reference,
                            "cohort": cohort,
                            "cluster": cluster,
                        }
                    )
                logits = 2.0 * np.eye(3)[reference] + rng.normal(size=3)
                probabilities = np.exp(logits) / np.exp(logits).sum()
                rows.append(
                    {
                        "case": case,
                        "reader": "DeepENE",
                        "call": None,
                        "reference": reference,
                        "cohort": cohort,
                        "cluster": cluster,
                        "p_benign": probabilities[0],
                        "p_meta": probabilities[1],
                        "p_ene": probabilities[2],
                    }
                )
    return pd.DataFrame(rows)


def test_report_is_strict_json_with_every_cohort_task_and_pooled_cohort():
    report = study_report(_study(), cluster=True, derivation_cohort="ext1")
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    assert report["mode"] == "three_way_calls"
    assert report["options"]["models"] == ["DeepENE"]
    assert [cohort["cohort"] for cohort in report["cohorts"]] == ["ext1", "ext2", "all cohorts"]
    for cohort in report["cohorts"]:
        assert [task["task"] for task in cohort["tasks"]] == ["ene", "metastasis", "ene_vs_meta"]
        assert len(cohort["confusion_matrices"]) == 4
        assert [kappa["n_readers"] for kappa in cohort["fleiss_kappa_3way"]] == [3]
    assert report["warnings"] == []
    transfers = report["threshold_transfer"]
    assert {item["task"] for item in transfers} == {"ene", "metastasis", "ene_vs_meta"}
    assert transfers[0]["validation"][0]["validation_cohort"] == "ext2"


def test_report_model_comparisons_equal_the_individual_functions():
    study = _study(seed=1)
    report = study_report(study, tasks=["ene"], cluster=True)
    block = report["cohorts"][0]["tasks"][0]["modalities"][0]
    detail = block["models_detail"][0]
    ext1 = validate_ratings(task_ratings(study[study["cohort"] == "ext1"], task="ene"))
    expected = compare_readers(ext1, a="DeepENE", b="R2", cluster=True).to_dict()
    reported = next(test for test in detail["versus_readers"] if test["b"] == "R2")
    assert reported["p_value"] == pytest.approx(expected["p_value"], rel=1e-12)
    assert reported["variance_method"] == "obuchowski"
    names, cases, scores, truth = ratings_matrix(ext1, readers=["DeepENE", "R1", "R2", "R3"])
    clusters = ext1.groupby("case", sort=False)["cluster"].first().reindex(cases).to_numpy()
    contrast = model_vs_reader_mean(scores[0], scores[1:], truth, clusters=clusters)
    assert detail["versus_reader_mean"]["estimate"] == pytest.approx(contrast.estimate)
    assert detail["versus_reader_mean"]["p_value"] == pytest.approx(contrast.p_value)
    # Readers' own operating point: ENE called (ordinal call 2).
    point = block["reader_operating_points"][0]
    r1 = ext1[ext1["reader"] == "R1"]
    assert point["tp"] == int(((r1["score"] >= 2) & (r1["truth"] == 1)).sum())
    assert block["fleiss_kappa"]["categories"] == ["0", "1"]


def test_cohort_without_ene_nodes_becomes_a_section_error_not_a_failure():
    study = _study(seed=2)
    ext2 = study["cohort"] == "ext2"
    study.loc[ext2 & (study["reference"] == 2), "reference"] = 1
    study.loc[ext2 & study["reader"].eq("DeepENE"), "p_ene"] = 0.0
    report = study_report(study, tasks=["ene"])
    ext2_task = report["cohorts"][1]["tasks"][0]
    roc = ext2_task["modalities"][0]["roc"]
    assert "error" in roc and "no positive cases" in roc["error"]
    assert any("cohort 'ext2'" in warning for warning in report["warnings"])
    assert "error" not in report["cohorts"][0]["tasks"][0]["modalities"][0]["roc"]


def test_scores_mode_with_modalities_runs_mrmc(reference_frame):
    frame = reference_frame("mrmc_vandyke_long.csv").rename(columns={"rating": "score"})
    report = study_report(frame)
    task = report["cohorts"][0]["tasks"][0]
    assert [block["modality"] for block in task["modalities"]] == ["1", "2"]
    assert task["mrmc"]["method"] == "OR"
    assert "reader_thresholds" in task["modalities"][0]


def test_unknown_model_and_task_are_input_errors():
    with pytest.raises(AnalysisInputError, match=r"model\(s\) \['GPT'\] not found"):
        study_report(_study(), models=["GPT"])
    with pytest.raises(AnalysisInputError, match="unknown task 'size'"):
        study_report(_study(), tasks=["size"])
    with pytest.raises(AnalysisInputError, match="derivation cohort 'ext9' not found"):
        study_report(_study(), derivation_cohort="ext9")


def test_modalities_of_three_way_input_are_analysed_separately():
    # Readers unaided and aided; the model rated once ("standalone") is compared within both.
    study = _study(seed=3, cohorts=("ext1",)).drop(columns=["cohort"])
    readers = study[study["reader"] != "DeepENE"]
    model = study[study["reader"] == "DeepENE"].assign(modality="standalone")
    aided = readers.assign(modality="aided", call=readers["reference"])
    combined = pd.concat([readers.assign(modality="unaided"), aided, model], ignore_index=True)
    report = study_report(combined, tasks=["metastasis"])
    assert report["warnings"] == []
    cohort = report["cohorts"][0]
    assert [kappa["modality"] for kappa in cohort["fleiss_kappa_3way"]] == ["unaided", "aided"]
    assert cohort["fleiss_kappa_3way"][1]["fleiss_kappa"] == pytest.approx(1.0)
    task = cohort["tasks"][0]
    assert [block["modality"] for block in task["modalities"]] == ["unaided", "aided"]
    for block in task["modalities"]:
        assert block["models"] == ["DeepENE"]
        assert len(block["models_detail"][0]["versus_readers"]) == 3
    assert set(task["mrmc"]["modalities"]) == {"unaided", "aided"}  # OR: unaided vs aided


def test_mrmc_section_is_never_dropped_by_an_import_lookup(monkeypatch, reference_frame):
    # The report used to look analysis.mrmc up at run time and silently leave the MRMC section
    # out when the import failed. It is now an ordinary import: it cannot be missing at run time.
    import sys

    monkeypatch.setitem(sys.modules, "analysis.mrmc", None)  # any import of it now fails
    frame = reference_frame("mrmc_vandyke_long.csv").rename(columns={"rating": "score"})
    report = study_report(frame)
    assert report["cohorts"][0]["tasks"][0]["mrmc"]["method"] == "OR"


def test_a_section_failing_for_another_reason_than_the_data_fails_the_report(
    monkeypatch, reference_frame
):
    import analysis.report

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the MRMC code")

    monkeypatch.setattr(analysis.report.mrmc, "or_analysis", broken)
    frame = reference_frame("mrmc_vandyke_long.csv").rename(columns={"rating": "score"})
    with pytest.raises(RuntimeError, match="a bug in the MRMC code"):
        study_report(frame)


def test_a_section_the_data_do_not_allow_is_an_error_entry_and_a_warning(
    monkeypatch, reference_frame
):
    import analysis.report

    def refuses(*args, **kwargs):
        raise AnalysisInputError("too few readers")

    monkeypatch.setattr(analysis.report.mrmc, "or_analysis", refuses)
    frame = reference_frame("mrmc_vandyke_long.csv").rename(columns={"rating": "score"})
    report = study_report(frame)
    assert report["cohorts"][0]["tasks"][0]["mrmc"] == {"error": "too few readers"}
    assert report["warnings"] == ["study MRMC: too few readers"]
