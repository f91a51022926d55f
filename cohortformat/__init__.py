"""The cohort import format, defined once: plain Python (numpy, scipy), no Django.

``cohortformat.vocabulary``
    allowed values of the manifest columns (reference standard, neck level, side, sex, primary
    site, T/N stage, HPV status, reference source) with accepted aliases and display labels;
``cohortformat.folder``
    file names, cohort.json keys, manifest columns (required, optional, per patient), mask
    formats;
``cohortformat.measurements``
    short/long-axis diameters and volume of a node mask.

The importer (``readerstudy.cohorts``) and the synthetic generator (``synthetic``) both use it;
the prose specification is docs/import-format.md.
"""

from __future__ import annotations

from .folder import (
    COHORT_JSON,
    COHORT_KEYS,
    COHORT_REQUIRED_KEYS,
    MANIFEST,
    MANIFEST_COLUMNS,
    MASK_FORMATS,
    OPTIONAL_COLUMNS,
    PATIENT_COLUMNS,
    REQUIRED_COLUMNS,
    MaskFormat,
    mask_format_of,
)
from .vocabulary import (
    ENE_GRADES,
    ENE_MICRO_MAX_MM,
    HPV_STATUS,
    N_STAGE,
    NECK_LEVEL,
    PRIMARY_SITE,
    REFERENCE,
    REFERENCE_SOURCE,
    SEX,
    SIDE,
    T_STAGE,
    Term,
    UnknownValue,
    Vocabulary,
)

__all__ = [
    "COHORT_JSON",
    "COHORT_KEYS",
    "COHORT_REQUIRED_KEYS",
    "ENE_GRADES",
    "ENE_MICRO_MAX_MM",
    "HPV_STATUS",
    "MANIFEST",
    "MANIFEST_COLUMNS",
    "MASK_FORMATS",
    "NECK_LEVEL",
    "N_STAGE",
    "OPTIONAL_COLUMNS",
    "PATIENT_COLUMNS",
    "PRIMARY_SITE",
    "REFERENCE",
    "REFERENCE_SOURCE",
    "REQUIRED_COLUMNS",
    "SEX",
    "SIDE",
    "T_STAGE",
    "MaskFormat",
    "Term",
    "UnknownValue",
    "Vocabulary",
    "mask_format_of",
]
