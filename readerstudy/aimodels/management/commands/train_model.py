"""python manage.py train_model --cohort NAME --kind deep|radiomics|fusion --folds 5 --seed S

Trains in this process (through the same service as the Celery task) unless --queue is given.
A fusion model without --deep-version/--radiomics-version trains its two inputs first."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from readerstudy.aimodels import services
from readerstudy.aimodels.models import ModelKind, ModelVersion, RunStatus, TrainingRun
from readerstudy.cohorts.models import Cohort


class Command(BaseCommand):
    help = "Train a node classifier on an imported cohort and register it as a model version."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cohort", required=True, help="cohort name")
        parser.add_argument("--kind", required=True, choices=ModelKind.values)
        parser.add_argument("--folds", type=int, default=5)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--epochs", type=int, default=None, help="maximum epochs (deep)")
        parser.add_argument("--patience", type=int, default=None)
        parser.add_argument("--grid", type=int, default=None, help="crop size in pixels")
        parser.add_argument("--width", type=int, default=None, help="first layer width")
        parser.add_argument("--fusion-method", choices=("weighted", "logistic"), default=None)
        parser.add_argument("--deep-version", default=None, help="label of the fusion's deep input")
        parser.add_argument(
            "--radiomics-version", default=None, help="label of its radiomics input"
        )
        parser.add_argument("--intended-use", default="")
        parser.add_argument(
            "--predict", action="append", default=[], help="cohort to predict afterwards"
        )
        parser.add_argument(
            "--queue", action="store_true", help="queue it for a worker instead of training here"
        )

    def handle(self, *args: object, **o: object) -> None:
        cohort = self._cohort(str(o["cohort"]))
        predict = [self._cohort(str(name)) for name in o["predict"]]  # type: ignore[attr-defined]
        options = {
            "epochs": o["epochs"],
            "patience": o["patience"],
            "grid": o["grid"],
            "width": o["width"],
            "fusion_method": o["fusion_method"],
        }
        common = dict(cohort=cohort, n_folds=o["folds"], seed=o["seed"], options=options)
        queue = bool(o["queue"])
        try:
            inputs: dict[str, object] = {}
            if o["kind"] == ModelKind.FUSION:
                for name, label in (
                    ("deep", o["deep_version"]),
                    ("radiomics", o["radiomics_version"]),
                ):
                    if label:
                        version = ModelVersion.objects.filter(label=label).first()
                        if version is None:
                            raise CommandError(f"--{name}-version: no model version {label!r}")
                        inputs[f"{name}_input"] = version
                    else:
                        run = services.training_run_create(kind=name, enqueue=queue, **common)  # type: ignore[arg-type]
                        if not queue:
                            run = self._execute(run)
                            inputs[f"{name}_input"] = run.model_version
                        else:
                            inputs[f"{name}_input_run"] = run
            run = services.training_run_create(
                kind=str(o["kind"]),
                intended_use=str(o["intended_use"]),
                predict_cohorts=predict,
                enqueue=queue,
                **common,  # type: ignore[arg-type]
                **inputs,  # type: ignore[arg-type]
            )
        except services.ModelRunError as exc:
            raise CommandError(str(exc)) from exc
        if queue:
            self.stdout.write(f"training run {run.pk} queued (inference queue)")
            return
        run = self._execute(run)
        version = run.model_version
        assert version is not None
        self.stdout.write(
            json.dumps(
                {
                    "model_version": version.label,
                    "id": version.pk,
                    "oof_metrics": version.oof_metrics,
                },
                indent=2,
            )
        )

    def _cohort(self, name: str) -> Cohort:
        cohort = Cohort.objects.filter(name=name).first()
        if cohort is None:
            raise CommandError(f"--cohort: no cohort named {name!r}")
        return cohort

    def _execute(self, run: TrainingRun) -> TrainingRun:
        result = services.training_run_execute(run_id=run.pk)
        if result is None or result.status != RunStatus.SUCCEEDED:
            raise CommandError(
                f"training run {run.pk} ({run.kind}) {getattr(result, 'status', 'vanished')}: "
                f"{getattr(result, 'error', '')}"
            )
        self.stderr.write(f"{run.kind}: registered {result.model_version}")
        return result
