"""``python -m inference train|predict``: train a model bundle on a cohort folder, or score one.

python -m inference train --cohort PATH --kind deep|radiomics|fusion --folds 5 --seed S --out DIR
python -m inference predict --model DIR --cohort PATH --out preds.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from .bundle import BundleError, load_model, save_deep, save_fusion, save_radiomics
from .classes import CLASSES
from .cohort import CohortError, read_cohort
from .crops import CropError, CropParams
from .dataset import NodeSet, build_node_set
from .fusion import train_fusion
from .network import NetworkParams, pick_device
from .radiomics import RadiomicsCvResult, RadiomicsParams, train_radiomics_cv
from .training import DeepCvResult, TrainError, TrainParams, patient_folds, train_deep_cv

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m inference", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="cross-validate and save a model bundle")
    t.add_argument("--cohort", required=True, help="cohort folder (import format)")
    t.add_argument("--kind", required=True, choices=("deep", "radiomics", "fusion"))
    t.add_argument("--folds", type=int, default=5)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", required=True, help="new (or empty) folder for the bundle")
    t.add_argument("--epochs", type=int, default=TrainParams.max_epochs, help="maximum epochs")
    t.add_argument("--patience", type=int, default=TrainParams.patience)
    t.add_argument("--grid", type=int, default=CropParams.grid, help="crop size in pixels")
    t.add_argument("--width", type=int, default=NetworkParams.width, help="first layer width")
    t.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA if present)")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.add_argument(
        "--fusion-method",
        choices=("weighted", "logistic"),
        default="weighted",
        help="stacker of the fusion model (see docs/inference.md)",
    )
    pr = sub.add_parser("predict", help="class probabilities of every node of a cohort")
    pr.add_argument("--model", required=True, help="model bundle folder")
    pr.add_argument("--cohort", required=True)
    pr.add_argument("--out", required=True, help="CSV to write")
    pr.add_argument("--device", default=None)
    pr.add_argument("--batch-size", type=int, default=64)
    return p


def _progress(label: str):
    def show(n: int, total: int | None = None) -> None:
        sys.stderr.write(f"{label} {n}{'/' + str(total) if total else ''}\n")

    return show


def _train(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    cohort = read_cohort(args.cohort)
    crop_params = CropParams(grid=args.grid)
    radiomics_params = RadiomicsParams()
    need_crops = args.kind in ("deep", "fusion")
    need_features = args.kind in ("radiomics", "fusion")
    nodes = build_node_set(
        cohort.cases(),
        crop_params=crop_params,
        radiomics_params=radiomics_params,
        crops=need_crops,
        radiomics=need_features,
        progress=lambda n: _progress("read patient")(n, len(cohort.patients)),
    )
    t_read = time.perf_counter() - t0
    folds = patient_folds(nodes.patients, nodes.labels, args.folds, args.seed)
    out = Path(args.out)
    train_params = TrainParams(max_epochs=args.epochs, patience=args.patience)
    device = pick_device(args.device)

    def deep(target: Path) -> tuple[Path, DeepCvResult]:
        assert nodes.crops is not None
        net = NetworkParams(in_channels=crop_params.channels, width=args.width)
        res = train_deep_cv(
            nodes.crops,
            nodes.labels,
            nodes.patients,
            folds=folds,
            seed=args.seed,
            net_params=net,
            train_params=train_params,
            device=device,
            progress=_progress("deep fold"),
        )
        save_deep(
            target,
            res,
            nodes,
            crop_params=crop_params,
            train_params=train_params,
            seed=args.seed,
            cohort=cohort.name,
        )
        return target, res

    def radiomics(target: Path) -> tuple[Path, RadiomicsCvResult]:
        assert nodes.features is not None
        res = train_radiomics_cv(
            nodes.features, nodes.labels, nodes.patients, folds=folds, seed=args.seed
        )
        save_radiomics(
            target,
            res,
            nodes,
            radiomics_params=radiomics_params,
            seed=args.seed,
            cohort=cohort.name,
        )
        return target, res

    if args.kind == "deep":
        deep(out)
    elif args.kind == "radiomics":
        radiomics(out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            d, dres = deep(Path(tmp) / "deep")
            r, rres = radiomics(Path(tmp) / "radiomics")
            fused = train_fusion(
                dres, rres, nodes.patients, seed=args.seed, method=args.fusion_method
            )
            save_fusion(
                out, fused, nodes, deep_dir=d, radiomics_dir=r, seed=args.seed, cohort=cohort.name
            )
    config = json.loads((out / "model.json").read_text(encoding="utf-8"))
    summary = {
        "out": str(out),
        "kind": args.kind,
        "nodes": len(nodes),
        "read_seconds": round(t_read, 1),
        "total_seconds": round(time.perf_counter() - t0, 1),
        "oof_metrics": config["oof_metrics"],
    }
    print(json.dumps(summary, indent=2))
    return 0


def _predict(args: argparse.Namespace) -> int:
    model = load_model(args.model, device=pick_device(args.device))
    cohort = read_cohort(args.cohort, require_reference=False)
    nodes: NodeSet = build_node_set(
        cohort.cases(),
        crop_params=getattr(model, "crop_params", None),
        radiomics_params=getattr(model, "radiomics_params", None),
        crops=model.needs_crops,
        radiomics=model.needs_features,
    )
    with torch.no_grad():
        probs = model.predict_proba(nodes, args.batch_size)
    out = Path(args.out)
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["patient_id", "node_id", "reference", *(f"p_{c}" for c in CLASSES)])
        for i in range(len(nodes)):
            ref = CLASSES[nodes.labels[i]] if nodes.labels[i] >= 0 else ""
            w.writerow([nodes.patients[i], nodes.node_ids[i], ref, *(f"{p:.6f}" for p in probs[i])])
    print(f"{len(nodes)} nodes -> {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    try:
        return _train(args) if args.command == "train" else _predict(args)
    except (CohortError, CropError, TrainError, BundleError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
