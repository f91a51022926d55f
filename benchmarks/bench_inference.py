"""Benchmark of ``inference/``: CPU throughput, training time, out-of-fold AUCs.

    python benchmarks/bench_inference.py --cohort PATH [--external PATH] [--folds 5] [--seed 1]
        [--threads 1] [--epochs 40] [--batch-sizes 1,8,32,128] [--repeats 3] [--skip-training]
        [--json out.json]

``--cohort`` is a cohort folder in the import format, e.g. one made with
``python -m synthetic OUT --patients 40 --seed 2``.

1. Throughput (nodes/s) of the final deep model (the ensemble of ``--folds`` fold networks, default
   network size) by batch size, **crop extraction included**: per patient, the two-stream crops of
   all its nodes are extracted from the in-memory volume and label map, batches of ``B`` nodes go
   through every fold network, probabilities are averaged. DICOM/NIfTI reading is not timed (the
   web app holds arrays). Best of ``--repeats``; weights are random (speed does not depend on them).
2. Training time (wall clock) of the three demo models on the cohort: deep (K folds with early
   stopping), radiomics (feature extraction + K folds + final fit), fusion (stacker on the OOF
   probabilities; its inputs' time is listed separately).
3. Out-of-fold AUCs, ENE vs rest (p_ene) and metastasis vs benign (p_meta + p_ene), with DeLong 95%
   CIs (``analysis.auc_confidence_interval``; node level, and Obuchowski's clustered variance with
   patients as clusters), and paired DeLong tests fusion vs each input. With ``--external``,
   the same AUCs of the final models (fold ensemble, final radiomics pipeline, final stacker)
   on a second cohort (e.g. ``python -m synthetic OUT --profile external ...``).

The machine's load average (1 min) is printed before and after each part: the 2 cores are shared.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis import auc_confidence_interval, paired_auc_test  # noqa: E402
from inference.classes import BENIGN, ENE  # noqa: E402
from inference.cohort import read_cohort  # noqa: E402
from inference.crops import CropParams, Crops, extract_crops  # noqa: E402
from inference.dataset import build_node_set  # noqa: E402
from inference.fusion import train_fusion  # noqa: E402
from inference.network import NetworkParams, TwoStreamNet  # noqa: E402
from inference.radiomics import train_radiomics_cv  # noqa: E402
from inference.training import TrainParams, patient_folds, train_deep_cv  # noqa: E402


def load() -> float:
    return round(os.getloadavg()[0], 2)


def _forward(nets: list[TwoStreamNet], parts: list[Crops], params: CropParams, bs: int) -> int:
    """Ensemble probabilities of the crops in ``parts``, ``bs`` nodes per forward pass."""
    crops = Crops.concatenate(parts, params)
    with torch.inference_mode():
        for start in range(0, len(crops), bs):
            a = torch.from_numpy(crops.size_independent[start : start + bs])
            b = torch.from_numpy(crops.size_aware[start : start + bs])
            torch.stack([torch.softmax(n(a, b), 1) for n in nets]).mean(0)
    return len(crops)


def throughput(cases, batch_sizes: list[int], n_models: int, repeats: int) -> dict:
    params = CropParams()
    torch.manual_seed(0)
    nets = [
        TwoStreamNet(NetworkParams(in_channels=params.channels)).eval() for _ in range(n_models)
    ]
    n_nodes = sum(len(c.nodes) for c in cases)
    out = {}
    for bs in batch_sizes:
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            pending: list[Crops] = []
            held = 0
            done = 0

            for case in cases:
                ids = [n.mask_label for n in case.nodes]
                pending.append(extract_crops(case.volume, case.spacing, case.labels, ids, params))
                held += len(ids)
                if held >= bs:
                    done += _forward(nets, pending, params, bs)
                    pending, held = [], 0
            if pending:
                done += _forward(nets, pending, params, bs)
            assert done == n_nodes
            best = min(best, time.perf_counter() - t0)
        out[str(bs)] = {"nodes_per_s": round(n_nodes / best, 1), "seconds": round(best, 3)}
        print(f"batch {bs}: {out[str(bs)]} (load {load()})", flush=True)
    return {"nodes": n_nodes, "models_in_ensemble": n_models, "by_batch_size": out}


def auc_block(probs: np.ndarray, labels: np.ndarray, patients: np.ndarray) -> dict:
    res = {}
    for task, truth, score in (
        ("ene", (labels == ENE).astype(int), probs[:, ENE]),
        ("metastasis", (labels != BENIGN).astype(int), 1.0 - probs[:, BENIGN]),
    ):
        plain = auc_confidence_interval(score, truth)
        clustered = auc_confidence_interval(score, truth, clusters=patients)
        res[task] = {
            "auc": round(plain.auc, 3),
            "ci_delong": [round(v, 3) for v in plain.ci],
            "ci_clustered": [round(v, 3) for v in clustered.ci],
            "positives": plain.n_positive,
            "negatives": plain.n_negative,
        }
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cohort", required=True)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=TrainParams.max_epochs)
    ap.add_argument("--batch-sizes", default="1,8,32,128")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-training", action="store_true")
    ap.add_argument(
        "--external", default=None, help="second cohort folder: the final models are applied to it"
    )
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    report: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": args.threads,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "cohort": args.cohort,
    }
    cohort = read_cohort(args.cohort)
    t0 = time.perf_counter()
    cases = list(cohort.cases())
    report["read_seconds"] = round(time.perf_counter() - t0, 1)
    print(f"read {len(cases)} patients in {report['read_seconds']} s", flush=True)

    report["throughput"] = {"load_before": load()}
    report["throughput"].update(
        throughput(cases, [int(b) for b in args.batch_sizes.split(",")], args.folds, args.repeats)
    )
    report["throughput"]["load_after"] = load()

    if not args.skip_training:
        train: dict = {"load_before": load()}
        t0 = time.perf_counter()
        nodes = build_node_set(cases, crops=True, radiomics=False)
        train["crop_seconds"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        feats = build_node_set(cases, crops=False, radiomics=True)
        train["radiomics_feature_seconds"] = round(time.perf_counter() - t0, 1)
        assert nodes.crops is not None and feats.features is not None
        folds = patient_folds(nodes.patients, nodes.labels, args.folds, args.seed)
        deep = train_deep_cv(
            nodes.crops, nodes.labels, nodes.patients, folds=folds, seed=args.seed,
            train_params=TrainParams(max_epochs=args.epochs), device=torch.device("cpu"),
            progress=lambda k, n: print(f"deep fold {k}/{n} (load {load()})", flush=True),
        )  # fmt: skip
        train["deep_seconds"] = round(deep.seconds, 1)
        train["deep_epochs"] = [h.epochs_run for h in deep.histories]
        rad = train_radiomics_cv(
            feats.features, nodes.labels, nodes.patients, folds=folds, seed=args.seed
        )
        train["radiomics_cv_seconds"] = round(rad.seconds, 1)
        fused = train_fusion(deep, rad, nodes.patients, seed=args.seed)
        train["fusion_stacker_seconds"] = round(fused.seconds, 1)
        train["fusion_deep_weight"] = fused.stacker.deep_weight
        fused_lr = train_fusion(deep, rad, nodes.patients, seed=args.seed, method="logistic")
        train["fusion_logistic_stacker_seconds"] = round(fused_lr.seconds, 1)
        train["load_after"] = load()
        report["training"] = train
        labels, patients = nodes.labels, nodes.patients
        report["class_counts"] = np.bincount(labels, minlength=3).tolist()
        report["oof"] = {
            "deep": auc_block(deep.oof, labels, patients),
            "radiomics": auc_block(rad.oof, labels, patients),
            "fusion": auc_block(fused.oof, labels, patients),
            "fusion_logistic": auc_block(fused_lr.oof, labels, patients),
        }
        tests = {}
        for task, truth, col in (
            ("ene", labels == ENE, lambda p: p[:, ENE]),
            ("metastasis", labels != BENIGN, lambda p: 1.0 - p[:, BENIGN]),
        ):
            for (name, fz), (other, res) in itertools.product(
                (("fusion", fused), ("fusion_logistic", fused_lr)),
                (("deep", deep), ("radiomics", rad)),
            ):
                t = paired_auc_test(col(fz.oof), col(res.oof), truth.astype(int))
                tests[f"{task}: {name} - {other}"] = {
                    "difference": round(t.difference, 3),
                    "p": round(t.p_value, 4),
                }
        report["paired_delong"] = tests
        if args.external:
            ext_cases = list(read_cohort(args.external).cases())
            t0 = time.perf_counter()
            ext = build_node_set(ext_cases)
            assert ext.crops is not None and ext.features is not None
            p_deep = deep.ensemble.predict_proba(ext.crops)
            p_rad = rad.predict_proba(ext.features)
            p_fused = fused.stacker.predict_proba(p_deep, p_rad)
            p_fused_lr = fused_lr.stacker.predict_proba(p_deep, p_rad)
            report["external"] = {
                "cohort": args.external,
                "class_counts": np.bincount(ext.labels, minlength=3).tolist(),
                "predict_seconds_all_three": round(time.perf_counter() - t0, 1),
                "deep": auc_block(p_deep, ext.labels, ext.patients),
                "radiomics": auc_block(p_rad, ext.labels, ext.patients),
                "fusion": auc_block(p_fused, ext.labels, ext.patients),
                "fusion_logistic": auc_block(p_fused_lr, ext.labels, ext.patients),
            }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
