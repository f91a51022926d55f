"""Generated cohorts shared by the generator tests (tests/synthetic) and the import round trip
(tests/cohorts/test_synthetic_import.py): each is written once per test session, under the
session's base temporary folder, whichever test asks first.

Small on purpose: the generator costs about half a second per patient (internal profile; a
third of that for the thicker-sliced external one) on the project's 2-core machine, so every
extra patient is felt in the suite's time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthetic import generate_cohort

#: name -> generate_cohort arguments.
COHORTS: dict[str, dict[str, Any]] = {
    # default prevalence, NIfTI masks, with the .truth side files
    "int2": dict(n_patients=2, seed=101, profile="internal"),
    "ext1": dict(n_patients=1, seed=202, profile="external"),
    # the same external patient with the other two mask formats
    "ext1-seg": dict(n_patients=1, seed=202, profile="external", mask_format="seg", truth=False),
    "ext1-npy": dict(n_patients=1, seed=202, profile="external", mask_format="npy", truth=False),
}


def synthetic_cohort(base: Path, name: str, **overrides: Any) -> Path:
    """The folder of cohort ``name`` (from COHORTS, or ``overrides`` for a new name), generated
    on first use below ``base``."""
    if name in COHORTS and overrides:
        raise ValueError(f"{name!r} is a shared cohort; give other arguments another name")
    out = base / "synthetic-cohorts" / name
    if not (out / "manifest.csv").is_file():
        generate_cohort(out, **(COHORTS.get(name) or overrides))
    return out
