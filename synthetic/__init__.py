"""Synthetic contrast-enhanced neck CT cohorts for the reader study.

Plain Python (numpy, scipy, pydicom, highdicom, nibabel); no Django.  The
public entry point is :func:`generate_cohort`, also available as
``python -m synthetic OUT --patients N --seed S`` and as the
``make_synthetic_cohort`` management command.  ``synthetic.realism``
measures the written files (HU per tissue, node sizes, a baseline ENE
classifier) and draws a montage.
"""

from __future__ import annotations

__version__ = "1.0"
#: How generated files name their maker (DICOM comments, cohort.json description).
GENERATOR_NAME = "ReaderStudy synthetic generator"

from .generator import CohortResult, generate_cohort  # noqa: E402
from .profiles import PROFILES, get_profile, parse_prevalence  # noqa: E402

__all__ = [
    "PROFILES",
    "CohortResult",
    "__version__",
    "generate_cohort",
    "get_profile",
    "parse_prevalence",
]
