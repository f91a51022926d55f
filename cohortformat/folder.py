"""The files of a cohort folder: names, ``cohort.json`` keys, manifest columns, mask formats.

See docs/import-format.md for the prose; this module is what the importer and the generator
both read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

__all__ = [
    "COHORT_JSON",
    "COHORT_KEYS",
    "COHORT_REQUIRED_KEYS",
    "MANIFEST",
    "MANIFEST_COLUMNS",
    "MASK_FORMATS",
    "OPTIONAL_COLUMNS",
    "PATIENT_COLUMNS",
    "REQUIRED_COLUMNS",
    "MaskFormat",
    "mask_format_of",
]

COHORT_JSON = "cohort.json"
MANIFEST = "manifest.csv"

#: Keys of cohort.json and their JSON type; ``name`` is required, the others optional.
#: ``synthetic`` (true/false) marks generated data.
COHORT_KEYS: dict[str, type] = {
    "name": str,
    "institution": str,
    "description": str,
    "synthetic": bool,
}
COHORT_REQUIRED_KEYS: tuple[str, ...] = ("name",)

#: Columns every manifest row must fill.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "series",
    "mask",
    "mask_label",
    "node_id",
    "level",
    "side",
    "reference",
)
#: Columns that may be absent or blank.
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "ene_extent_mm",
    "ene_grade",
    "reference_source",
    "age",
    "sex",
    "primary_site",
    "pt_stage",
    "pn_stage",
    "hpv_status",
)
#: Every column, in the order the generator writes them.
MANIFEST_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
#: Columns describing the patient (or its series): repeated on, and equal across, its rows.
PATIENT_COLUMNS: tuple[str, ...] = (
    "series",
    "age",
    "sex",
    "primary_site",
    "pt_stage",
    "pn_stage",
    "hpv_status",
)


@dataclass(frozen=True)
class MaskFormat:
    """One way of storing a patient's node masks."""

    name: str
    #: file name the generator writes (the importer accepts any name with a matching suffix)
    default_file: str
    #: accepted file name endings, lower case
    suffixes: tuple[str, ...]
    description: str


MASK_FORMATS: dict[str, MaskFormat] = {
    f.name: f
    for f in (
        MaskFormat(
            "nifti", "nodes.nii.gz", (".nii", ".nii.gz"), "NIfTI label map (affine = series)"
        ),
        MaskFormat("npy", "nodes.npy", (".npy",), "NumPy label map (slice, row, column)"),
        MaskFormat("seg", "nodes_seg.dcm", (".dcm",), "DICOM SEG, one segment per node"),
    )
}


def mask_format_of(path: str | PurePath) -> MaskFormat | None:
    """The mask format a file name announces by its ending (case-insensitive), or None."""
    name = PurePath(path).name.lower()
    for fmt in MASK_FORMATS.values():
        if any(name.endswith(suffix) for suffix in fmt.suffixes):
            return fmt
    return None
