"""The import-format package is plain Python: the project's Django fixtures become no-ops here,
so ``pytest -p no:django tests/cohortformat`` works too."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _media_root() -> None:
    """No media storage needed: override the project's Django fixture."""


@pytest.fixture(autouse=True)
def _test_settings() -> None:
    """No HTTP settings needed: override the project's Django fixture."""


@pytest.fixture(autouse=True)
def _import_work_dir() -> None:
    """No imports here: override the project's Django fixture."""
