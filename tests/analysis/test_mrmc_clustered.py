"""Tests of analysis.mrmc.clustered: OR-MRMC with the AUC covariance over patients (clusters).

(a) one node per patient: identical to the unclustered estimators; (b) a large simulated study
with correlated nodes within patients: the clustered SE agrees with a patient-level bootstrap,
the node-level SE is clearly too small; (c) a slow, obvious second implementation.
"""

from __future__ import annotations

import sys
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # allow `pytest -p no:django`
    sys.path.insert(0, str(REPO_ROOT))

from analysis._core import fast_delong  # noqa: E402
from analysis.errors import AnalysisInputError  # noqa: E402
from analysis.mrmc import (  # noqa: E402
    auc_covariance,
    cluster_jackknife_aucs,
    clustered_auc_covariance,
    clustered_or_analysis,
    or_analysis,
    or_from_aucs,
)


def simulate_clustered(
    *,
    n_patients: int,
    readers: int,
    seed: int,
    patient_sd: float = 1.0,
    max_nodes: int = 6,
) -> pd.DataFrame:
    """Two modalities, ``readers`` readers; each patient has 1..max_nodes nodes.

    Nodes of a patient share the truth tendency (a "positive" patient has mostly positive
    nodes) and a patient effect on every score (same images for every reader and modality),
    so placements are correlated within patients.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        diseased = rng.random() < 0.4
        n_nodes = int(rng.integers(1, max_nodes + 1))
        effect = rng.normal(0.0, patient_sd)
        for k in range(n_nodes):
            truth = int(diseased and rng.random() < 0.8)
            node_effect = rng.normal(0.0, 0.5)
            for modality, shift in (("A", 1.2), ("B", 1.6)):
                for j in range(readers):
                    score = shift * truth + effect + node_effect + rng.normal(0.0, 0.8)
                    rows.append(
                        {
                            "case": f"p{p}-n{k}",
                            "cluster": f"p{p}",
                            "reader": f"r{j}",
                            "modality": modality,
                            "truth": truth,
                            "score": score,
                        }
                    )
    return pd.DataFrame(rows)


def slow_auc(scores: np.ndarray, truth: np.ndarray) -> float:
    pos = scores[truth == 1]
    neg = scores[truth == 0]
    total = 0.0
    for x in pos:
        for y in neg:
            total += 1.0 if x > y else 0.5 if x == y else 0.0
    return total / (len(pos) * len(neg))


def slow_cluster_jackknife(
    scores: np.ndarray, truth: np.ndarray, clusters: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Leave each cluster out, recompute each AUC by the double loop, jackknife covariance."""
    names = sorted(set(clusters.astype(str)))
    k = scores.shape[0]
    loo = np.empty((k, len(names)))
    for g, name in enumerate(names):
        keep = clusters.astype(str) != name
        for a in range(k):
            loo[a, g] = slow_auc(scores[a, keep], truth[keep])
    g_count = len(names)
    cov = np.zeros((k, k))
    mean = loo.mean(axis=1)
    for g in range(g_count):
        dev = loo[:, g] - mean
        cov += np.outer(dev, dev)
    return loo, cov * (g_count - 1) / g_count


# ---------------------------------------------------------------------------------------------
# (a) one node per patient == the unclustered estimators
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("analysis", ["RRRC", "FRRC", "RRFC"])
@pytest.mark.parametrize(
    ("clustered_cov", "plain_cov"), [("jackknife", "jackknife"), ("DeLong", "DeLong")]
)
def test_one_node_per_patient_equals_unclustered(analysis, clustered_cov, plain_cov):
    frame = simulate_clustered(n_patients=120, readers=4, seed=3, max_nodes=1)
    assert frame.groupby("cluster")["case"].nunique().max() == 1
    clustered = clustered_or_analysis(frame, covariance=clustered_cov, analysis=analysis).to_dict()
    plain = or_analysis(frame.drop(columns="cluster"), covariance=plain_cov, analysis=analysis)
    plain_dict = plain.to_dict()
    for key in ("f", "df2", "p_value"):
        if plain_dict[key] is None:  # FRRC: infinite df2
            assert clustered[key] is None
        else:
            assert clustered[key] == pytest.approx(plain_dict[key], abs=1e-10, rel=1e-10), key
    for name, value in plain_dict["variance_components"].items():
        assert clustered["variance_components"][name] == pytest.approx(
            value, abs=1e-10, rel=1e-10
        ), name
    for ours, theirs in zip(clustered["differences"], plain_dict["differences"], strict=True):
        for key in ("estimate", "se", "p_value"):
            assert ours[key] == pytest.approx(theirs[key], abs=1e-10, rel=1e-10), key
        assert ours["ci95"] == pytest.approx(theirs["ci95"], abs=1e-10)
    for modality, ci in plain_dict["modality_ci"].items():
        assert clustered["modality_ci"][modality]["se"] == pytest.approx(ci["se"], abs=1e-10)
    assert clustered["clustering"]["n_clusters"] == 120
    assert clustered["warnings"] == plain_dict["warnings"]


def test_covariance_singletons_match_matrix_exactly():
    rng = np.random.default_rng(0)
    truth = (rng.random(80) < 0.4).astype(int)
    scores = rng.normal(size=(5, 80)) + truth
    scores = np.round(scores, 1)  # ties count one half in both
    auc_j, cov_j = auc_covariance(scores, truth, method="jackknife")
    auc_c, cov_c, g = clustered_auc_covariance(scores, truth, np.arange(80), method="jackknife")
    assert g == 80
    np.testing.assert_allclose(auc_c, auc_j, atol=1e-12)
    np.testing.assert_allclose(cov_c, cov_j, atol=1e-12, rtol=1e-10)


# ---------------------------------------------------------------------------------------------
# (c) slow obvious implementation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 5])
def test_cluster_jackknife_matches_slow_recomputation(seed):
    frame = simulate_clustered(n_patients=14, readers=2, seed=seed, max_nodes=4)
    frame["score"] = frame["score"].round(0)  # many ties, including within a patient
    cases = list(pd.unique(frame["case"]))
    first = frame.drop_duplicates("case").set_index("case").loc[cases]
    truth = first["truth"].to_numpy()
    clusters = first["cluster"].to_numpy()
    vectors = [
        frame[(frame["modality"] == mod) & (frame["reader"] == rdr)]
        .set_index("case")
        .loc[cases, "score"]
        .to_numpy()
        for mod, rdr in product(["A", "B"], ["r0", "r1"])
    ]
    scores = np.vstack(vectors)
    auc, loo, names = cluster_jackknife_aucs(scores, truth, clusters)
    slow_loo, slow_cov = slow_cluster_jackknife(scores, truth, clusters)
    assert names == sorted(set(clusters))
    np.testing.assert_allclose(auc, [slow_auc(row, truth) for row in scores], atol=1e-12)
    np.testing.assert_allclose(loo, slow_loo, atol=1e-12)
    _, cov, _ = clustered_auc_covariance(scores, truth, clusters)
    np.testing.assert_allclose(cov, slow_cov, atol=1e-12)
    # and OR on top of it is or_from_aucs of the slow covariance
    result = clustered_or_analysis(frame).to_dict()
    expected = or_from_aucs(
        np.array(auc).reshape(2, 2),
        slow_cov,
        modalities=["A", "B"],
        readers=["r0", "r1"],
    ).to_dict()
    assert result["f"] == pytest.approx(expected["f"], rel=1e-10)
    assert result["differences"][0]["se"] == pytest.approx(
        expected["differences"][0]["se"], rel=1e-10
    )


# ---------------------------------------------------------------------------------------------
# (b) large simulated clustered study vs a patient-level bootstrap
# ---------------------------------------------------------------------------------------------


def _score_array(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    wide = frame.pivot_table(
        index=["case", "cluster", "truth"], columns=["modality", "reader"], values="score"
    )
    cases = wide.index.to_frame(index=False)
    return wide.to_numpy().T, cases["truth"].to_numpy(), cases["cluster"].to_numpy()


@pytest.fixture(scope="module")
def big_study():
    return simulate_clustered(n_patients=500, readers=4, seed=11, patient_sd=1.2)


@pytest.fixture(scope="module")
def bootstrap_se(big_study):
    """Patient-level bootstrap SE of the reader-averaged AUC of A and of the A - B difference
    (readers fixed, patients resampled with all their nodes): the quantity FRRC estimates."""
    scores, truth, clusters = _score_array(big_study)
    names, codes = np.unique(clusters, return_inverse=True)
    members = [np.flatnonzero(codes == g) for g in range(len(names))]
    rng = np.random.default_rng(2024)
    mean_a, diff = [], []
    for _ in range(400):
        pick = rng.integers(0, len(names), size=len(names))
        idx = np.concatenate([members[g] for g in pick])
        auc = fast_delong(scores[:, idx], truth[idx]).auc.reshape(2, 4)
        mean_a.append(auc[0].mean())
        diff.append(auc[0].mean() - auc[1].mean())
    return float(np.std(mean_a, ddof=1)), float(np.std(diff, ddof=1))


@pytest.mark.parametrize("covariance", ["jackknife", "DeLong"])
def test_clustered_se_agrees_with_patient_bootstrap(big_study, bootstrap_se, covariance):
    boot_mean, boot_diff = bootstrap_se
    clustered = clustered_or_analysis(big_study, covariance=covariance, analysis="FRRC").to_dict()
    node_level = or_analysis(
        big_study.drop(columns="cluster"), covariance=covariance, analysis="FRRC"
    ).to_dict()
    se_mean = clustered["modality_ci"]["A"]["se"]
    se_diff = clustered["differences"][0]["se"]
    # 400 replicates: the bootstrap SE itself has ~3.5% Monte Carlo error; allow 15%.
    assert se_mean == pytest.approx(boot_mean, rel=0.15)
    assert se_diff == pytest.approx(boot_diff, rel=0.15)
    # ignoring the patients understates the SE of the mean AUC by well over 20% here
    assert node_level["modality_ci"]["A"]["se"] < 0.8 * boot_mean
    assert clustered["clustering"]["n_clusters"] == 500


def test_rrrc_clustered_wider_than_node_level(big_study):
    clustered = clustered_or_analysis(big_study).to_dict()
    node_level = or_analysis(big_study.drop(columns="cluster")).to_dict()
    assert clustered["differences"][0]["se"] >= node_level["differences"][0]["se"]
    assert clustered["modality_ci"]["A"]["se"] > node_level["modality_ci"]["A"]["se"]
    assert not any("treated as independent" in w for w in clustered["warnings"])


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------


def test_errors_name_the_problem():
    frame = simulate_clustered(n_patients=20, readers=2, seed=4)
    with pytest.raises(AnalysisInputError, match="cluster column 'patient'"):
        clustered_or_analysis(frame, cluster_column="patient")
    renamed = frame.rename(columns={"cluster": "patient"})
    assert (
        clustered_or_analysis(renamed, cluster_column="patient").to_dict()["clustering"]["column"]
        == "patient"
    )
    with pytest.raises(AnalysisInputError, match="unbiased"):
        clustered_or_analysis(frame, covariance="unbiased")
    truth = np.array([1, 1, 0, 0, 0])
    with pytest.raises(AnalysisInputError, match="cluster 'a' holds all the positive"):
        cluster_jackknife_aucs(np.arange(5.0), truth, np.array(["a", "a", "b", "c", "c"]))


# ---------------------------------------------------------------------------------------------
# command line and report
# ---------------------------------------------------------------------------------------------


def test_cli_mrmc_cluster_column_and_report(tmp_path, capsys):
    import json

    from analysis.cli import main
    from analysis.report import study_report

    frame = simulate_clustered(n_patients=40, readers=3, seed=8).rename(
        columns={"cluster": "patient"}
    )
    path = tmp_path / "ratings.csv"
    frame.to_csv(path, index=False)
    assert main(["mrmc", "--input", str(path), "--cluster-column", "patient"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = clustered_or_analysis(frame, cluster_column="patient").to_dict()
    assert printed["clustering"]["n_clusters"] == 40
    assert printed["f"] == pytest.approx(expected["f"], rel=1e-12)
    assert printed["differences"][0]["se"] == pytest.approx(
        expected["differences"][0]["se"], rel=1e-12
    )
    report = study_report(frame.rename(columns={"patient": "cluster"}), cluster=True)
    task = report["cohorts"][0]["tasks"][0]
    assert task["mrmc"]["method"] == "OR"
    assert task["mrmc_clustered"]["clustering"]["n_clusters"] == 40
    assert task["mrmc_clustered"]["f"] == pytest.approx(expected["f"], rel=1e-12)
