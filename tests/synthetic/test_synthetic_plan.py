"""Cohort plan: prevalence, node counts, covariates and N staging (no images, fast)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cohortformat import vocabulary
from synthetic.cohort import plan_cohort
from synthetic.profiles import get_profile, parse_prevalence
from synthetic.staging import StagedNode, pathologic_n_stage


@pytest.mark.parametrize("profile", ["internal", "external"])
def test_default_prevalence_is_met_exactly(profile: str) -> None:
    prof = get_profile(profile)
    plan = plan_cohort(200, 7, prof)
    refs = [n.reference for p in plan.patients for n in p.nodes]
    total = len(refs)
    for cls, frac in zip(("benign", "metastasis", "ene"), prof.default_prevalence, strict=True):
        assert abs(refs.count(cls) - frac * total) <= 1.0


def test_custom_prevalence_and_parsing() -> None:
    prof = get_profile("internal")
    assert parse_prevalence("50,30,20", prof) == pytest.approx((0.5, 0.3, 0.2))
    assert parse_prevalence(None, prof) == prof.default_prevalence
    with pytest.raises(ValueError):
        parse_prevalence("1,2", prof)
    with pytest.raises(ValueError):
        parse_prevalence("-1,1,1", prof)
    plan = plan_cohort(50, 3, prof, parse_prevalence("0.2,0.3,0.5", prof))
    refs = [n.reference for p in plan.patients for n in p.nodes]
    assert abs(refs.count("ene") / len(refs) - 0.5) < 0.01


@pytest.mark.parametrize(("profile", "target"), [("internal", 1011 / 172), ("external", 194 / 25)])
def test_nodes_per_patient_and_covariates(profile: str, target: float) -> None:
    prof = get_profile(profile)
    plan = plan_cohort(600, 11, prof)
    counts = np.array([len(p.nodes) for p in plan.patients])
    assert counts.min() >= 1
    assert abs(counts.mean() - target) < 0.5
    ages = np.array([p.age for p in plan.patients])
    assert abs(ages.mean() - prof.age[0]) < 1.5
    assert ages.min() >= 33 and ages.max() <= 89
    male = np.mean([p.sex == "M" for p in plan.patients])
    assert male > 0.88
    sites = {p.primary_site for p in plan.patients}
    assert sites <= {"larynx", "hypopharynx"}
    assert np.mean([p.hpv_status != "positive" for p in plan.patients]) > 0.85
    # ENE nodes cluster in few patients, as in 001 (~1.4 ENE nodes per ENE patient)
    ene_pat = [sum(n.reference == "ene" for n in p.nodes) for p in plan.patients]
    ene_pat = [c for c in ene_pat if c]
    assert 1.0 <= np.mean(ene_pat) <= 2.2


def test_sizes_follow_the_profile() -> None:
    for profile, medians in (("internal", (6, 10, 22)), ("external", (6, 8, 11))):
        plan = plan_cohort(400, 5, get_profile(profile))
        for cls, med in zip(("benign", "metastasis", "ene"), medians, strict=True):
            sizes = [n.short_axis_mm for p in plan.patients for n in p.nodes if n.reference == cls]
            assert abs(np.median(sizes) - med) < 0.12 * med + 0.5


def test_ene_grades_and_extent() -> None:
    for profile in ("internal", "external"):
        plan = plan_cohort(300, 9, get_profile(profile))
        enes = [n for p in plan.patients for n in p.nodes if n.reference == "ene"]
        assert all(n.ene_grade in vocabulary.ENE_GRADES and n.ene_extent_mm > 0 for n in enes)
        micro = vocabulary.ENE_MICRO_MAX_MM
        assert all((n.ene_extent_mm <= micro) == (n.ene_grade <= 2) for n in enes)
        others = [n for p in plan.patients for n in p.nodes if n.reference != "ene"]
        assert all(n.ene_grade is None and n.ene_extent_mm is None for n in others)
    # the external profile is dominated by microscopic (grade 1-2) ENE
    ext = [
        n.ene_grade
        for p in plan_cohort(300, 9, get_profile("external")).patients
        for n in p.nodes
        if n.ene_grade
    ]
    internal = [
        n.ene_grade
        for p in plan_cohort(300, 9, get_profile("internal")).patients
        for n in p.nodes
        if n.ene_grade
    ]
    assert np.mean(np.array(ext) <= 2) > 0.6
    assert np.mean(np.array(internal) >= 3) > 0.5


def test_plan_is_deterministic() -> None:
    prof = get_profile("internal")
    a = plan_cohort(20, 42, prof)
    b = plan_cohort(20, 42, prof)
    c = plan_cohort(20, 43, prof)
    assert [vars(n) for p in a.patients for n in p.nodes] == [
        vars(n) for p in b.patients for n in p.nodes
    ]
    assert [vars(n) for p in a.patients for n in p.nodes] != [
        vars(n) for p in c.patients for n in p.nodes
    ]


def _n(ref: str, side: str = "left", size: float = 20.0) -> StagedNode:
    return StagedNode(ref, side, size)


def test_pathologic_n_stage_ajcc8() -> None:
    assert pathologic_n_stage([_n("benign"), _n("benign", "right")], "left") == "N0"
    assert pathologic_n_stage([_n("metastasis")], "left") == "N1"
    assert pathologic_n_stage([_n("metastasis", size=45)], "left") == "N2a"
    assert pathologic_n_stage([_n("ene")], "left") == "N2a"  # single ipsilateral <= 3 cm
    assert pathologic_n_stage([_n("ene", size=35)], "left") == "N3b"
    assert pathologic_n_stage([_n("ene"), _n("metastasis")], "left") == "N3b"
    assert pathologic_n_stage([_n("ene", "right")], "left") == "N3b"  # contralateral
    assert pathologic_n_stage([_n("metastasis"), _n("metastasis")], "left") == "N2b"
    assert pathologic_n_stage([_n("metastasis"), _n("metastasis", "right")], "left") == "N2c"
    assert pathologic_n_stage([_n("metastasis", size=65)], "left") == "N3a"
    assert pathologic_n_stage([_n("metastasis", "right"), _n("metastasis")], "midline") == "N2b"


@pytest.mark.parametrize("profile", ["internal", "external"])
def test_plan_writes_only_import_format_values(profile: str) -> None:
    """Every covariate and node value the plan can produce is in the import format's
    vocabulary (cohortformat), so the importer accepts it as it is."""
    plan = plan_cohort(300, 4, get_profile(profile))
    nodes = [n for p in plan.patients for n in p.nodes]
    assert {n.reference for n in nodes} <= set(vocabulary.REFERENCE.values)
    assert {n.level for n in nodes} <= set(vocabulary.NECK_LEVEL.values)
    assert {n.side for n in nodes} <= set(vocabulary.SIDE.values)
    assert {p.sex for p in plan.patients} <= set(vocabulary.SEX.values)
    assert {p.primary_site for p in plan.patients} <= set(vocabulary.PRIMARY_SITE.values)
    assert {p.pt_stage for p in plan.patients} <= set(vocabulary.T_STAGE.values)
    assert {p.hpv_status for p in plan.patients} <= set(vocabulary.HPV_STATUS.values)


def test_every_n_stage_is_an_import_format_value() -> None:
    stages = {
        pathologic_n_stage([_n(ref, side, size) for ref, side, size in combo], primary)
        for primary in ("left", "right", "midline")
        for combo in (
            [],
            [("benign", "left", 10.0)],
            [("metastasis", "left", 20.0)],
            [("metastasis", "left", 45.0)],
            [("metastasis", "left", 65.0)],
            [("metastasis", "left", 20.0), ("metastasis", "left", 20.0)],
            [("metastasis", "left", 20.0), ("metastasis", "right", 20.0)],
            [("ene", "left", 20.0)],
            [("ene", "right", 35.0)],
        )
    }
    assert stages <= set(vocabulary.N_STAGE.values)
    assert {"N0", "N1", "N2a", "N2b", "N2c", "N3a", "N3b"} <= stages


def test_a_profile_with_a_value_outside_the_format_is_refused() -> None:
    prof = get_profile("internal")
    with pytest.raises(ValueError, match=r"level values \['VII'\] unknown"):
        dataclasses.replace(prof, level_weights={"II": 0.5, "VII": 0.5})
    with pytest.raises(ValueError, match=r"primary_site values \['tongue'\] unknown"):
        dataclasses.replace(prof, primary_site_probs={"tongue": 1.0})
