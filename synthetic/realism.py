"""Realism check of a generated cohort, measured from the written files.

``python -m synthetic.realism OUT [--montage montage.png] [--json report.json]``

Everything is read back from disk: the DICOM series (pydicom, HU via rescale
slope/intercept, slices sorted along the normal) and the masks named by
``manifest.csv`` (NIfTI / NumPy / SEG).  Tissue classes come from the
generator's side files ``OUT/.truth/<patient>_tissue.npy.gz`` (the label map
before blur and noise); without them, a threshold classification of the
written HU is used instead (``--thresholds``; air < -500, fat -200..-40,
soft tissue -40..100, enhanced 120..400, bone > 400).  The report gives:

* HU mean / SD inside each tissue class (voxels eroded by one pixel in-plane,
  like a radiologist's ROI away from edges) against the expected ranges of
  contrast-enhanced neck CT: air -1000, fat ~ -100, muscle 40-60, enhancing
  vessels 150-300, enhancing node 30-80, necrosis 10-25, bone > 300;
* image noise: SD and lag-1 autocorrelation of the high-pass residual in fat
  (white noise would give ~0, CT noise is positively correlated);
* node counts and class prevalence, nodes per patient;
* short-axis diameter per class, from the mask, as the importer measures it
  (``cohortformat.measurements``: per axial slice, the extent perpendicular to
  the longest in-plane diameter; the largest over the slices), against 001's
  medians;
* a baseline ENE classifier: logistic regression on (short axis, mean HU of a
  0.5-3 mm perinodal shell), stratified 5-fold cross-validated AUC of ENE vs
  not ENE (how visible ENE is to the simplest radiomics);
* optionally a montage PNG (soft-tissue window W350/L50) of slices through
  nodes of each class, outlines coloured by class, with a coronal reformat.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from cohortformat import folder, vocabulary
from cohortformat.measurements import node_diameters

from .anatomy import TISSUE_NAMES, Tissue
from .dicom_io import LoadedSeries, load_npy_gz, read_mask, read_series

__all__ = [
    "EXPECTED_HU",
    "TARGET_SHORT_AXIS",
    "analyse_cohort",
    "main",
    "node_features",
    "short_axis_mm",
]

#: Expected HU ranges (the brief / routine contrast-enhanced neck CT).
EXPECTED_HU: dict[str, tuple[float, float]] = {
    "outside": (-1010, -980),
    "airway": (-1010, -950),
    "fat": (-120, -80),
    "muscle": (40, 60),
    "artery": (150, 300),
    "vein": (120, 250),
    "node": (30, 80),
    "necrosis": (10, 25),
    "cortical_bone": (300, 2000),
    "cancellous_bone": (150, 500),
    "thyroid": (90, 180),
    "stranding": (-90, 20),
}

#: 001's median short axis (mm) per class and profile.
TARGET_SHORT_AXIS: dict[str, dict[str, float]] = {
    "internal": {"benign": 6.0, "metastasis": 10.0, "ene": 22.0},
    "external": {"benign": 6.0, "metastasis": 8.0, "ene": 11.0},
}

CLASS_COLOURS = {"benign": "#33dd55", "metastasis": "#ffcc00", "ene": "#ff3333"}


def short_axis_mm(mask: np.ndarray, spacing: tuple[float, float]) -> tuple[float, float, int]:
    """(short axis, long axis, slice index of the largest short axis) of a 3-D node mask.

    The import format's definition (``cohortformat.measurements``), so these are the values
    the app stores for the same mask. ``spacing`` is (row, column) pixel spacing in mm.
    """
    if not mask.any():
        return 0.0, 0.0, 0
    d = node_diameters(mask, spacing)
    return d.short_axis_mm, d.long_axis_mm, d.short_axis_slice


def _shell_mean(
    hu: np.ndarray, mask: np.ndarray, spacing3: tuple[float, float, float], lo: float, hi: float
) -> float:
    """Mean HU in the shell lo..hi mm outside ``mask`` (in-plane + through-plane distance)."""
    pad = int(np.ceil(hi / min(spacing3))) + 1
    idx = np.nonzero(mask)
    sl = tuple(
        slice(max(int(i.min()) - pad, 0), min(int(i.max()) + pad + 1, n))
        for i, n in zip(idx, mask.shape, strict=True)
    )
    sub = mask[sl]
    dist = ndimage.distance_transform_edt(~sub, sampling=spacing3)
    shell = (dist > lo) & (dist <= hi)
    if not shell.any():
        return float("nan")
    return float(hu[sl][shell].mean())


#: The perinodal shell of the baseline classifier: 0.5 to 3 mm outside the node.
SHELL_MM = (0.5, 3.0)


def node_features(
    series: LoadedSeries,
    labels: np.ndarray,
    label: int,
    box: tuple[slice, slice, slice] | None = None,
) -> dict[str, float]:
    """Size and perinodal features of one node, from the image and its mask.

    ``box``: the node's bounding box in ``labels`` (``ndimage.find_objects``), if known; the
    work is then done on that box plus the shell's reach instead of the whole volume (same
    values, much faster for a patient with many nodes).
    """
    spacing = series.pixel_spacing
    spacing3 = (series.slice_spacing, spacing[0], spacing[1])
    hu = series.hu
    offset = 0
    if box is not None:
        pad = int(np.ceil(SHELL_MM[1] / min(spacing3))) + 1  # as _shell_mean pads
        padded = tuple(
            slice(max(b.start - pad, 0), min(b.stop + pad, n))
            for b, n in zip(box, labels.shape, strict=True)
        )
        labels, hu, offset = labels[padded], hu[padded], padded[0].start
    m = labels == label
    sa, la, k = short_axis_mm(m, spacing)
    inside = hu[m]
    return {
        "short_axis_mm": sa,
        "long_axis_mm": la,
        "slice": k + offset,
        "volume_ml": float(m.sum() * spacing3[0] * spacing3[1] * spacing3[2] / 1000.0),
        "mean_hu": float(inside.mean()) if inside.size else float("nan"),
        "sd_hu": float(inside.std()) if inside.size else float("nan"),
        "shell_hu": _shell_mean(hu, m, spacing3, *SHELL_MM),
    }


def _threshold_tissue(hu: np.ndarray) -> np.ndarray:
    lab = np.zeros(hu.shape, np.uint8)
    lab[hu < -500] = Tissue.OUTSIDE
    lab[(hu >= -200) & (hu < -40)] = Tissue.FAT
    lab[(hu >= -40) & (hu < 100)] = Tissue.MUSCLE
    lab[(hu >= 120) & (hu < 400)] = Tissue.ARTERY
    lab[hu >= 400] = Tissue.CORTICAL_BONE
    lab[(hu >= -500) & (hu < -200)] = 255
    lab[(hu >= 100) & (hu < 120)] = 255
    return lab


def _interior(tissue: np.ndarray) -> np.ndarray:
    """Voxels whose 8 in-plane neighbours have the same label (a one-pixel erosion of every class)."""
    out = np.zeros(tissue.shape, bool)
    core = tissue[:, 1:-1, 1:-1]
    acc = np.ones(core.shape, bool)
    nr, nc = tissue.shape[1], tissue.shape[2]
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr or dc:
                acc &= core == tissue[:, 1 + dr : nr - 1 + dr, 1 + dc : nc - 1 + dc]
    out[:, 1:-1, 1:-1] = acc
    return out


def _noise_stats(residual: np.ndarray, tissue: np.ndarray, code: int) -> tuple[float, float]:
    """Noise SD and lag-1 correlation (along rows) of the high-pass residual in a tissue.

    ``residual`` is the image minus its 7x7 local mean; it is sampled inside the
    tissue eroded by 3 pixels (in the air around the patient: pure image noise).
    """
    cls = (tissue == code).astype(np.float32)
    m = ndimage.uniform_filter(cls, size=(1, 7, 7)) > 0.999
    if code == Tissue.OUTSIDE:  # only air near the body (inside the reconstruction circle)
        near = ndimage.uniform_filter(1.0 - cls, size=(1, 41, 41)) > 0
        m &= near
    both = m[:, :, 1:] & m[:, :, :-1]
    if both.sum() < 100:
        return float("nan"), float("nan")
    a = residual[:, :, 1:][both]
    b = residual[:, :, :-1][both]
    corr = float(np.corrcoef(a, b)[0, 1])
    return float(residual[m].std() * np.sqrt(49 / 48)), corr


def _read_manifest(out: Path) -> list[dict[str, str]]:
    with open(out / folder.MANIFEST, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _baseline_auc(feats: list[dict], seed: int = 0) -> dict[str, float]:
    """Cross-validated AUC of logistic regression on (short axis, shell HU) for ENE."""
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError:  # pragma: no cover - scikit-learn is a project dependency
        return {}
    x = np.array([[f["short_axis_mm"], f["shell_hu"]] for f in feats], dtype=float)
    y = np.array([f["reference"] == "ene" for f in feats], dtype=int)
    ok = np.isfinite(x).all(axis=1)
    x, y = x[ok], y[ok]
    n_pos = int(y.sum())
    if n_pos < 5 or (len(y) - n_pos) < 5:
        return {"n": int(len(y)), "n_ene": n_pos}
    folds = min(5, n_pos)
    model = make_pipeline(StandardScaler(), LogisticRegression())
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    p_both = cross_val_predict(model, x, y, cv=cv, method="predict_proba")[:, 1]
    p_size = cross_val_predict(model, x[:, :1], y, cv=cv, method="predict_proba")[:, 1]
    p_shell = cross_val_predict(model, x[:, 1:], y, cv=cv, method="predict_proba")[:, 1]
    return {
        "n": int(len(y)),
        "n_ene": n_pos,
        "auc_size_and_shell": float(roc_auc_score(y, p_both)),
        "auc_size_only": float(roc_auc_score(y, p_size)),
        "auc_shell_only": float(roc_auc_score(y, p_shell)),
    }


def _add_tissue_stats(
    series: LoadedSeries,
    tissue: np.ndarray,
    tissue_source: str,
    sums: dict[str, list[float]],
    noise: dict[str, list[tuple[float, float]]],
) -> None:
    """Add one patient's HU sums per tissue class and its noise statistics."""
    use = _interior(tissue) | np.isin(tissue, [Tissue.NECROSIS, Tissue.STRANDING])
    use &= tissue != 255
    codes = tissue[use].astype(np.int64)
    vals = series.hu[use].astype(np.float64)
    n_c = np.bincount(codes, minlength=256)
    s1_c = np.bincount(codes, weights=vals, minlength=256)
    s2_c = np.bincount(codes, weights=vals * vals, minlength=256)
    for code in np.nonzero(n_c)[0]:
        if tissue_source == "truth":
            name = TISSUE_NAMES.get(int(code), str(code))
        else:
            name = {0: "outside", 1: "fat", 3: "soft_tissue", 4: "enhancing", 6: "bone"}.get(
                int(code), str(code)
            )
        acc = sums[name]
        acc[0] += float(n_c[code])
        acc[1] += float(s1_c[code])
        acc[2] += float(s2_c[code])
    residual = series.hu - ndimage.uniform_filter(series.hu, size=(1, 7, 7))
    for noise_class in (Tissue.OUTSIDE, Tissue.FAT, Tissue.MUSCLE):
        noise[TISSUE_NAMES[int(noise_class)]].append(
            _noise_stats(residual, tissue, int(noise_class))
        )


def analyse_cohort(
    out: str | Path,
    max_patients: int | None = None,
    use_truth: bool = True,
    tissues: bool = True,
) -> dict:
    """Measure a cohort folder; returns the report as a dict (see module docstring).

    ``tissues=False`` measures the nodes only (no tissue HU, no noise): for node statistics
    on many patients, about twice as fast.
    """
    out = Path(out)
    meta = json.loads((out / folder.COHORT_JSON).read_text(encoding="utf-8"))
    rows = _read_manifest(out)
    by_patient: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        by_patient[r["patient_id"]].append(r)
    profile = "external" if "external" in meta.get("description", "").lower() else "internal"
    gen_path = out / ".truth" / "generation.json"
    if gen_path.exists():
        profile = json.loads(gen_path.read_text(encoding="utf-8")).get("profile", profile)

    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])  # n, sum, sumsq
    noise: dict[str, list[tuple[float, float]]] = defaultdict(list)
    slice_counts = []
    feats: list[dict[str, Any]] = []
    tissue_source = "truth" if tissues else "not measured"
    geometry = []
    patients = list(by_patient)[: max_patients or None]
    for pid in patients:
        prow = by_patient[pid]
        series = read_series(out / prow[0]["series"])
        slice_counts.append(series.hu.shape[0])
        geometry.append(
            {
                "slices": series.hu.shape[0],
                "pixel_spacing": series.pixel_spacing[0],
                "slice_spacing": series.slice_spacing,
            }
        )
        labels = read_mask(out / prow[0]["mask"], series)
        if tissues:
            truth = out / ".truth" / f"{pid}_tissue.npy.gz"
            if use_truth and truth.exists():
                tissue = load_npy_gz(truth)
            else:
                tissue = _threshold_tissue(series.hu)
                tissue_source = "thresholds"
            _add_tissue_stats(series, tissue, tissue_source, sums, noise)
        boxes = ndimage.find_objects(labels)
        for r in prow:
            label = int(r["mask_label"])
            box = boxes[label - 1] if label <= len(boxes) else None
            feats.append(
                {
                    **node_features(series, labels, label, box),
                    "patient_id": pid,
                    "node_id": r["node_id"],
                    "reference": r["reference"],
                    "ene_grade": r.get("ene_grade", ""),
                    "level": r["level"],
                }
            )

    tissue_hu: dict[str, dict[str, Any]] = {}
    for name, (n, s1, s2) in sorted(sums.items()):
        mean = s1 / n
        sd = float(np.sqrt(max(s2 / n - mean * mean, 0.0)))
        rng_ = EXPECTED_HU.get(name)
        tissue_hu[name] = {
            "mean_hu": round(mean, 1),
            "sd_hu": round(sd, 1),
            "voxels": int(n),
            "expected": list(rng_) if rng_ else None,
            "in_range": (rng_[0] <= mean <= rng_[1]) if rng_ else None,
        }
    classes = {}
    all_refs = [r["reference"] for r in rows if r["patient_id"] in patients]
    for cls in vocabulary.REFERENCE.values:
        sizes = np.array([f["short_axis_mm"] for f in feats if f["reference"] == cls])
        shell = np.array([f["shell_hu"] for f in feats if f["reference"] == cls])
        inside = np.array([f["mean_hu"] for f in feats if f["reference"] == cls])
        entry: dict[str, Any] = {
            "n": int(sizes.size),
            "fraction": round(sizes.size / max(len(all_refs), 1), 3),
            "target_median_short_axis_mm": TARGET_SHORT_AXIS[profile][cls],
        }
        if sizes.size:
            entry.update(
                {
                    "median_short_axis_mm": round(float(np.median(sizes)), 1),
                    "iqr_short_axis_mm": [
                        round(float(np.percentile(sizes, 25)), 1),
                        round(float(np.percentile(sizes, 75)), 1),
                    ],
                    "range_short_axis_mm": [
                        round(float(sizes.min()), 1),
                        round(float(sizes.max()), 1),
                    ],
                    "mean_node_hu": round(float(np.nanmean(inside)), 1),
                    "mean_shell_hu": round(float(np.nanmean(shell)), 1),
                }
            )
        classes[cls] = entry
    report = {
        "cohort": meta,
        "profile": profile,
        "patients": len(patients),
        "nodes": len(feats),
        "nodes_per_patient": round(len(feats) / max(len(patients), 1), 2),
        "slices_per_series": [int(min(slice_counts)), int(max(slice_counts))]
        if slice_counts
        else [],
        "geometry_example": geometry[0] if geometry else {},
        "tissue_source": tissue_source,
        "tissue_hu": tissue_hu,
        "noise": {
            name: {
                "residual_sd_hu": round(float(np.nanmean([v[0] for v in vals])), 1),
                "lag1_correlation": round(float(np.nanmean([v[1] for v in vals])), 2),
            }
            for name, vals in noise.items()
        },
        "classes": classes,
        "baseline_ene": _baseline_auc(feats),
        "node_features": feats,
    }
    return report


def montage(out: str | Path, png: str | Path, n_patients: int = 3) -> Path:
    """Soft-tissue window montage (W350/L50): per patient, axial slices through an ENE,
    a metastatic and a benign node (cropped to the neck), 3x zooms of those nodes and a
    coronal reformat; node outlines coloured by class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    rows = _read_manifest(out)
    by_patient: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        by_patient[r["patient_id"]].append(r)

    def score(pid: str) -> tuple[bool, bool, int]:
        refs = [r["reference"] for r in by_patient[pid]]
        return ("ene" in refs, "metastasis" in refs, -int(pid[-4:]) if pid[-4:].isdigit() else 0)

    pids = sorted(by_patient, key=score, reverse=True)[:n_patients]
    win = {"cmap": "gray", "vmin": -125, "vmax": 225, "interpolation": "bilinear"}
    fig, axes = plt.subplots(len(pids), 7, figsize=(3.0 * 7, 3.2 * len(pids)), facecolor="black")
    axes = np.atleast_2d(axes)
    for pid, axrow in zip(pids, axes, strict=True):
        prow = by_patient[pid]
        series = read_series(out / prow[0]["series"])
        labels = read_mask(out / prow[0]["mask"], series)
        ref_of = {int(r["mask_label"]): r for r in prow}
        chosen: list[tuple[int, str, int | None]] = []
        for cls in ("ene", "metastasis", "benign"):
            cands = [lab for lab, r in ref_of.items() if r["reference"] == cls]
            if cands:
                lab = max(cands, key=lambda lb: int((labels == lb).sum()))
                r = ref_of[lab]
                m = labels == lab
                k = int(np.argmax(m.reshape(m.shape[0], -1).sum(axis=1)))
                title = f"{r['node_id']} {cls}, level {r['level']}" + (
                    f", grade {r['ene_grade']}, {r['ene_extent_mm']} mm" if cls == "ene" else ""
                )
                chosen.append((k, title, lab))
        n = series.hu.shape[0]
        for frac, name in ((0.8, "upper neck"), (0.2, "lower neck"), (0.5, "mid neck")):
            if len(chosen) < 3:
                chosen.append((int(frac * (n - 1)), name, None))
        body = series.hu > -400
        rr_b, cc_b = np.nonzero(body.any(axis=0))
        crop_b = (
            slice(max(rr_b.min() - 4, 0), rr_b.max() + 5),
            slice(max(cc_b.min() - 4, 0), cc_b.max() + 5),
        )
        for i, (k, title, node_lab) in enumerate(chosen):
            ax = axrow[i]
            ax.imshow(series.hu[k][crop_b], **win)
            for lab, r in ref_of.items():
                m = (labels[k] == lab)[crop_b]
                if m.any():
                    ax.contour(
                        m.astype(float),
                        levels=[0.5],
                        colors=[CLASS_COLOURS[r["reference"]]],
                        linewidths=0.7,
                    )
            ax.set_title(f"{pid} slice {k}: {title}", fontsize=7, color="white")
            ax.axis("off")
            zax = axrow[3 + i]
            zax.axis("off")
            if node_lab is not None:
                rr, cc = np.nonzero(labels[k] == node_lab)
                half = int(max(22, 0.8 * max(np.ptp(rr), np.ptp(cc)) + 10))
                r0, c0 = int(rr.mean()), int(cc.mean())
                crop = (slice(max(r0 - half, 0), r0 + half), slice(max(c0 - half, 0), c0 + half))
                zax.imshow(series.hu[k][crop], **win)
                m = (labels[k] == node_lab)[crop]
                zax.contour(
                    m.astype(float),
                    levels=[0.5],
                    colors=[CLASS_COLOURS[ref_of[node_lab]["reference"]]],
                    linewidths=0.6,
                    linestyles="dotted",
                )
                zax.set_title(
                    f"zoom {ref_of[node_lab]['node_id']} ({2 * half * series.pixel_spacing[1]:.0f} mm)",
                    fontsize=7,
                    color="white",
                )
        ax = axrow[6]
        lab0 = chosen[0][2] if chosen[0][2] is not None else next(iter(ref_of))
        rr, cc = np.nonzero((labels == lab0).any(axis=0))
        row = int(np.median(rr)) if rr.size else series.hu.shape[1] // 2
        cor = series.hu[:, row, :][::-1][:, crop_b[1]]
        ax.imshow(cor, aspect=series.slice_spacing / series.pixel_spacing[1], **win)
        for lab, r in ref_of.items():
            m = (labels[:, row, :] == lab)[::-1][:, crop_b[1]]
            if m.any():
                ax.contour(
                    m.astype(float),
                    levels=[0.5],
                    colors=[CLASS_COLOURS[r["reference"]]],
                    linewidths=0.7,
                )
        ax.set_title(f"{pid} coronal reformat", fontsize=7, color="white")
        ax.axis("off")
    fig.suptitle(
        "Synthetic contrast-enhanced neck CT, W350/L50 - outlines: green benign, yellow metastasis, red ENE",
        fontsize=9,
        color="white",
    )
    fig.tight_layout()
    png = Path(png)
    fig.savefig(png, dpi=100, facecolor="black")
    plt.close(fig)
    return png


def _print_report(rep: dict, stream=sys.stdout) -> None:
    w = stream.write
    w(
        f"cohort: {rep['cohort'].get('name')} ({rep['profile']} profile), {rep['patients']} patients, "
        f"{rep['nodes']} nodes, {rep['nodes_per_patient']} per patient; slices {rep['slices_per_series']}\n"
    )
    w(f"tissue classes from: {rep['tissue_source']}\n")
    w(f"{'tissue':<16}{'mean HU':>9}{'SD':>7}{'voxels':>10}  expected\n")
    for name, t in rep["tissue_hu"].items():
        exp = (
            ""
            if t["expected"] is None
            else f"{t['expected'][0]:g}..{t['expected'][1]:g} {'ok' if t['in_range'] else 'OUT'}"
        )
        w(f"{name:<16}{t['mean_hu']:>9.1f}{t['sd_hu']:>7.1f}{t['voxels']:>10}  {exp}\n")
    for name, nz in rep["noise"].items():
        w(
            f"high-pass residual in {name}: SD {nz['residual_sd_hu']} HU, lag-1 correlation {nz['lag1_correlation']}\n"
        )
    w(
        f"{'class':<12}{'n':>5}{'frac':>7}{'median SA':>11}{'target':>8}{'IQR':>14}{'range':>14}{'node HU':>9}{'shell HU':>10}\n"
    )
    for cls, c in rep["classes"].items():
        if not c["n"]:
            w(f"{cls:<12}{0:>5}\n")
            continue
        w(
            f"{cls:<12}{c['n']:>5}{c['fraction']:>7.3f}{c['median_short_axis_mm']:>11.1f}"
            f"{c['target_median_short_axis_mm']:>8.1f}{str(c['iqr_short_axis_mm']):>14}{str(c['range_short_axis_mm']):>14}"
            f"{c['mean_node_hu']:>9.1f}{c['mean_shell_hu']:>10.1f}\n"
        )
    b = rep["baseline_ene"]
    if "auc_size_and_shell" in b:
        w(
            f"baseline ENE classifier (logistic regression, CV): AUC {b['auc_size_and_shell']:.3f} "
            f"(size only {b['auc_size_only']:.3f}, shell HU only {b['auc_shell_only']:.3f}; n={b['n']}, ENE={b['n_ene']})\n"
        )
    else:
        w(f"baseline ENE classifier: too few nodes ({b})\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m synthetic.realism``."""
    parser = argparse.ArgumentParser(
        prog="python -m synthetic.realism", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("out", help="cohort folder written by the generator")
    parser.add_argument("--montage", help="write a montage PNG here")
    parser.add_argument("--json", help="write the full report (with per-node features) here")
    parser.add_argument(
        "--max-patients", type=int, default=None, help="analyse only the first N patients"
    )
    parser.add_argument(
        "--thresholds",
        action="store_true",
        help="ignore .truth and classify tissue by HU thresholds",
    )
    args = parser.parse_args(argv)
    rep = analyse_cohort(args.out, args.max_patients, use_truth=not args.thresholds)
    _print_report(rep)
    if args.json:
        Path(args.json).write_text(
            json.dumps(rep, indent=1, default=float) + "\n", encoding="utf-8"
        )
    if args.montage:
        montage(args.out, args.montage)
        print(f"montage: {args.montage}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
