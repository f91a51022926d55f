"""Writes for model versions: training and prediction runs, registration, attributions.

The models themselves are the Django-free ``inference`` package; this module feeds it the
imported cohorts (CT slices and label maps from media storage), registers what it trains as
immutable model versions and stores predictions. Runs follow one status machine
(``models.RUN_TRANSITIONS``): a Celery task claims a queued run, reports progress with an ETA and
heartbeats, checks the cancel flag between chunks, and ends it (succeeded / failed with a message
a coordinator can read / cancelled). Only named transient errors (the database went away) put a
run back in the queue; bad input never does.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pydicom
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from readerstudy.accounts.models import User
from readerstudy.aimodels.models import (
    RUN_ENDED,
    Attribution,
    ModelKind,
    ModelVersion,
    Prediction,
    PredictionRun,
    RunStatus,
    TrainingRun,
)
from readerstudy.cohorts.models import Cohort, CTSeries, Node
from readerstudy.studies.models import ReaderStudy, StudyStatus

logger = logging.getLogger(__name__)

#: Errors after which a run is tried again (the database dropped the connection).
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)

DEFAULT_INTENDED_USE = (
    "Research use only. Estimates, for one pre-segmented cervical lymph node on contrast-enhanced "
    "CT, the probabilities of benign, metastasis without ENE and metastasis with extranodal "
    "extension, as decision support shown to readers in the AI-aided arm of a reader study. Not "
    "for clinical decisions. Trained on the cohort named on this page; performance elsewhere is "
    "known only from the external figures below."
)

#: Training options a run may set (all optional), with their types.
TRAIN_OPTIONS: dict[str, type] = {
    "epochs": int,
    "patience": int,
    "batch_size": int,
    "lr": float,
    "grid": int,
    "fov_mm": float,
    "margin_mm": float,
    "width": int,
    "depth": int,
    "hidden": int,
    "dropout": float,
    "fusion_method": str,
}


class ModelRunError(Exception):
    """Input a run cannot work with; the message names the field and is shown to coordinators."""


class ModelRunTransientError(Exception):
    def __init__(self, *, run_id: int, attempt: int, retry_in_seconds: int) -> None:
        super().__init__(f"run {run_id}, attempt {attempt}: transient error")
        self.run_id = run_id
        self.attempt = attempt
        self.retry_in_seconds = retry_in_seconds


class _Cancelled(Exception):
    pass


class _Superseded(Exception):
    pass


# --------------------------------------------------------------------------------------------
# Cohorts as inference input


def _series_volume(series: CTSeries) -> np.ndarray:
    """HU volume (slice, row, column) of an imported series, read from media storage."""
    slices = []
    for item in series.slices.order_by("index"):
        with default_storage.open(item.file.name, "rb") as fh:
            ds = pydicom.dcmread(fh)
        slope = float(getattr(ds, "RescaleSlope", 1.0))
        intercept = float(getattr(ds, "RescaleIntercept", 0.0))
        slices.append(ds.pixel_array.astype(np.float32) * slope + intercept)
    return np.stack(slices)


def _series_labels(series: CTSeries) -> np.ndarray:
    with default_storage.open(series.label_map.name, "rb") as fh:
        return np.load(io.BytesIO(fh.read()))["labels"]


def cohort_cases(
    *, cohort: Cohort, with_reference: bool, node_ids: set[int] | None = None
) -> Iterator[Any]:
    """One ``inference.dataset.PatientCase`` per series of ``cohort`` (lazily: one volume in
    memory at a time). Node ids are ``str(Node.pk)``, patient ids the pseudonyms. With
    ``with_reference`` only nodes with a reference standard are included, with it."""
    from inference.dataset import NodeSpec, PatientCase

    series_list = (
        CTSeries.objects.filter(patient__cohort=cohort)
        .select_related("patient")
        .order_by("patient__pseudonym", "pk")
    )
    for series in series_list:
        nodes = series.nodes.select_related("reference").order_by("label")
        if node_ids is not None:
            nodes = nodes.filter(pk__in=node_ids)
        specs = []
        for node in nodes:
            reference = getattr(node, "reference", None)
            if with_reference and reference is None:
                continue
            specs.append(
                NodeSpec(str(node.pk), node.mask_label, reference.call if with_reference else None)
            )
        if not specs:
            continue
        yield PatientCase(
            patient_id=series.patient.pseudonym,
            volume=_series_volume(series),
            spacing=(
                series.slice_spacing_mm,
                series.pixel_spacing_row_mm,
                series.pixel_spacing_column_mm,
            ),
            labels=_series_labels(series),
            nodes=specs,
        )


# --------------------------------------------------------------------------------------------
# Model versions


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    commit = out.stdout.strip()
    return commit if re.fullmatch(r"[0-9a-f]{40}", commit) else ""


def bundle_dir(version: ModelVersion) -> Path:
    return Path(settings.MODELS_ROOT) / version.bundle_path


@transaction.atomic
def model_version_register(
    *,
    bundle_path: str,
    label: str,
    training_cohort: Cohort | None,
    intended_use: str = "",
    inputs: Sequence[ModelVersion] = (),
    user: User | None = None,
) -> ModelVersion:
    """Register a bundle folder (relative to MODELS_ROOT) as a new, immutable model version.

    Every file's sha256 is checked against ``model.json`` first: a changed bundle is refused."""
    from inference.bundle import BundleError, bundle_sha256, read_bundle

    folder = Path(settings.MODELS_ROOT) / bundle_path
    try:
        config, _ = read_bundle(folder)
        identity = bundle_sha256(folder)
    except BundleError as exc:
        raise ModelRunError(str(exc).replace(str(settings.MODELS_ROOT), "MODELS_ROOT")) from exc
    if ModelVersion.objects.filter(label=label).exists():
        raise ModelRunError(f"label: a model version named {label!r} exists already")
    version = ModelVersion.objects.create(
        label=label,
        kind=config["kind"],
        bundle_path=bundle_path,
        bundle_sha256=identity,
        files=config.get("files", {}),
        config=config,
        training_cohort=training_cohort,
        seed=int(config["seed"]),
        n_folds=int(config["n_folds"]),
        code_sha256=config.get("code_sha256", ""),
        git_commit=_git_commit(),
        versions=config.get("versions", {}),
        oof_metrics=config.get("oof_metrics", {}),
        intended_use=intended_use or DEFAULT_INTENDED_USE,
        created_by=user,
    )
    if inputs:
        version.inputs.set(inputs)
    return version


def model_version_load(*, version: ModelVersion, device: str | None = None) -> Any:
    """The version's model, loaded only if every file still has its registered sha256
    (``inference.bundle.BundleError`` otherwise, naming the file)."""
    from inference.bundle import load_model
    from inference.network import pick_device

    return load_model(
        bundle_dir(version), pick_device(device), expected_sha256=version.bundle_sha256
    )


@transaction.atomic
def study_model_version_set(*, study: ReaderStudy, version: ModelVersion | None) -> ReaderStudy:
    """Choose the model version the study's AI-aided arm shows: only while the study is a draft
    (then it is fixed: PostgreSQL refuses the change too, see studies migration 0004)."""
    study = ReaderStudy.objects.select_for_update().get(pk=study.pk)
    if study.status != StudyStatus.DRAFT:
        raise ValidationError(
            {"model_version": f"study {study.name!r} is {study.status}; only a draft can change it"}
        )
    study.model_version = version
    study.save(update_fields=["model_version"])
    return study


# --------------------------------------------------------------------------------------------
# Run status machine (shared by training and prediction runs)

R = TypeVar("R", TrainingRun, PredictionRun)


def _stale_after() -> timedelta:
    return timedelta(seconds=settings.MODEL_RUN_STALE_AFTER_SECONDS)


def _change(
    model: type[R], run_id: int, to: str, attempt: int | None = None, **fields: Any
) -> R | None:
    """Change a run's status under a row lock if the status machine allows it (and, given
    ``attempt``, only while that attempt still owns the run)."""
    with transaction.atomic():
        run = model.objects.select_for_update().filter(pk=run_id).first()
        if run is None or not run.may_change_to(to):
            return None
        if attempt is not None and (run.status != RunStatus.RUNNING or run.attempts != attempt):
            return None
        run.status = to
        for key, value in fields.items():
            setattr(run, key, value)
        run.save(update_fields=["status", *fields])
        return run


def _claim(model: type[R], run_id: int, retry_of_attempt: int | None) -> R | None:
    """Start an attempt of a queued run (or take over one whose worker is gone); None when
    there is nothing to do, so a re-delivered task message is harmless."""
    now = timezone.now()
    with transaction.atomic():
        run = model.objects.select_for_update().filter(pk=run_id).first()
        if run is None or not run.may_change_to(RunStatus.RUNNING):
            return None
        if run.cancel_requested:
            run.status, run.stage, run.finished_at = RunStatus.CANCELLED, "cancelled", now
            run.save(update_fields=["status", "stage", "finished_at"])
            return None
        stale = run.heartbeat_at is None or run.heartbeat_at < now - _stale_after()
        if run.status == RunStatus.RUNNING and not (retry_of_attempt == run.attempts or stale):
            return None
        if run.attempts >= settings.MODEL_RUN_MAX_ATTEMPTS:
            run.status, run.finished_at = RunStatus.FAILED, now
            run.error = run.error or (
                f"stopped {run.attempts} times before finishing (worker restarted or out of "
                "memory); start the run again, and if this repeats ask an administrator"
            )
            run.save(update_fields=["status", "finished_at", "error"])
            return None
        run.status = RunStatus.RUNNING
        run.attempts += 1
        run.started_at = run.started_at or now
        run.heartbeat_at = now
        run.progress = 0.0
        run.eta_seconds = None
        run.error = ""
        run.save(
            update_fields=[
                "status",
                "attempts",
                "started_at",
                "heartbeat_at",
                "progress",
                "eta_seconds",
                "error",
            ]
        )
        return run


class _Attempt:
    """The attempt a worker runs: progress with ETA, heartbeats, and the cancel flag."""

    def __init__(self, run: TrainingRun | PredictionRun) -> None:
        self.model = type(run)
        self.run_id = run.pk
        self.attempt = run.attempts
        self.t0 = time.monotonic()

    def report(self, fraction: float, stage: str, **fields: Any) -> None:
        fraction = min(1.0, max(0.0, fraction))
        elapsed = time.monotonic() - self.t0
        eta = elapsed * (1 - fraction) / fraction if fraction > 0.02 else None
        changed = self.model.objects.filter(
            pk=self.run_id, status=RunStatus.RUNNING, attempts=self.attempt
        ).update(
            progress=fraction,
            stage=stage[:200],
            eta_seconds=eta,
            heartbeat_at=timezone.now(),
            **fields,
        )
        if not changed:
            raise _Superseded(f"{self.model.__name__} {self.run_id}, attempt {self.attempt}")
        self.check_cancel()

    def check_cancel(self) -> None:
        if self.model.objects.filter(pk=self.run_id, cancel_requested=True).exists():
            raise _Cancelled

    def fail(self, error: str) -> None:
        _change(
            self.model,
            self.run_id,
            RunStatus.FAILED,
            attempt=self.attempt,
            stage="failed",
            error=error,
            eta_seconds=None,
            finished_at=timezone.now(),
        )

    def cancelled(self) -> None:
        _change(
            self.model,
            self.run_id,
            RunStatus.CANCELLED,
            attempt=self.attempt,
            stage="cancelled by a coordinator",
            eta_seconds=None,
            finished_at=timezone.now(),
        )


def _after_transient_error(attempt: _Attempt, exc: Exception) -> None:
    if not connection.in_atomic_block:
        with contextlib.suppress(Exception):
            connection.close_if_unusable_or_obsolete()
    logger.warning("%s %s: transient error", attempt.model.__name__, attempt.run_id, exc_info=exc)
    limit = settings.MODEL_RUN_MAX_ATTEMPTS
    delay = settings.MODEL_RUN_RETRY_DELAY_SECONDS * 2 ** (attempt.attempt - 1)
    try:
        if attempt.attempt >= limit:
            attempt.fail(f"the database was unavailable on each of {limit} attempts; try later")
            return
        _change(
            attempt.model,
            attempt.run_id,
            RunStatus.RETRYING,
            attempt=attempt.attempt,
            stage=f"database unavailable; trying again in {delay} s "
            f"(attempt {attempt.attempt + 1} of {limit})",
            heartbeat_at=timezone.now(),
        )
    except TRANSIENT_ERRORS:
        logger.warning("%s %s: could not record the retry", attempt.model.__name__, attempt.run_id)
    raise ModelRunTransientError(
        run_id=attempt.run_id, attempt=attempt.attempt, retry_in_seconds=delay
    ) from exc


def _bad_input_errors() -> tuple[type[Exception], ...]:
    from inference.bundle import BundleError
    from inference.crops import CropError
    from inference.training import TrainError

    return (ModelRunError, BundleError, CropError, TrainError)


def _run_attempt(
    model: type[R],
    run_id: int,
    retry_of_attempt: int | None,
    work: Callable[[R, _Attempt], Callable[[], None]],
) -> R | None:
    """Claim, run ``work`` and end the run as its outcome says. ``work`` returns what to do
    once the run has been marked succeeded (queue follow-up runs), or raises."""
    run = _claim(model, run_id, retry_of_attempt)
    if run is None:
        return model.objects.filter(pk=run_id).first()
    attempt = _Attempt(run)
    try:
        with _torch_threads():
            after = work(run, attempt)
    except _Superseded:
        logger.warning("%s %s: taken over by another attempt, stopping", model.__name__, run_id)
    except _Cancelled:
        attempt.cancelled()
    except _bad_input_errors() as exc:
        attempt.fail(str(exc).replace(str(settings.MODELS_ROOT), "MODELS_ROOT"))
    except TRANSIENT_ERRORS as exc:
        _after_transient_error(attempt, exc)
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        logger.exception("%s %s: unexpected error (error id %s)", model.__name__, run_id, error_id)
        attempt.fail(
            f"stopped on an unexpected error (error id {error_id}); the server log has the details"
        )
    else:
        now = timezone.now()
        if _change(
            model,
            run_id,
            RunStatus.SUCCEEDED,
            attempt=attempt.attempt,
            progress=1.0,
            eta_seconds=0.0,
            finished_at=now,
            heartbeat_at=now,
        ):
            after()
    return model.objects.filter(pk=run_id).first()


@contextlib.contextmanager
def _torch_threads() -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    if settings.MODEL_TORCH_THREADS > 0:
        torch.set_num_threads(settings.MODEL_TORCH_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_cancel(*, run: TrainingRun | PredictionRun) -> TrainingRun | PredictionRun:
    """Ask a run to stop: a queued one is cancelled now, a running one at its next chunk."""
    model = type(run)
    with transaction.atomic():
        locked = model.objects.select_for_update().get(pk=run.pk)
        if locked.status in RUN_ENDED:
            return locked
        locked.cancel_requested = True
        fields = ["cancel_requested"]
        if locked.status in (RunStatus.PENDING, RunStatus.RETRYING):
            locked.status, locked.stage = RunStatus.CANCELLED, "cancelled by a coordinator"
            locked.finished_at = timezone.now()
            fields += ["status", "stage", "finished_at"]
        else:
            locked.stage = "cancelling..."
            fields.append("stage")
        locked.save(update_fields=fields)
        return locked


# --------------------------------------------------------------------------------------------
# Training


def _check_options(options: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in (options or {}).items():
        if value is None:
            continue
        if key not in TRAIN_OPTIONS:
            raise ModelRunError(
                f"options: unknown option {key!r} (known: {', '.join(TRAIN_OPTIONS)})"
            )
        try:
            clean[key] = TRAIN_OPTIONS[key](value)
        except (TypeError, ValueError):
            raise ModelRunError(f"options: {key} must be {TRAIN_OPTIONS[key].__name__}") from None
    if clean.get("fusion_method", "weighted") not in ("weighted", "logistic"):
        raise ModelRunError("options: fusion_method must be weighted or logistic")
    return clean


def training_run_create(
    *,
    cohort: Cohort,
    kind: str,
    n_folds: int = 5,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    intended_use: str = "",
    deep_input: ModelVersion | None = None,
    radiomics_input: ModelVersion | None = None,
    deep_input_run: TrainingRun | None = None,
    radiomics_input_run: TrainingRun | None = None,
    predict_cohorts: Sequence[Cohort] = (),
    user: User | None = None,
    enqueue: bool = True,
) -> TrainingRun:
    """Queue a training run (Celery, inference queue). A fusion run needs a deep and a
    radiomics input: versions trained on the same cohort, or runs queued with it."""
    if kind not in ModelKind.values:
        raise ModelRunError(f"kind: {kind!r} is not one of {', '.join(ModelKind.values)}")
    if n_folds < 2:
        raise ModelRunError(f"folds: need at least 2, got {n_folds}")
    clean = _check_options(options or {})
    if kind == ModelKind.FUSION:
        for name, version, run, want in (
            ("deep", deep_input, deep_input_run, ModelKind.DEEP),
            ("radiomics", radiomics_input, radiomics_input_run, ModelKind.RADIOMICS),
        ):
            if (version is None) == (run is None):
                raise ModelRunError(f"{name}_input: a fusion run needs one {name} version or run")
            source = version or run
            assert source is not None
            if source.kind != want:
                raise ModelRunError(f"{name}_input: {source} is a {source.kind} model")
            cohort_id = version.training_cohort_id if version else run.cohort_id  # type: ignore[union-attr]
            if cohort_id != cohort.pk:
                raise ModelRunError(f"{name}_input: trained on another cohort than {cohort.name!r}")
            if (version.seed if version else run.seed) != seed or (  # type: ignore[union-attr]
                version.n_folds if version else run.n_folds  # type: ignore[union-attr]
            ) != n_folds:
                raise ModelRunError(f"{name}_input: other seed or folds (fusion needs the same)")
    elif any((deep_input, radiomics_input, deep_input_run, radiomics_input_run)):
        raise ModelRunError("inputs: only a fusion run takes input models")
    with transaction.atomic():
        run = TrainingRun.objects.create(
            cohort=cohort,
            kind=kind,
            n_folds=n_folds,
            seed=seed,
            options=clean,
            intended_use=intended_use,
            deep_input=deep_input,
            radiomics_input=radiomics_input,
            deep_input_run=deep_input_run,
            radiomics_input_run=radiomics_input_run,
            created_by=user,
            heartbeat_at=timezone.now(),
        )
        if predict_cohorts:
            run.predict_cohorts.set(predict_cohorts)
        if enqueue:
            from readerstudy.aimodels import tasks

            transaction.on_commit(lambda: tasks.train_model.delay(run.pk))
    return run


def training_run_inputs_ready(*, run_id: int) -> bool | None:
    """For a fusion run queued with its input runs: True when both have registered versions,
    None while one is still queued or running, False (and the run failed) when one did not."""
    run = TrainingRun.objects.filter(pk=run_id).first()
    if run is None or run.kind != ModelKind.FUSION or run.status in RUN_ENDED:
        return True
    waiting = []
    for name, source in (("deep", run.deep_input_run), ("radiomics", run.radiomics_input_run)):
        if source is None:
            continue
        if source.status == RunStatus.SUCCEEDED:
            continue
        if source.status in RUN_ENDED:
            _change(
                TrainingRun,
                run.pk,
                RunStatus.FAILED,
                stage="failed",
                error=f"the {name} input run {source.pk} {source.status}; nothing to fuse",
                finished_at=timezone.now(),
            )
            return False
        waiting.append(f"{name} run {source.pk}")
    if waiting:
        TrainingRun.objects.filter(pk=run.pk, status=RunStatus.PENDING).update(
            stage=f"waiting for {' and '.join(waiting)}", heartbeat_at=timezone.now()
        )
        return None
    return True


def _label_for(run: TrainingRun) -> str:
    return f"{run.kind}-{slugify(run.cohort.name)[:40]}-s{run.seed}-run{run.pk}"


def _node_set_for_training(run: TrainingRun, attempt: _Attempt, *, crops: bool, features: bool):
    from inference.crops import CropParams
    from inference.dataset import build_node_set

    opts = run.options
    crop_params = CropParams(
        grid=opts.get("grid", CropParams.grid),
        fov_mm=opts.get("fov_mm", CropParams.fov_mm),
        margin_mm=opts.get("margin_mm", CropParams.margin_mm),
    )
    total = (
        CTSeries.objects.filter(patient__cohort=run.cohort, nodes__reference__isnull=False)
        .distinct()
        .count()
    )
    if total == 0:
        raise ModelRunError(f"cohort: {run.cohort.name!r} has no node with a reference standard")
    nodes = build_node_set(
        cohort_cases(cohort=run.cohort, with_reference=True),
        crop_params=crop_params,
        crops=crops,
        radiomics=features,
        progress=lambda n: attempt.report(0.3 * n / total, f"reading patient {n} of {total}"),
    )
    return nodes, crop_params


def _train_single(run: TrainingRun, attempt: _Attempt, workdir: Path) -> tuple[Any, Any]:
    from inference.bundle import save_deep, save_radiomics
    from inference.network import NetworkParams, pick_device
    from inference.radiomics import RadiomicsParams, train_radiomics_cv
    from inference.training import TrainParams, patient_folds, train_deep_cv

    deep = run.kind == ModelKind.DEEP
    nodes, crop_params = _node_set_for_training(run, attempt, crops=deep, features=not deep)
    folds = patient_folds(nodes.patients, nodes.labels, run.n_folds, run.seed)
    opts = run.options
    if deep:
        assert nodes.crops is not None
        train_params = TrainParams(
            max_epochs=opts.get("epochs", TrainParams.max_epochs),
            patience=opts.get("patience", TrainParams.patience),
            batch_size=opts.get("batch_size", TrainParams.batch_size),
            lr=opts.get("lr", TrainParams.lr),
        )
        net_params = NetworkParams(
            in_channels=crop_params.channels,
            width=opts.get("width", NetworkParams.width),
            depth=opts.get("depth", NetworkParams.depth),
            hidden=opts.get("hidden", NetworkParams.hidden),
            dropout=opts.get("dropout", NetworkParams.dropout),
        )
        result = train_deep_cv(
            nodes.crops,
            nodes.labels,
            nodes.patients,
            folds=folds,
            seed=run.seed,
            net_params=net_params,
            train_params=train_params,
            device=pick_device(None),
            progress=lambda k, n: attempt.report(0.3 + 0.65 * k / n, f"trained fold {k} of {n}"),
        )
        save_deep(
            workdir,
            result,
            nodes,
            crop_params=crop_params,
            train_params=train_params,
            seed=run.seed,
            cohort=run.cohort.name,
        )
    else:
        attempt.report(0.35, "fitting the radiomics pipeline (cross-validation)")
        result = train_radiomics_cv(
            nodes.features, nodes.labels, nodes.patients, folds=folds, seed=run.seed
        )
        save_radiomics(
            workdir,
            result,
            nodes,
            radiomics_params=RadiomicsParams(),
            seed=run.seed,
            cohort=run.cohort.name,
        )
    return nodes, result


def _oof_rows(version: ModelVersion) -> list[dict[str, str]]:
    from inference.bundle import read_bundle

    _, data = read_bundle(bundle_dir(version), version.bundle_sha256)
    return list(csv.DictReader(io.StringIO(data["oof.csv"].decode())))


def _train_fusion(run: TrainingRun, attempt: _Attempt, workdir: Path) -> tuple[Any, Any, list]:
    from inference.bundle import save_fusion
    from inference.classes import CLASSES, class_index
    from inference.dataset import NodeSet
    from inference.fusion import train_fusion
    from inference.radiomics import RadiomicsCvResult
    from inference.training import DeepCvResult

    deep_v = run.deep_input or run.deep_input_run.model_version  # type: ignore[union-attr]
    rad_v = run.radiomics_input or run.radiomics_input_run.model_version  # type: ignore[union-attr]
    if deep_v is None or rad_v is None:
        raise ModelRunError("inputs: the deep or radiomics input has no registered version")
    attempt.report(0.1, "loading the input models (checksums verified)")
    deep_model = model_version_load(version=deep_v, device="cpu")
    rad_model = model_version_load(version=rad_v, device="cpu")
    deep_rows, rad_rows = _oof_rows(deep_v), _oof_rows(rad_v)
    key = [(r["patient_id"], r["node_id"]) for r in deep_rows]
    if key != [(r["patient_id"], r["node_id"]) for r in rad_rows]:
        raise ModelRunError("inputs: the deep and radiomics versions were trained on other nodes")

    def arrays(rows: list[dict[str, str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        probs = np.array([[float(r[f"p_{c}"]) for c in CLASSES] for r in rows])
        return (
            probs,
            np.array([int(r["fold"]) for r in rows]),
            np.array([class_index(r["reference"]) for r in rows], dtype=np.int64),
        )

    deep_oof, deep_folds, labels = arrays(deep_rows)
    rad_oof, rad_folds, rad_labels = arrays(rad_rows)
    patients = np.array([r["patient_id"] for r in deep_rows], dtype=str)
    nodes = NodeSet(
        patients=patients,
        node_ids=np.array([r["node_id"] for r in deep_rows], dtype=str),
        labels=labels,
        crops=None,
        features=None,
    )
    deep_res = DeepCvResult(deep_model.ensemble, deep_folds, deep_oof, labels, [], 0.0)
    rad_res = RadiomicsCvResult(rad_model.pipeline, rad_folds, rad_oof, rad_labels, 0.0)
    attempt.report(0.3, "stacking the out-of-fold probabilities")
    result = train_fusion(
        deep_res,
        rad_res,
        patients,
        seed=run.seed,
        method=run.options.get("fusion_method", "weighted"),
    )
    save_fusion(
        workdir,
        result,
        nodes,
        deep_dir=bundle_dir(deep_v),
        radiomics_dir=bundle_dir(rad_v),
        seed=run.seed,
        cohort=run.cohort.name,
    )
    return nodes, result, [deep_v, rad_v]


def _store_oof(version: ModelVersion, nodes: Any, result: Any) -> int:
    rows = [
        Prediction(
            model_version=version,
            node_id=int(node_id),
            p_benign=float(p[0]),
            p_metastasis=float(p[1]),
            p_ene=float(p[2]),
            out_of_fold=True,
            fold=int(fold),
        )
        for node_id, p, fold in zip(nodes.node_ids, _clip(result.oof), result.folds, strict=True)
    ]
    Prediction.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["model_version", "node"],
        update_fields=["p_benign", "p_metastasis", "p_ene", "out_of_fold", "fold", "run"],
    )
    return len(rows)


def _clip(probs: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)


def _training_work(run: TrainingRun, attempt: _Attempt) -> Callable[[], None]:
    root = Path(settings.MODELS_ROOT)
    label = _label_for(run)
    workdir = root / f".run-{run.pk}-{attempt.attempt}"
    final = root / label
    shutil.rmtree(workdir, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    if final.exists():
        # An earlier attempt wrote the bundle and was lost before registering it.
        shutil.rmtree(final)
    try:
        inputs: list[ModelVersion] = []
        if run.kind == ModelKind.FUSION:
            nodes, result, inputs = _train_fusion(run, attempt, workdir)
        else:
            nodes, result = _train_single(run, attempt, workdir)
        attempt.report(0.97, "registering the model version")
        attempt.check_cancel()
        workdir.rename(final)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    with transaction.atomic():
        version = model_version_register(
            bundle_path=label,
            label=label,
            training_cohort=run.cohort,
            intended_use=run.intended_use,
            inputs=inputs,
            user=run.created_by,
        )
        _store_oof(version, nodes, result)
        TrainingRun.objects.filter(pk=run.pk).update(model_version=version)
    cohorts = list(run.predict_cohorts.all())

    def after() -> None:
        for cohort in cohorts:
            prediction_run_create(model_version=version, cohort=cohort, user=run.created_by)

    return after


def training_run_execute(*, run_id: int, retry_of_attempt: int | None = None) -> TrainingRun | None:
    """Run one attempt of a training run: read the cohort, cross-validate with patient-level
    folds, save the bundle, register it as a model version with its out-of-fold predictions,
    then queue the prediction runs it asked for."""
    return _run_attempt(TrainingRun, run_id, retry_of_attempt, _training_work)


# --------------------------------------------------------------------------------------------
# Prediction


def prediction_run_create(
    *, model_version: ModelVersion, cohort: Cohort, user: User | None = None, enqueue: bool = True
) -> PredictionRun:
    """Queue ``predict_cohort(model_version, cohort)`` on the inference queue."""
    with transaction.atomic():
        run = PredictionRun.objects.create(
            model_version=model_version,
            cohort=cohort,
            created_by=user,
            heartbeat_at=timezone.now(),
        )
        if enqueue:
            from readerstudy.aimodels import tasks

            transaction.on_commit(lambda: tasks.predict_cohort.delay(run.pk))
    return run


def _predict_chunk(model: Any, cases: list[Any]) -> tuple[Any, np.ndarray]:
    """Class probabilities of the nodes of a few patients (one chunk of a prediction run)."""
    import torch

    from inference.dataset import build_node_set

    nodes = build_node_set(
        cases,
        crop_params=getattr(model, "crop_params", None),
        radiomics_params=getattr(model, "radiomics_params", None),
        crops=model.needs_crops,
        radiomics=model.needs_features,
    )
    with torch.no_grad():
        probs = model.predict_proba(nodes)
    return nodes, probs


def _prediction_work(run: PredictionRun, attempt: _Attempt) -> Callable[[], None]:
    version = run.model_version
    # Nodes of the training cohort keep their out-of-fold probabilities: the final model has
    # seen them, so its own output there would be in-sample.
    oof_nodes = set(
        Prediction.objects.filter(model_version=version, out_of_fold=True).values_list(
            "node_id", flat=True
        )
    )
    todo = set(
        Node.objects.filter(series__patient__cohort=run.cohort)
        .exclude(pk__in=oof_nodes)
        .values_list("pk", flat=True)
    )
    total = len(todo)
    attempt.report(0.0, "loading the model (checksums verified)", nodes_total=total, nodes_done=0)
    if total == 0:
        return lambda: None
    model = model_version_load(version=version)
    chunk_size = max(1, settings.MODEL_PREDICT_CHUNK_PATIENTS)
    done = 0
    chunk: list[Any] = []

    def flush() -> None:
        nonlocal done
        nodes, probs = _predict_chunk(model, chunk)
        rows = [
            Prediction(
                model_version=version,
                node_id=int(node_id),
                p_benign=float(p[0]),
                p_metastasis=float(p[1]),
                p_ene=float(p[2]),
                run=run,
            )
            for node_id, p in zip(nodes.node_ids, _clip(probs), strict=True)
        ]
        # One row per (version, node): a re-run updates, never duplicates.
        Prediction.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["model_version", "node"],
            update_fields=["p_benign", "p_metastasis", "p_ene", "out_of_fold", "fold", "run"],
        )
        done += len(rows)
        chunk.clear()
        attempt.report(done / total, f"predicted {done} of {total} nodes", nodes_done=done)

    for case in cohort_cases(cohort=run.cohort, with_reference=False, node_ids=todo):
        chunk.append(case)
        if len(chunk) >= chunk_size:
            flush()
    if chunk:
        flush()
    return lambda: None


def prediction_run_execute(
    *, run_id: int, retry_of_attempt: int | None = None
) -> PredictionRun | None:
    """One attempt of a prediction run, in chunks of MODEL_PREDICT_CHUNK_PATIENTS patients."""
    return _run_attempt(PredictionRun, run_id, retry_of_attempt, _prediction_work)


# --------------------------------------------------------------------------------------------
# Integrated gradients


def attribution_request(*, model_version: ModelVersion, node: Node) -> Attribution:
    """The node's attribution, queued for computation unless cached or under way (a failed one
    is tried again)."""
    if model_version.kind == ModelKind.RADIOMICS:
        raise ModelRunError("model_version: a radiomics model has no image attribution")
    with transaction.atomic():
        item, created = Attribution.objects.select_for_update().get_or_create(
            model_version=model_version, node=node
        )
        if created or item.status == RunStatus.FAILED:
            item.status, item.error = RunStatus.PENDING, ""
            item.save(update_fields=["status", "error"])
            from readerstudy.aimodels import tasks

            transaction.on_commit(lambda: tasks.compute_attribution.delay(item.pk))
    return item


@dataclass(frozen=True)
class _Overlay:
    crops: np.ndarray  # (slices, grid, grid) CT channels of the size-aware stream, 0..1
    heat: np.ndarray  # same shape, attributions


def _render_overlay(overlay: _Overlay, *, title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    n = overlay.crops.shape[0]
    fig, axes = plt.subplots(1, n, figsize=(3 * n, 3.3), dpi=100)
    limit = float(np.abs(overlay.heat).max()) or 1.0
    for i, ax in enumerate(np.atleast_1d(axes)):
        ax.imshow(overlay.crops[i], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        heat = np.ma.masked_where(np.abs(overlay.heat[i]) < 0.05 * limit, overlay.heat[i])
        ax.imshow(heat, cmap="bwr", vmin=-limit, vmax=limit, alpha=0.55, interpolation="nearest")
        ax.set_title(f"slice {i - n // 2:+d}" if i != n // 2 else "centre slice", fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def attribution_compute(*, attribution_id: int) -> Attribution | None:
    """Integrated gradients of the ENE probability for one node (the deep part of a fusion
    model), stored as arrays and as a PNG overlay of the node's central slices."""
    from inference.attribution import integrated_gradients
    from inference.dataset import build_node_set

    with transaction.atomic():
        item = (
            Attribution.objects.select_for_update()
            .select_related("model_version", "node__series__patient__cohort")
            .filter(pk=attribution_id)
            .first()
        )
        if item is None or item.status not in (RunStatus.PENDING, RunStatus.RETRYING):
            return item
        item.status = RunStatus.RUNNING
        item.save(update_fields=["status"])
    try:
        with _torch_threads():
            model = model_version_load(version=item.model_version, device="cpu")
            deep = getattr(model, "deep", model)
            cases = list(
                cohort_cases(
                    cohort=item.node.series.patient.cohort,
                    with_reference=False,
                    node_ids={item.node_id},
                )
            )
            nodes = build_node_set(cases, crop_params=deep.crop_params, radiomics=False)
            assert nodes.crops is not None
            attr = integrated_gradients(
                deep.ensemble.nets, nodes.crops.size_independent[0], nodes.crops.size_aware[0]
            )
            p_ene = float(deep.ensemble.predict_proba(nodes.crops)[0, 2])
        ct = nodes.crops.size_aware[0][:-1]  # the CT slices; the last channel is the mask
        heat = attr.size_aware[:-1]
        png = _render_overlay(
            _Overlay(crops=ct, heat=heat),
            title=f"{item.model_version.label}: integrated gradients of p(ENE) = {p_ene:.2f}",
        )
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            size_independent=nodes.crops.size_independent[0],
            size_aware=nodes.crops.size_aware[0],
            attr_size_independent=attr.size_independent,
            attr_size_aware=attr.size_aware,
        )
        base = f"attributions/{item.model_version_id}/{item.node_id}"
        item.arrays.save(f"{base}.npz", ContentFile(buf.getvalue()), save=False)
        item.image.save(f"{base}.png", ContentFile(png), save=False)
        item.p_ene, item.convergence_delta = p_ene, attr.convergence_delta
        item.status, item.finished_at = RunStatus.SUCCEEDED, timezone.now()
        item.save()
    except _bad_input_errors() as exc:
        Attribution.objects.filter(pk=item.pk).update(status=RunStatus.FAILED, error=str(exc))
    except TRANSIENT_ERRORS:
        Attribution.objects.filter(pk=item.pk).update(status=RunStatus.RETRYING)
        raise
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        logger.exception("attribution %s: unexpected error (error id %s)", item.pk, error_id)
        Attribution.objects.filter(pk=item.pk).update(
            status=RunStatus.FAILED, error=f"unexpected error (error id {error_id})"
        )
    return Attribution.objects.filter(pk=attribution_id).first()


# --------------------------------------------------------------------------------------------
# The demo's models (README "Demo"; benchmarks/bench_models.py measures this configuration)

#: Folds, seed and options of the demo's three models: the inference package's defaults.
DEMO_MODEL_CONFIG: dict[str, Any] = {"n_folds": 5, "seed": 1, "options": {}}


def demo_models_queue(
    *, internal: Cohort, external: Sequence[Cohort], user: User | None = None
) -> list[TrainingRun]:
    """Queue deep, radiomics and (waiting for them) fusion training on ``internal``, each
    predicting every demo cohort once registered. Nothing is queued if ``internal`` has a
    training run already (the demo set-up may run again)."""
    if TrainingRun.objects.filter(cohort=internal).exists():
        return []
    cohorts = [internal, *external]
    common = dict(cohort=internal, user=user, predict_cohorts=cohorts, **DEMO_MODEL_CONFIG)
    deep = training_run_create(kind=ModelKind.DEEP, **common)  # type: ignore[arg-type]
    radiomics = training_run_create(kind=ModelKind.RADIOMICS, **common)  # type: ignore[arg-type]
    fusion = training_run_create(
        kind=ModelKind.FUSION,
        deep_input_run=deep,
        radiomics_input_run=radiomics,
        **common,  # type: ignore[arg-type]
    )
    return [deep, radiomics, fusion]
