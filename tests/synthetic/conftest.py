"""Fixtures of the synthetic-cohort tests: small cohorts generated once per session.

These tests are plain Python: the Django fixtures that tests/conftest.py applies to every
test are replaced by no-ops here, so ``pytest -p no:django tests/synthetic`` works too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synthetic import generate_cohort


@pytest.fixture(autouse=True)
def _media_root() -> None:
    """No media storage needed: override the project's Django fixture."""


@pytest.fixture(autouse=True)
def _plain_http_and_static() -> None:
    """No HTTP settings needed: override the project's Django fixture."""


@pytest.fixture(scope="session")
def cohorts(tmp_path_factory: pytest.TempPathFactory):
    """Factory of cached small cohorts: cohorts(name, **generate_cohort kwargs) -> folder."""
    cache: dict[str, Path] = {}

    def make(name: str, **kwargs) -> Path:
        if name not in cache:
            out = tmp_path_factory.mktemp("syn") / name
            generate_cohort(out, **kwargs)
            cache[name] = out
        return cache[name]

    return make


@pytest.fixture(scope="session")
def small_internal(cohorts) -> Path:
    """3 internal patients, NIfTI masks."""
    return cohorts("int3", n_patients=3, seed=101, profile="internal")


@pytest.fixture(scope="session")
def small_external(cohorts) -> Path:
    """2 external patients, NIfTI masks."""
    return cohorts("ext2", n_patients=2, seed=202, profile="external")
