"""Generated cohorts shared by the generator tests (tests/synthetic), the import round trip
(tests/cohorts/test_synthetic_import.py) and the model tests (tests/inference): each is written
once per test run, whichever test of whichever test process asks first (the others wait for it).

Small on purpose: the generator costs about half a second per patient (internal profile; a
third of that for the thicker-sliced external one) on the project's 2-core machine, so every
extra patient is felt in the suite's time.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from synthetic import generate_cohort

#: name -> generate_cohort arguments.
COHORTS: dict[str, dict[str, Any]] = {
    # default prevalence, NIfTI masks, with the .truth side files
    "int2": dict(n_patients=2, seed=101, profile="internal"),
    "ext1": dict(n_patients=1, seed=202, profile="external"),
    # the same external patient with the other two mask formats
    "ext1-seg": dict(n_patients=1, seed=202, profile="external", mask_format="seg", truth=False),
    "ext1-npy": dict(n_patients=1, seed=202, profile="external", mask_format="npy", truth=False),
    # an even class mix, for statistics of node sizes (tests/synthetic) and for training models
    # that must beat chance on held-out patients (tests/inference)
    "stats-internal": dict(
        n_patients=8,
        seed=2024,
        profile="internal",
        prevalence=(0.34, 0.33, 0.33),
        truth=False,
        workers=2,  # the same bytes as one process; uses the machine's second core
    ),
    "stats-external": dict(
        n_patients=6,
        seed=2024,
        profile="external",
        prevalence=(0.34, 0.33, 0.33),
        truth=False,
        workers=2,
    ),
}


def shared_base(factory: pytest.TempPathFactory) -> Path:
    """The run's temporary folder, shared by all its test processes (under pytest-xdist each
    process has its own ``popen-gwN`` folder below it)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def synthetic_cohort(base: Path, name: str, **overrides: Any) -> Path:
    """The folder of cohort ``name`` (from COHORTS, or ``overrides`` for a new name), generated
    on first use below ``base``."""
    if name in COHORTS and overrides:
        raise ValueError(f"{name!r} is a shared cohort; give other arguments another name")
    out = base / "synthetic-cohorts" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test process may be writing it
        if not (out / "manifest.csv").is_file():
            partial = out.parent / f"{name}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            generate_cohort(partial, **(COHORTS.get(name) or overrides))
            partial.rename(out)  # complete or absent, never half-written
    return out
