"""Model tests: bundles below the test's media folder, one torch thread, tiny networks.

``TINY`` is the training configuration of every model trained here: small crops and network,
few epochs (the suite's time budget); ``tiny_deep_bundle`` is one such deep bundle trained once
per session with the ``inference`` package directly, for tests that need a registered version
but test something else than training.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from tests.synthetic_cohorts import shared_base, synthetic_cohort

TINY = {
    "grid": 16,
    "fov_mm": 40.0,
    "margin_mm": 2.0,
    "width": 4,
    "depth": 2,
    "hidden": 16,
    "dropout": 0.0,
    "epochs": 8,
    "patience": 4,
    "batch_size": 16,
    "lr": 5e-3,
}


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _models_root(_media_root: Path, settings) -> Path:
    settings.MODELS_ROOT = Path(settings.MEDIA_ROOT) / "models"
    settings.MODEL_TORCH_THREADS = 1
    return settings.MODELS_ROOT


@pytest.fixture(scope="session")
def tiny_deep_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deep bundle (2 folds, 2 epochs) trained on the shared "stats-internal" cohort."""
    from inference.bundle import save_deep
    from inference.cohort import read_cohort
    from inference.crops import CropParams
    from inference.dataset import build_node_set
    from inference.network import NetworkParams
    from inference.training import TrainParams, train_deep_cv

    folder = synthetic_cohort(shared_base(tmp_path_factory), "stats-internal")
    cohort = read_cohort(folder)
    crops = CropParams(grid=16, fov_mm=40.0, margin_mm=2.0)
    nodes = build_node_set(cohort.cases(), crop_params=crops, radiomics=False)
    params = TrainParams(max_epochs=2, batch_size=16)
    result = train_deep_cv(
        nodes.crops,
        nodes.labels,
        nodes.patients,
        n_folds=2,
        seed=3,
        net_params=NetworkParams(in_channels=crops.channels, width=4, depth=2, hidden=16),
        train_params=params,
        device=torch.device("cpu"),
    )
    out = tmp_path_factory.mktemp("tiny-bundle") / "bundle"
    save_deep(out, result, nodes, crop_params=crops, train_params=params, seed=3)
    return out


def install_bundle(source: Path, models_root: Path, name: str) -> str:
    """Copy a bundle folder below MODELS_ROOT; returns its path relative to it."""
    target = Path(models_root) / name
    shutil.copytree(source, target)
    return name
