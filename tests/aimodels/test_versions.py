"""Model versions are immutable and checksum-verified; a study fixes its version once opened;
readers get model output only in an opened AI-aided arm, nowhere else."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.test import Client

from inference.bundle import BundleError
from readerstudy.accounts.models import Role
from readerstudy.aimodels import selectors, services
from readerstudy.aimodels.models import ModelVersion, ModelVersionImmutable, Prediction
from readerstudy.cohorts.services import cohort_import_folder
from readerstudy.studies import services as study_services
from readerstudy.studies.models import ReadingOrderEntry, StudyStatus
from tests.aimodels.conftest import install_bundle
from tests.cohort_factory import write_cohort

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(tiny_deep_bundle: Path, settings) -> ModelVersion:
    name = f"tiny-{uuid.uuid4().hex[:8]}"
    path = install_bundle(tiny_deep_bundle, settings.MODELS_ROOT, name)
    return services.model_version_register(bundle_path=path, label=name, training_cohort=None)


def test_a_registered_version_is_never_changed(version: ModelVersion) -> None:
    version.intended_use = "anything"
    with pytest.raises(ModelVersionImmutable):
        version.save()
    # Below the ORM too: PostgreSQL refuses the UPDATE.
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE aimodels_modelversion SET intended_use = 'x' WHERE id = %s", [version.pk]
        )
    assert ModelVersion.objects.get(pk=version.pk).intended_use == services.DEFAULT_INTENDED_USE


def test_a_file_whose_checksum_does_not_match_is_refused(version: ModelVersion, settings) -> None:
    model = services.model_version_load(version=version, device="cpu")
    assert len(model.ensemble.nets) == 2
    weights = Path(settings.MODELS_ROOT) / version.bundle_path / "fold_1.pt"
    weights.write_bytes(weights.read_bytes() + b"\0")
    with pytest.raises(BundleError, match="fold_1.pt: sha256"):
        services.model_version_load(version=version)
    # An edited model.json (checksums and all) is refused by the registered identity.
    fresh = f"tiny-{uuid.uuid4().hex[:8]}"
    copy = Path(settings.MODELS_ROOT) / fresh
    copy.mkdir()
    with pytest.raises(services.ModelRunError, match="fold_1.pt"):
        install = Path(settings.MODELS_ROOT) / version.bundle_path
        for file in install.iterdir():
            (copy / file.name).write_bytes(file.read_bytes())
        services.model_version_register(bundle_path=fresh, label=fresh, training_cohort=None)
    assert not ModelVersion.objects.filter(label=fresh).exists()


@pytest.fixture
def study_world(tmp_path: Path, make_user, version: ModelVersion) -> dict:
    cohort = cohort_import_folder(write_cohort(tmp_path / "cohort")).cohort
    reader = make_user(Role.READER)
    study = study_services.study_create(
        name=f"AI study {uuid.uuid4().hex[:6]}",
        cohorts=[cohort],
        arms=[
            study_services.ArmSpec("unaided"),
            study_services.ArmSpec("AI-aided", shows_model_output=True),
        ],
    )
    study_services.study_assign_readers(study=study, readers=[reader])
    return {"study": study, "reader": reader, "version": version, "cohort": cohort}


def test_a_study_fixes_its_model_version_once_opened(study_world: dict) -> None:
    study, version = study_world["study"], study_world["version"]
    study = services.study_model_version_set(study=study, version=version)
    study = study_services.study_open(study=study)
    with pytest.raises(ValidationError, match="only a draft"):
        services.study_model_version_set(study=study, version=None)
    # PostgreSQL refuses the change as well, and the version cannot be deleted.
    with pytest.raises(IntegrityError), transaction.atomic():
        type(study).objects.filter(pk=study.pk).update(model_version=None)
    with pytest.raises(ProtectedError):
        version.delete()
    study.refresh_from_db()
    assert study.model_version == version and study.status == StudyStatus.OPEN


def test_readers_see_predictions_only_in_an_opened_ai_aided_arm(study_world: dict, make_user):
    study, version, reader = study_world["study"], study_world["version"], study_world["reader"]
    nodes = [case.node for case in study.cases.all()]
    # Probabilities no page prints by chance.
    for i, node in enumerate(nodes):
        Prediction.objects.create(
            model_version=version,
            node=node,
            p_benign=0.1234567 - i * 1e-6,
            p_metastasis=0.2345678,
            p_ene=0.6419755 + i * 1e-6,
        )
    entries = ReadingOrderEntry.objects.filter(assignment__reader=reader)
    # A draft study, and an open one without a model version: nothing.
    assert all(selectors.prediction_for_reader_item(entry=e) is None for e in entries)
    services.study_model_version_set(study=study, version=version)
    study_services.study_open(study=study)
    shown = {}
    for entry in ReadingOrderEntry.objects.filter(assignment__reader=reader).select_related(
        "arm__study", "case"
    ):
        item = selectors.prediction_for_reader_item(entry=entry)
        if entry.arm.shows_model_output:
            assert item is not None and item["model"] == version.label
            shown[entry.case.node_id] = item["probabilities"]
        else:
            assert item is None
    assert len(shown) == len(nodes)
    assert abs(sum(shown[nodes[0].pk].values()) - 1.0) < 1e-5

    # Every model route and the study pages: 403 for the reader, no probability anywhere.
    client = Client()
    client.force_login(reader)
    node = nodes[0]
    cohort = study_world["cohort"]
    for url, status in [
        ("/models/", 403),
        (f"/models/{version.pk}/", 403),
        (f"/models/{version.pk}/predictions/{cohort.pk}.csv", 403),
        (f"/models/{version.pk}/nodes/{node.pk}/attribution/", 403),
        ("/models/runs/status.json", 403),
        ("/api/v1/models/", 403),
        (f"/api/v1/models/{version.pk}/", 403),
        (f"/api/v1/models/{version.pk}/predictions/", 403),
        (f"/studies/{study.pk}/", 200),
        ("/studies/", 200),
    ]:
        response = client.get(url)
        assert response.status_code == status, url
        assert b"0.123" not in response.content and b"0.641" not in response.content, url
    assert selectors.predictions_for_study(user=reader, study=study) == {}

    # Statisticians and coordinators do see them.
    statistician = make_user(Role.STATISTICIAN)
    assert statistician.has_perm("aimodels.view_prediction")
    study.refresh_from_db()
    assert len(selectors.predictions_for_study(user=statistician, study=study)) == len(nodes)
    client.force_login(statistician)
    api = client.get(f"/api/v1/models/{version.pk}/predictions/?cohort={cohort.pk}").json()
    assert {row["node_id"] for row in api} == {n.pk for n in nodes}


def test_sequential_reading_shows_the_frozen_model_after_the_locked_unaided_call(
    tmp_path: Path, make_user, version: ModelVersion
) -> None:
    """Through the reading API: the unaided item carries no model output; once its call is
    saved, the aided item of the same node shows the study's model version, the unaided read is
    locked, and when the output was first shown is kept on the entry and on the aided read."""
    from readerstudy.studies.models import Read

    cohort = cohort_import_folder(write_cohort(tmp_path / "cohort")).cohort
    reader = make_user(Role.READER)
    study = study_services.study_create(
        name=f"Sequential {uuid.uuid4().hex[:6]}",
        cohorts=[cohort],
        design="sequential",
        arms=[
            study_services.ArmSpec("unaided"),
            study_services.ArmSpec("AI-aided", shows_model_output=True),
        ],
    )
    for case in study.cases.all():
        Prediction.objects.create(
            model_version=version, node=case.node, p_benign=0.2, p_metastasis=0.3, p_ene=0.5
        )
    services.study_model_version_set(study=study, version=version)
    study_services.study_assign_readers(study=study, readers=[reader])
    study_services.study_open(study=study)
    client = Client()
    client.force_login(reader)
    base = f"/api/v1/studies/{study.pk}/arms"

    unaided = client.get(f"{base}/1/items/1").json()
    assert unaided["ai"] is None
    assert unaided["next"] == {"arm": 2, "position": 1}
    saved = client.put(
        f"{base}/1/items/1/read",
        {"call": "benign", "idempotency_key": str(uuid.uuid4()), "active_seconds": 3},
        content_type="application/json",
    )
    assert saved.status_code == 201, saved.content

    aided = client.get(f"{base}/2/items/1").json()
    assert aided["ai"] == {
        "model": version.label,
        "probabilities": {"benign": 0.2, "metastasis": 0.3, "ene": 0.5},
    }
    entry = ReadingOrderEntry.objects.get(assignment__reader=reader, arm__position=2, position=1)
    assert entry.ai_shown_at is not None
    # the unaided call is locked now
    changed = client.put(
        f"{base}/1/items/1/read",
        {"call": "ene", "idempotency_key": str(uuid.uuid4()), "active_seconds": 1},
        content_type="application/json",
    )
    assert changed.status_code == 403
    client.put(
        f"{base}/2/items/1/read",
        {"call": "ene", "idempotency_key": str(uuid.uuid4()), "active_seconds": 2},
        content_type="application/json",
    )
    aided_read = Read.objects.get(reader=reader, arm__position=2)
    assert aided_read.ai_shown_at == entry.ai_shown_at
    assert Read.objects.get(reader=reader, arm__position=1).call == "benign"
