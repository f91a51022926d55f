"""Realism measured from the written files: HU per tissue, noise, node sizes, ENE difficulty."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from cohortformat.measurements import measure_node
from synthetic import realism
from synthetic.dicom_io import read_mask, read_series
from synthetic.profiles import get_profile
from tests.synthetic_cohorts import COHORTS

TARGETS_001 = {
    # 001: class mix and median short axis (mm) per class
    "internal": ((0.683, 0.224, 0.093), (6.0, 10.0, 22.0)),
    "external": ((0.830, 0.052, 0.118), (6.0, 8.0, 11.0)),
}
CLASSES = ("benign", "metastasis", "ene")


def test_tissue_hu_and_noise_small_cohort(small_reports: dict[str, dict]) -> None:
    rep = small_reports["internal"]
    t = rep["tissue_hu"]
    assert rep["tissue_source"] == "truth"
    assert -1010 < t["outside"]["mean_hu"] < -980
    assert -1010 < t["airway"]["mean_hu"] < -940
    assert -120 < t["fat"]["mean_hu"] < -80
    assert 40 < t["muscle"]["mean_hu"] < 60
    assert 150 < t["artery"]["mean_hu"] < 300
    assert 120 < t["vein"]["mean_hu"] < 250
    assert 30 < t["node"]["mean_hu"] < 80
    assert t["cortical_bone"]["mean_hu"] > 300
    assert (
        t["artery"]["mean_hu"] > t["vein"]["mean_hu"] > t["muscle"]["mean_hu"] > t["fat"]["mean_hu"]
    )
    # CT noise: the right level for the profile and spatially correlated (not white)
    air = rep["noise"]["outside"]
    assert 7 < air["residual_sd_hu"] < 16
    assert air["lag1_correlation"] > 0.15
    assert rep["slices_per_series"][0] >= 40


def test_external_profile_is_noisier_with_thicker_slices(small_reports: dict[str, dict]) -> None:
    a, b = small_reports["internal"], small_reports["external"]
    assert b["noise"]["outside"]["residual_sd_hu"] > a["noise"]["outside"]["residual_sd_hu"] + 3
    assert b["geometry_example"]["slice_spacing"] > a["geometry_example"]["slice_spacing"]
    assert b["tissue_hu"]["artery"]["mean_hu"] < a["tissue_hu"]["artery"]["mean_hu"]


def test_default_prevalence_measured_from_the_files_is_001s(
    small_reports: dict[str, dict],
) -> None:
    """The class mix read back from the written cohort is 001's, as exactly as whole nodes
    allow: classes are allocated by largest remainder, so each count is within one node."""
    for profile, rep in small_reports.items():
        total = rep["nodes"]
        for cls, frac in zip(CLASSES, TARGETS_001[profile][0], strict=True):
            assert abs(rep["classes"][cls]["n"] - frac * total) < 1.0, (profile, cls, total)


def test_short_axis_measurement() -> None:
    m = np.zeros((3, 40, 40), bool)
    yy, xx = np.mgrid[:40, :40]
    m[1] = ((yy - 20) / 5.0) ** 2 + ((xx - 20) / 10.0) ** 2 <= 1  # 10 x 20 px ellipse
    sa, la, k = realism.short_axis_mm(m, (0.5, 0.5))
    assert k == 1 and abs(sa - 5.5) < 0.6 and abs(la - 10.5) < 0.6


def test_realism_measures_what_the_importer_stores(small_internal: Path) -> None:
    """The realism report's diameters are the import's (one definition, cohortformat), node
    by node, so the README's size table describes what the app stores."""
    rows = realism._read_manifest(small_internal)
    series = read_series(small_internal / rows[0]["series"])
    labels = read_mask(small_internal / rows[0]["mask"], series)
    voxel = (series.slice_spacing, *series.pixel_spacing)
    checked = 0
    for r in rows:
        if r["patient_id"] != rows[0]["patient_id"]:
            continue
        label = int(r["mask_label"])
        features = realism.node_features(series, labels, label)
        stored = measure_node(labels == label, voxel_size_zyx=voxel)
        assert round(features["short_axis_mm"], 3) == stored.short_axis_mm, r["node_id"]
        assert round(features["long_axis_mm"], 3) == stored.long_axis_mm, r["node_id"]
        checked += 1
    assert checked >= 2


def test_realism_cli_writes_json_and_montage(small_external: Path, tmp_path: Path) -> None:
    js, png = tmp_path / "r.json", tmp_path / "m.png"
    assert realism.main([str(small_external), "--json", str(js), "--montage", str(png)]) == 0
    rep = json.loads(js.read_text())
    assert set(rep["classes"]) == set(CLASSES) and rep["nodes"] == len(rep["node_features"])
    assert png.stat().st_size > 50_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_threshold_mode_without_truth(cohorts) -> None:
    out = cohorts("ext1-seg")  # written with truth=False
    assert not (out / ".truth").exists()
    rep = realism.analyse_cohort(out)
    assert rep["tissue_source"] == "thresholds"
    assert -120 < rep["tissue_hu"]["fat"]["mean_hu"] < -70


# Node statistics are measured on small cohorts (8 internal, 6 external patients, ~40 nodes
# each) so that the suite stays fast; the generator costs about half a second per patient. An
# even class mix gives every class ~13 nodes (001's mix would give ~4 ENE nodes internally).
# Tolerances follow from that size, using the profiles' own size models: the median of n
# log-normal draws has a standard error of about 1.2533 * sigma * median / sqrt(n), and each
# median may be off by 2.5 of those (or by the former fixed tolerance where that is wider).
STATS_PREVALENCE = COHORTS["stats-internal"]["prevalence"]
assert COHORTS["stats-external"]["prevalence"] == STATS_PREVALENCE
STATS_PATIENTS = {p: COHORTS[f"stats-{p}"]["n_patients"] for p in ("internal", "external")}


@pytest.fixture(scope="module")
def stats(cohorts) -> dict[str, dict]:
    """Node measurements (no tissue statistics) of the two statistics cohorts."""
    return {p: realism.analyse_cohort(cohorts(f"stats-{p}"), tissues=False) for p in STATS_PATIENTS}


def _median_tolerance(profile: str, cls: str, n: int) -> float:
    model = get_profile(profile).sizes[cls]
    standard_error = 1.2533 * model.sigma * model.median_mm / math.sqrt(n)
    former = {"benign": 1.0, "metastasis": 1.5, "ene": 3.5 if profile == "internal" else 2.5}
    return max(2.5 * standard_error, former[cls])


@pytest.mark.slow
def test_prevalence_and_sizes_match_001(stats: dict[str, dict]) -> None:
    """Measured from the files: the requested class mix exactly (within one node), median
    short axis per class close to 001's, nodes per patient as 001's."""
    for profile, rep in stats.items():
        total = rep["nodes"]
        medians = TARGETS_001[profile][1]
        for cls, frac, med in zip(CLASSES, STATS_PREVALENCE, medians, strict=True):
            c = rep["classes"][cls]
            assert abs(c["n"] - frac * total) < 1.0, (profile, cls, total)
            tol = _median_tolerance(profile, cls, c["n"])
            assert abs(c["median_short_axis_mm"] - med) <= tol, (profile, cls, c, tol)
        # nodes per patient: 1 + negative binomial (r = 4) around 001's mean; 2.5 standard
        # errors of a mean over this many patients
        prof = get_profile(profile)
        extra = prof.nodes_per_patient - 1.0
        sd = math.sqrt(extra + extra**2 / 4.0)
        tol = 2.5 * sd / math.sqrt(rep["patients"])
        assert abs(rep["nodes_per_patient"] - prof.nodes_per_patient) <= tol, (profile, rep)


@pytest.mark.slow
def test_ene_is_harder_in_the_external_profile(stats: dict[str, dict]) -> None:
    """Logistic regression on (short axis, perinodal shell HU), cross-validated: clearly
    lower ENE AUC externally, as 001's readers did worse on its external test set 2.

    With ~13 ENE and ~27 other nodes per profile an AUC near 0.75 has a standard error of
    about 0.08 (Hanley-McNeil), near 0.95 about 0.03; the required gap of 0.05 is the
    original test's, well inside what the profiles produce."""
    internal, external = stats["internal"]["baseline_ene"], stats["external"]["baseline_ene"]
    assert internal["n_ene"] >= 12 and external["n_ene"] >= 12
    assert internal["auc_size_and_shell"] > 0.9
    assert internal["auc_size_and_shell"] - external["auc_size_and_shell"] >= 0.05
    # the perinodal shell is less informative externally (subtler stranding)
    assert internal["auc_shell_only"] > external["auc_shell_only"]
