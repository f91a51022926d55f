"""Fixtures of the synthetic-cohort tests: small cohorts generated once per session.

These tests are plain Python: the Django fixtures that tests/conftest.py applies to every
test are replaced by no-ops here, so ``pytest -p no:django tests/synthetic`` works too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from synthetic import realism
from tests.synthetic_cohorts import shared_base, synthetic_cohort


@pytest.fixture(autouse=True)
def _media_root() -> None:
    """No media storage needed: override the project's Django fixture."""


@pytest.fixture(autouse=True)
def _test_settings() -> None:
    """No HTTP settings needed: override the project's Django fixture."""


@pytest.fixture(autouse=True)
def _import_work_dir() -> None:
    """No imports here: override the project's Django fixture."""


@pytest.fixture(scope="session")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """cohorts(name, **generate_cohort kwargs) -> folder, generated once per session
    (the shared ones of tests/synthetic_cohorts.py by name alone)."""
    base = shared_base(tmp_path_factory)

    def make(name: str, **kwargs) -> Path:
        return synthetic_cohort(base, name, **kwargs)

    return make


@pytest.fixture(scope="session")
def small_internal(cohorts) -> Path:
    """2 internal patients, NIfTI masks, with .truth."""
    return cohorts("int2")


@pytest.fixture(scope="session")
def small_external(cohorts) -> Path:
    """1 external patient, NIfTI masks, with .truth."""
    return cohorts("ext1")


@pytest.fixture(scope="session")
def small_reports(small_internal: Path, small_external: Path) -> dict[str, dict]:
    """The realism report of each small cohort, measured once."""
    return {
        "internal": realism.analyse_cohort(small_internal),
        "external": realism.analyse_cohort(small_external),
    }
