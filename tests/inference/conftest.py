"""Tests of the Django-free ``inference`` package: one thread, tiny phantoms and networks.

The project's Django fixtures become no-ops here, so ``pytest -p no:django tests/inference`` works.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> None:
    # the machine is shared: keep every test on one core
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _media_root() -> None:
    """No media storage needed: override the project's Django fixture."""


@pytest.fixture(autouse=True)
def _test_settings() -> None:
    """No Django settings needed: override the project's Django fixture."""


@pytest.fixture(autouse=True)
def _import_work_dir() -> None:
    """No imports here: override the project's Django fixture."""
