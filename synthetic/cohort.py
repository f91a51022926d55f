"""Cohort-level sampling: patients, their covariates and the class of every node.

Everything here is drawn from one random stream derived from (seed, profile,
number of patients, prevalence), before any image is rendered, so the rendering
of each patient can run in any process and in any order and still give the same
bytes.

Where the numbers come from (source document 001, Tables 1-2 and Results):

* nodes per patient: 1011 / 172 = 5.9 internally, 194 / 25 = 7.8 in external
  test set 2; drawn as 1 + a negative binomial (over-dispersed, as real node
  counts are), at most 16;
* classes: the requested prevalence is met *exactly* at cohort level (largest
  remainder), then metastatic nodes are clustered in patients as in 001
  (internal: 94 ENE nodes in 68 patients, ~1.4 per ENE patient; 320 metastatic
  nodes in 123 node-positive patients, ~2.6 per patient);
* short-axis diameters: per-class log-normal (``profiles.SizeModel``);
* ENE grade and extent: profile grade mix, shifted towards higher grades for
  larger nodes (see ``nodes.ENE_GRADES`` for what each grade looks like);
* age, sex, primary site, pathologic T stage: 001 Tables 1-2; HPV status:
  laryngeal/hypopharyngeal cancer is rarely HPV-driven, so mostly negative or
  unknown.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

import numpy as np

from .profiles import CLASSES, Profile, SizeModel

__all__ = ["CohortPlan", "NodePlan", "PatientPlan", "plan_cohort", "cohort_signature"]

MAX_NODES_PER_PATIENT = 16

#: ENE extent (mm beyond the capsule) per grade; grades 1-2 are microscopic (<= 2 mm),
#: 3-4 macroscopic (> 2 mm), the import format's boundary
#: (``vocabulary.ENE_MICRO_MAX_MM``).  See nodes.ENE_GRADES for the imaging appearance.
ENE_EXTENT_MM: dict[int, tuple[float, float]] = {
    1: (0.3, 1.0),
    2: (1.0, 2.0),
    3: (2.5, 6.0),
    4: (6.0, 15.0),
}


@dataclass
class NodePlan:
    """One node as the pathology report would describe it, before rendering."""

    reference: str  # benign | metastasis | ene
    level: str
    side: str  # left | right
    short_axis_mm: float  # target short-axis diameter
    ene_grade: int | None = None
    ene_extent_mm: float | None = None


@dataclass
class PatientPlan:
    """Clinical covariates and node plans of one synthetic patient."""

    index: int
    patient_id: str
    age: int
    sex: str
    primary_site: str
    primary_side: str  # left | right | midline
    pt_stage: str
    hpv_status: str
    study_date: _dt.date
    birth_date: _dt.date
    accession_number: str
    referring_physician: str
    nodes: list[NodePlan] = field(default_factory=list)


@dataclass
class CohortPlan:
    """The full plan of a cohort: arguments plus one PatientPlan per patient."""

    profile: Profile
    seed: int
    n_patients: int
    prevalence: tuple[float, float, float]
    signature: str
    patients: list[PatientPlan]


def cohort_signature(
    seed: int, profile: Profile, n_patients: int, prevalence: tuple[float, float, float]
) -> str:
    """A string that identifies the cohort's content (mixed into every UID)."""
    prev = ",".join(f"{p:.6f}" for p in prevalence)
    return f"readerstudy-synthetic-v1|{profile.name}|seed={seed}|n={n_patients}|prev={prev}"


def _largest_remainder(total: int, fractions: tuple[float, float, float]) -> list[int]:
    raw = [total * f for f in fractions]
    counts = [int(np.floor(r)) for r in raw]
    short = total - sum(counts)
    order = sorted(range(3), key=lambda i: (raw[i] - counts[i], -i), reverse=True)
    for i in order[:short]:
        counts[i] += 1
    return counts


def _draw_size(rng: np.random.Generator, model: SizeModel) -> float:
    sigma = model.sigma
    if model.tail_fraction > 0 and rng.random() < model.tail_fraction:
        sigma = model.tail_sigma
        # the tail only widens upwards: enlarged reactive nodes
        value = model.median_mm * float(np.exp(abs(rng.normal(0.0, sigma))))
    else:
        value = model.median_mm * float(np.exp(rng.normal(0.0, sigma)))
    return float(np.clip(value, model.min_mm, model.max_mm))


def _choice(rng: np.random.Generator, probs: dict[str, float]) -> str:
    keys = list(probs)
    p = np.array([probs[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _allocate_classes(
    rng: np.random.Generator, counts: list[int], prevalence: tuple[float, float, float]
) -> list[list[str]]:
    """Give every node slot a class so that the cohort totals match ``prevalence``."""
    n = len(counts)
    n_b, n_m, n_e = _largest_remainder(sum(counts), prevalence)
    free = list(counts)
    classes: list[list[str]] = [[] for _ in range(n)]

    def put(p: int, cls: str) -> None:
        classes[p].append(cls)
        free[p] -= 1

    def pick(candidates: list[int]) -> int | None:
        cands = [p for p in candidates if free[p] > 0]
        if not cands:
            cands = [p for p in range(n) if free[p] > 0]
        if not cands:
            return None
        w = np.array([free[p] for p in cands], dtype=float)
        return cands[int(rng.choice(len(cands), p=w / w.sum()))]

    # ENE clusters in few patients (001: ~1.4 ENE nodes per ENE-positive patient)
    n_ene_pat = min(n, n_e, max(1 if n_e else 0, int(round(n_e / 1.4))))
    weights = np.array(counts, dtype=float)
    ene_pat = [
        int(p) for p in rng.choice(n, size=n_ene_pat, replace=False, p=weights / weights.sum())
    ]
    # node-positive patients carry ~2.6 metastatic nodes each (001: 320 in 123)
    n_pos = int(np.clip(round((n_m + n_e) / 2.6), n_ene_pat, n))
    rest = [p for p in rng.permutation(n).tolist() if p not in ene_pat]
    meta_pat = rest[: max(0, min(n_pos - n_ene_pat, n_m))]

    left_e = n_e
    for p in ene_pat:
        put(p, "ene")
        left_e -= 1
    while left_e > 0:
        chosen = pick(ene_pat)
        if chosen is None:
            break
        put(chosen, "ene")
        left_e -= 1
    left_m = n_m
    for p in meta_pat:
        if left_m and free[p] > 0:
            put(p, "metastasis")
            left_m -= 1
    positive = ene_pat + meta_pat
    while left_m > 0:
        chosen = pick(positive)
        if chosen is None:
            break
        put(chosen, "metastasis")
        left_m -= 1
    for p in range(n):
        classes[p].extend(["benign"] * free[p])
        free[p] = 0
        order = rng.permutation(len(classes[p]))
        classes[p] = [classes[p][i] for i in order]
    return classes


def _ene_grade(rng: np.random.Generator, profile: Profile, short_axis: float) -> int:
    """ENE grade 1-4: profile mix, tilted towards higher grades for larger nodes."""
    model = profile.sizes["ene"]
    z = (np.log(short_axis) - np.log(model.median_mm)) / model.sigma
    base = np.array(profile.ene_grade_probs, dtype=float)
    tilt = np.exp(0.6 * z * (np.arange(4) - 1.5))
    p = base * tilt
    return int(rng.choice(4, p=p / p.sum())) + 1


def plan_cohort(
    n_patients: int,
    seed: int,
    profile: Profile,
    prevalence: tuple[float, float, float] | None = None,
) -> CohortPlan:
    """Draw every patient's covariates and node list (no images yet)."""
    if n_patients < 1:
        raise ValueError("--patients must be >= 1")
    prevalence = prevalence or profile.default_prevalence
    signature = cohort_signature(seed, profile, n_patients, prevalence)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), profile.code, 0, n_patients]))

    mean_extra = max(profile.nodes_per_patient - 1.0, 0.1)
    r = 4.0
    counts = (1 + rng.negative_binomial(r, r / (r + mean_extra), size=n_patients)).tolist()
    counts = [int(min(c, MAX_NODES_PER_PATIENT)) for c in counts]
    classes = _allocate_classes(rng, counts, prevalence)

    referring = ["SMITH^JOHN", "CHEN^WEI", "GARCIA^MARIA", "MULLER^ANNA", "TANAKA^KEN"]
    y0, y1 = profile.study_years
    first = _dt.date(y0, 1, 1).toordinal()
    last = _dt.date(y1, 12, 31).toordinal()
    patients: list[PatientPlan] = []
    for i in range(n_patients):
        age = int(np.clip(round(rng.normal(*profile.age)), 33, 89))
        sex = "M" if rng.random() < profile.male_fraction else "F"
        site = _choice(rng, profile.primary_site_probs)
        if site == "larynx":
            primary_side = _choice(rng, {"left": 0.35, "right": 0.35, "midline": 0.30})
        else:
            primary_side = _choice(rng, {"left": 0.5, "right": 0.5})
        study = _dt.date.fromordinal(int(rng.integers(first, last + 1)))
        birth = _dt.date.fromordinal(
            study.toordinal() - int(age * 365.25) - int(rng.integers(0, 365))
        )
        plan = PatientPlan(
            index=i,
            patient_id=f"SYN-{profile.patient_prefix}-{i + 1:04d}",
            age=age,
            sex=sex,
            primary_site=site,
            primary_side=primary_side,
            pt_stage=_choice(rng, profile.t_stage_probs),
            hpv_status=_choice(rng, profile.hpv_probs),
            study_date=study,
            birth_date=birth,
            accession_number=f"A{profile.code}{seed % 1000:03d}{i + 1:05d}",
            referring_physician=referring[int(rng.integers(len(referring)))],
        )
        for cls in classes[i]:
            if cls == "benign" or primary_side == "midline":
                side = "left" if rng.random() < 0.5 else "right"
            else:
                ipsi = rng.random() < 0.8
                other = "left" if primary_side == "right" else "right"
                side = primary_side if ipsi else other
            levels = dict(profile.level_weights)
            if cls != "benign":
                levels.pop("IB", None)  # LHSCC rarely metastasises to level I (001)
            level = _choice(rng, levels)
            size = _draw_size(rng, profile.sizes[cls])
            node = NodePlan(reference=cls, level=level, side=side, short_axis_mm=size)
            if cls == "ene":
                grade = _ene_grade(rng, profile, size)
                lo, hi = ENE_EXTENT_MM[grade]
                node.ene_grade = grade
                node.ene_extent_mm = round(float(rng.uniform(lo, hi)), 1)
            plan.nodes.append(node)
        patients.append(plan)
    assert all(c in CLASSES for p in patients for c in (n.reference for n in p.nodes))
    return CohortPlan(profile, int(seed), n_patients, prevalence, signature, patients)
