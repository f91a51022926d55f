"""Benchmark of the web app's model training: the demo's three models, through the services.

    DATABASE_URL=postgres://.../scratch python benchmarks/bench_models.py [--data var/demo]
        [--json out.json]

Exactly what ``./run demo`` queues (``readerstudy.aimodels.services.DEMO_MODEL_CONFIG``, via
``demo_models_queue``'s services but in this process, without Celery): the demo cohorts (internal
30 patients seed 1, external 20 patients seed 2; generated into ``--data`` if missing) are imported
into the database named by DATABASE_URL (migrated here; use a scratch one: this adds rows), then deep, radiomics
and fusion models are trained on the internal cohort (``training_run_execute``: reading the CT
from media storage, patient-level 5-fold CV with early stopping, bundle, registration) and the
external cohort is predicted (``prediction_run_execute``). Printed:

1. wall-clock time of each training run (the demo's target: all three within 10 minutes), and of
   each external prediction run;
2. ENE (p_ene) and metastasis (1 - p_benign) AUCs with DeLong 95% CIs (``analysis``): out of fold
   on the internal cohort, and on the external one, for deep / radiomics / fusion, beside the
   realism check's logistic baseline (``synthetic.realism``: logistic regression on short axis
   and perinodal shell HU, cross-validated, ENE only).

Media and model bundles go to a temporary folder. The machine's load average is printed: the 2
cores are shared with other work, so times are upper bounds of an idle machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(REPO / "var" / "demo"), help="demo cohort folders")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    media = tempfile.mkdtemp(prefix="bench-models-media-")
    os.environ["MEDIA_ROOT"] = media
    os.environ["MODELS_ROOT"] = str(Path(media) / "models")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readerstudy.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from readerstudy.aimodels import selectors, services
    from readerstudy.aimodels.models import ModelKind, RunStatus
    from readerstudy.cohorts.services import cohort_import_folder
    from readerstudy.core.services import DEMO_COHORTS
    from synthetic.realism import analyse_cohort

    def load() -> str:
        return f"load {os.getloadavg()[0]:.1f}"

    call_command("migrate", verbosity=0)  # a new scratch database needs its tables

    cohorts = {}
    for spec in DEMO_COHORTS:
        folder = Path(args.data) / spec.folder
        if not (folder / "manifest.csv").is_file():
            call_command(
                "make_synthetic_cohort",
                str(folder),
                patients=spec.patients,
                seed=spec.seed,
                profile=spec.profile,
            )
        cohorts[spec.folder] = cohort_import_folder(folder).cohort
    internal, external = cohorts["internal"], cohorts["external"]
    print(f"cohorts imported ({load()}); training with {services.DEMO_MODEL_CONFIG}")

    report: dict = {
        "config": services.DEMO_MODEL_CONFIG,
        "train_seconds": {},
        "predict_seconds": {},
    }
    versions = {}
    for kind in (ModelKind.DEEP, ModelKind.RADIOMICS, ModelKind.FUSION):
        inputs = (
            {"deep_input": versions["deep"], "radiomics_input": versions["radiomics"]}
            if kind == ModelKind.FUSION
            else {}
        )
        run = services.training_run_create(
            cohort=internal, kind=kind, enqueue=False, **services.DEMO_MODEL_CONFIG, **inputs
        )
        t0 = time.perf_counter()
        run = services.training_run_execute(run_id=run.pk)
        seconds = time.perf_counter() - t0
        if run is None or run.status != RunStatus.SUCCEEDED:
            print(f"{kind}: {getattr(run, 'error', 'failed')}", file=sys.stderr)
            return 1
        versions[str(kind)] = run.model_version
        report["train_seconds"][str(kind)] = round(seconds, 1)
        print(f"train {kind:<10} {seconds:7.1f} s  ({load()})")
    total = sum(report["train_seconds"].values())
    print(f"train total      {total:7.1f} s  (target: 600 s)")
    for kind, version in versions.items():
        run = services.prediction_run_create(model_version=version, cohort=external, enqueue=False)
        t0 = time.perf_counter()
        run = services.prediction_run_execute(run_id=run.pk)
        seconds = time.perf_counter() - t0
        report["predict_seconds"][kind] = round(seconds, 1)
        print(f"predict external {kind:<10} {seconds:6.1f} s, {run.nodes_done} nodes ({load()})")

    rows = []
    for where, cohort, oof in (("internal OOF", internal, True), ("external", external, None)):
        for kind, version in versions.items():
            for m in selectors.prediction_metrics(version=version, cohort=cohort, out_of_fold=oof):
                rows.append({"cohort": where, "model": kind, **m})
        base = analyse_cohort(Path(args.data) / ("internal" if oof else "external"), tissues=False)
        b = base.get("baseline_ene", {})
        if "auc_size_and_shell" in b:
            rows.append(
                {
                    "cohort": where,
                    "model": "logistic baseline (realism)",
                    "task": "ENE",
                    "auc": b["auc_size_and_shell"],
                    "ci_low": None,
                    "ci_high": None,
                    "n_positive": b["n_ene"],
                    "n_negative": b["n"] - b["n_ene"],
                }
            )
    report["auc"] = rows
    print()
    print("| cohort | model | task | AUC | 95% CI (DeLong) | pos / neg |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        ci = f"{r['ci_low']:.3f}-{r['ci_high']:.3f}" if r["ci_low"] is not None else "(CV, no CI)"
        auc = f"{r['auc']:.3f}" if r["auc"] is not None else "-"
        print(
            f"| {r['cohort']} | {r['model']} | {r['task']} | {auc} | {ci} | "
            f"{r['n_positive']} / {r['n_negative']} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
