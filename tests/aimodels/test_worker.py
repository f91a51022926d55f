"""predict_cohort on a real Celery worker over Redis (the inference queue): idempotent, retried
after a transient error, cancellable. Faults come from tests/worker_app.py (cohorts named
``fault-predict-...``), so production code carries no test hooks."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from readerstudy.accounts.models import Role
from readerstudy.aimodels import services
from readerstudy.aimodels.models import Prediction, PredictionRun, RunStatus
from readerstudy.cohorts.models import Cohort, Node
from readerstudy.cohorts.services import cohort_import_folder
from tests.aimodels.conftest import install_bundle
from tests.conftest import wait_for
from tests.synthetic_cohorts import shared_base, synthetic_cohort

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]


@pytest.fixture
def on_worker(celery_worker_process: dict[str, Any], settings, tmp_path_factory, tiny_deep_bundle):
    """The test's media and models are the worker's; one cohort and one registered version."""
    settings.MEDIA_ROOT = celery_worker_process["media_root"]
    settings.MODELS_ROOT = Path(settings.MEDIA_ROOT) / "models"
    cohort = cohort_import_folder(synthetic_cohort(shared_base(tmp_path_factory), "ext1")).cohort
    label = f"tiny-{uuid.uuid4().hex[:8]}"
    install_bundle(tiny_deep_bundle, settings.MODELS_ROOT, label)
    version = services.model_version_register(bundle_path=label, label=label, training_cohort=None)
    return {"cohort": cohort, "version": version, "worker": celery_worker_process}


def _run(version, cohort) -> PredictionRun:
    return services.prediction_run_create(model_version=version, cohort=cohort)


def _ended(run: PredictionRun, timeout: float = 90) -> PredictionRun:
    return wait_for(
        lambda: (r := PredictionRun.objects.get(pk=run.pk)).has_ended and r, timeout=timeout
    )


def test_predict_cohort_on_the_worker_is_idempotent(on_worker, make_user) -> None:
    cohort, version = on_worker["cohort"], on_worker["version"]
    nodes = Node.objects.filter(series__patient__cohort=cohort).count()
    first = _ended(_run(version, cohort))
    assert first.status == RunStatus.SUCCEEDED, first.error
    assert first.nodes_done == nodes and first.progress == 1.0
    before = {p.node_id: p.probabilities for p in Prediction.objects.filter(model_version=version)}
    assert len(before) == nodes

    # The same task message delivered twice, and a second run: still one row per node.
    from readerstudy.aimodels import tasks

    second = _run(version, cohort)
    tasks.predict_cohort.delay(second.pk)
    second = _ended(second)
    assert second.status == RunStatus.SUCCEEDED and second.attempts == 1
    after = {p.node_id: p.probabilities for p in Prediction.objects.filter(model_version=version)}
    assert after == before

    # The coordinator's runs page polls this.
    client = Client()
    client.force_login(make_user(Role.COORDINATOR))
    runs = client.get("/models/runs/status.json").json()["runs"]
    assert {(r["id"], r["status"]) for r in runs if r["type"] == "prediction"} >= {
        (first.pk, "succeeded"),
        (second.pk, "succeeded"),
    }


def test_a_transient_error_is_retried_on_the_worker(on_worker) -> None:
    cohort, version = on_worker["cohort"], on_worker["version"]
    Cohort.objects.filter(pk=cohort.pk).update(name=f"fault-predict-dberror-once-{cohort.pk}")
    seen: set[str] = set()

    def done():
        run = PredictionRun.objects.get(pk=run_id)
        seen.add(run.status)
        return run.has_ended and run

    run_id = _run(version, cohort).pk
    run = wait_for(done, timeout=90, interval=0.05)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.attempts == 2 and run.error == ""
    assert Prediction.objects.filter(model_version=version).count() == run.nodes_total > 0


def test_a_running_prediction_can_be_cancelled(on_worker) -> None:
    cohort, version = on_worker["cohort"], on_worker["version"]
    name = f"fault-predict-slow-{cohort.pk}"
    Cohort.objects.filter(pk=cohort.pk).update(name=name)
    run = _run(version, cohort)
    wait_for(lambda: PredictionRun.objects.get(pk=run.pk).status == RunStatus.RUNNING)
    services.run_cancel(run=PredictionRun.objects.get(pk=run.pk))
    try:
        run = _ended(run, timeout=30)
    finally:
        (on_worker["worker"]["release_dir"] / name).touch()
    assert run.status == RunStatus.CANCELLED and run.finished_at is not None
    assert not Prediction.objects.filter(model_version=version).exists()
    # A queued run is cancelled at once and its task message does nothing.
    Cohort.objects.filter(pk=cohort.pk).update(name=f"plain-{cohort.pk}")
    queued = services.prediction_run_create(model_version=version, cohort=cohort, enqueue=False)
    assert services.run_cancel(run=queued).status == RunStatus.CANCELLED
    assert services.prediction_run_execute(run_id=queued.pk).status == RunStatus.CANCELLED
