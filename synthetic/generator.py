"""Cohort generation: plan, render every patient, write the import-format folder.

Output (``docs/import-format.md``)::

    OUT/
      cohort.json                   name, institution, description ("Synthetic ..."),
                                    "synthetic": true
      manifest.csv                  one row per node
      SYN-INT-0001/ct/CT0001.dcm    one CT series per patient
      SYN-INT-0001/nodes.nii.gz     node label map (or nodes.npy / nodes_seg.dcm)
      .truth/                       generator ground truth, NOT part of the import format:
        SYN-INT-0001_tissue.npy.gz  tissue label map (anatomy.Tissue codes, slice/row/col)
        nodes.csv                   designed geometry and rendered signs of every node
        generation.json             arguments and per-patient timings

The importer reads only what ``manifest.csv`` names, so the dot folder is
ignored by it; delete it (or pass ``--no-truth``) before shipping a cohort.

Determinism: every random stream is derived from (seed, profile, number of
patients, prevalence) and the patient index, every UID from the same
signature, dates from the plan, gzip headers carry no time stamp; the same
arguments give the same bytes regardless of ``workers``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cohortformat import folder, vocabulary

from . import GENERATOR_NAME, __version__
from .anatomy import build_geometry, render_anatomy, sample_anatomy_params
from .cohort import CohortPlan, PatientPlan, plan_cohort
from .dicom_io import save_npy_gz, write_ct_series, write_mask
from .nodes import place_and_render_nodes, plan_bulges
from .profiles import Profile, get_profile, parse_prevalence
from .scanner import apply_scanner, noise_per_slice, to_stored_values
from .staging import StagedNode, pathologic_n_stage

__all__ = ["MANIFEST_COLUMNS", "MASK_FILES", "CohortResult", "generate_cohort", "render_patient"]

#: Manifest columns in the order written (the import format's own order).
MANIFEST_COLUMNS: list[str] = list(folder.MANIFEST_COLUMNS)
#: --mask-format choice -> file name written in each patient folder.
MASK_FILES: dict[str, str] = {name: f.default_file for name, f in folder.MASK_FORMATS.items()}
TRUTH_DIR = ".truth"


@dataclass
class CohortResult:
    """What :func:`generate_cohort` wrote."""

    out_dir: Path
    n_patients: int
    n_nodes: int
    class_counts: dict[str, int]
    seconds: float


def _patient_rng(plan: CohortPlan, index: int) -> np.random.Generator:
    ss = np.random.SeedSequence([plan.seed, plan.profile.code, 1, plan.n_patients, index])
    return np.random.default_rng(ss)


def render_patient(
    plan: CohortPlan, patient: PatientPlan, out_dir: Path, mask_format: str, truth: bool
) -> dict:
    """Render and write one patient; returns manifest rows, truth rows and timings."""
    t0 = time.perf_counter()
    profile = plan.profile
    rng = _patient_rng(plan, patient.index)
    params = sample_anatomy_params(rng, profile, patient.age, patient.sex)
    geom = build_geometry(rng, profile, params)
    hints = plan_bulges(patient.nodes, rng)
    anatomy = render_anatomy(params, geom, rng, [h for h in hints if h is not None])
    t1 = time.perf_counter()
    node_map, nodes = place_and_render_nodes(patient.nodes, anatomy, geom, profile, rng, hints)
    t2 = time.perf_counter()
    width = 2.0 * anatomy.landmarks["_r_body"][
        :, [0, anatomy.landmarks["_r_body"].shape[1] // 2]
    ].mean(axis=1)
    sd = noise_per_slice(profile, width, float(np.clip(rng.normal(1.0, 0.08), 0.8, 1.25)))
    img = apply_scanner(anatomy.hu, geom, profile, rng, sd)
    pixels, intercept = to_stored_values(img, profile)
    t3 = time.perf_counter()

    pdir = out_dir / patient.patient_id
    ma = int(rng.integers(*profile.tube_current_ma))
    info, headers = write_ct_series(
        pdir / "ct", pixels, intercept, geom, profile, patient, plan.signature, ma
    )
    mask_name = MASK_FILES[mask_format]
    write_mask(
        pdir / mask_name,
        node_map,
        geom,
        mask_format,
        headers=headers,
        signature=plan.signature,
        patient_id=patient.patient_id,
        segment_labels=[n.node_id for n in nodes],
        series_date=patient.study_date.strftime("%Y%m%d"),
    )
    if truth:
        save_npy_gz(out_dir / TRUTH_DIR / f"{patient.patient_id}_tissue.npy.gz", anatomy.labels)
    t4 = time.perf_counter()

    pn = pathologic_n_stage(
        [StagedNode(n.plan.reference, n.plan.side, n.greatest_dimension_mm) for n in nodes],
        patient.primary_side,
    )
    rows = []
    truth_rows = []
    for n in nodes:
        rows.append(
            {
                "patient_id": patient.patient_id,
                "series": f"{patient.patient_id}/ct",
                "mask": f"{patient.patient_id}/{mask_name}",
                "mask_label": n.label,
                "node_id": n.node_id,
                "level": n.level,
                "side": n.plan.side,
                "reference": n.plan.reference,
                "ene_extent_mm": ""
                if n.plan.ene_extent_mm is None
                else f"{n.plan.ene_extent_mm:.1f}",
                "ene_grade": "" if n.plan.ene_grade is None else str(n.plan.ene_grade),
                "reference_source": vocabulary.REFERENCE_SOURCE.default,
                "age": patient.age,
                "sex": patient.sex,
                "primary_site": patient.primary_site,
                "pt_stage": patient.pt_stage,
                "pn_stage": pn,
                "hpv_status": patient.hpv_status,
            }
        )
        truth_rows.append(
            {
                "patient_id": patient.patient_id,
                "node_id": n.node_id,
                "reference": n.plan.reference,
                "ene_grade": n.plan.ene_grade or "",
                "ene_extent_mm": n.plan.ene_extent_mm or "",
                "planned_short_axis_mm": round(n.plan.short_axis_mm, 2),
                "semi_axes_mm": " ".join(f"{v:.2f}" for v in n.semi_axes_mm),
                "greatest_dimension_mm": round(n.greatest_dimension_mm, 2),
                "center_lps_mm": " ".join(
                    f"{c + o:.2f}" for c, o in zip(n.center_mm, geom.offset, strict=True)
                ),
                "planned_level": n.plan.level,
                "level": n.level,
                "voxels": n.voxels,
                "signs": json.dumps(n.signs, sort_keys=True),
            }
        )
    return {
        "index": patient.index,
        "rows": rows,
        "truth_rows": truth_rows,
        "primary_side": patient.primary_side,
        "slices": geom.n_slices,
        "timing": {
            "anatomy": t1 - t0,
            "nodes": t2 - t1,
            "scanner": t3 - t2,
            "write": t4 - t3,
        },
    }


def _csv_text(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def _prepare_out(out_dir: Path, force: bool) -> Path:
    if out_dir.exists() and any(out_dir.iterdir()):
        if not force:
            raise FileExistsError(f"{out_dir} exists and is not empty (use --force to replace it)")
        if not (out_dir / folder.COHORT_JSON).exists():
            raise FileExistsError(
                f"{out_dir} does not look like a generated cohort; not replacing it"
            )
    tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def _work(args: tuple) -> dict:
    plan, index, tmp, mask_format, truth = args
    return render_patient(plan, plan.patients[index], tmp, mask_format, truth)


def generate_cohort(
    out_dir: str | os.PathLike,
    n_patients: int,
    seed: int,
    profile: str | Profile = "internal",
    prevalence: str | tuple[float, float, float] | None = None,
    mask_format: str = "nifti",
    workers: int = 1,
    truth: bool = True,
    force: bool = False,
    name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CohortResult:
    """Generate a synthetic cohort folder in the import format.

    ``prevalence``: ``"benign,meta,ene"`` string or tuple (fractions or
    percentages); default: the profile's (001's) class mix.  ``workers`` > 1
    renders patients in that many processes (same bytes as 1 worker).
    """
    t0 = time.perf_counter()
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    if isinstance(prevalence, tuple):
        prev = parse_prevalence(",".join(str(v) for v in prevalence), prof)
    else:
        prev = parse_prevalence(prevalence, prof)
    if mask_format not in MASK_FILES:
        raise ValueError(f"--mask-format must be one of {sorted(MASK_FILES)}")
    plan = plan_cohort(n_patients, seed, prof, prev)
    out_dir = Path(out_dir)
    tmp = _prepare_out(out_dir, force)
    try:
        if truth:
            (tmp / TRUTH_DIR).mkdir()
        jobs = [(plan, i, tmp, mask_format, truth) for i in range(n_patients)]
        results: list[dict] = []
        if workers > 1 and n_patients > 1:
            import multiprocessing as mp

            ctx = mp.get_context("fork") if hasattr(os, "fork") else None
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
                for r in ex.map(_work, jobs):
                    results.append(r)
                    if progress:
                        progress(len(results), n_patients)
        else:
            for job in jobs:
                results.append(_work(job))
                if progress:
                    progress(len(results), n_patients)
        results.sort(key=lambda r: r["index"])
        rows = [row for r in results for row in r["rows"]]
        counts = {
            c: sum(1 for row in rows if row["reference"] == c) for c in vocabulary.REFERENCE.values
        }
        (tmp / folder.MANIFEST).write_text(_csv_text(rows, MANIFEST_COLUMNS), encoding="utf-8")
        pct = ", ".join(f"{k} {100 * v / max(len(rows), 1):.1f}%" for k, v in counts.items())
        cohort = {
            "name": name or f"{prof.cohort_label} (synthetic, seed {seed}, {n_patients} patients)",
            "institution": prof.institution,
            "description": (
                f"Synthetic contrast-enhanced neck CT, {prof.name} profile, seed {seed}: "
                f"{n_patients} computer-generated patients, {len(rows)} lymph nodes ({pct}); "
                f"{prof.manufacturer} {prof.model_name}-like, {prof.slice_thickness_mm:g} mm slices, "
                f"kernel {prof.convolution_kernel}. Not real patients. "
                f"Generated by the {GENERATOR_NAME} {__version__}."
            ),
            # the importer flags the cohort as generated data from this key
            "synthetic": True,
        }
        (tmp / folder.COHORT_JSON).write_text(json.dumps(cohort, indent=2) + "\n", encoding="utf-8")
        if truth:
            truth_rows = [row for r in results for row in r["truth_rows"]]
            cols = list(truth_rows[0]) if truth_rows else ["patient_id"]
            (tmp / TRUTH_DIR / "nodes.csv").write_text(
                _csv_text(truth_rows, cols), encoding="utf-8"
            )
            gen = {
                "generator": f"{GENERATOR_NAME} {__version__}",
                "profile": prof.name,
                "seed": seed,
                "patients": n_patients,
                "prevalence": list(prev),
                "mask_format": mask_format,
                "signature": plan.signature,
                "primary_side": {
                    plan.patients[r["index"]].patient_id: r["primary_side"] for r in results
                },
            }
            (tmp / TRUTH_DIR / "generation.json").write_text(
                json.dumps(gen, indent=2) + "\n", encoding="utf-8"
            )
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return CohortResult(out_dir, n_patients, len(rows), counts, time.perf_counter() - t0)
