"""Reading and validating a cohort folder's cohort.json and manifest.csv (no database access).

The format is documented in docs/import-format.md.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from cohortformat import folder as layout
from cohortformat import vocabulary
from cohortformat.vocabulary import UnknownValue, Vocabulary
from readerstudy.cohorts.errors import CohortImportError
from readerstudy.cohorts.models import NodeCall

# The format's names, re-exported for the import service (defined once in cohortformat).
MANIFEST = layout.MANIFEST
COHORT_JSON = layout.COHORT_JSON
REQUIRED_COLUMNS = layout.REQUIRED_COLUMNS
PATIENT_COLUMNS = layout.PATIENT_COLUMNS
OPTIONAL_COLUMNS = layout.OPTIONAL_COLUMNS


@dataclass(frozen=True)
class CohortInfo:
    name: str
    institution: str
    description: str
    synthetic: bool


@dataclass
class NodeSpec:
    row: int
    node_id: str
    mask: str
    mask_label: int
    level: str
    side: str
    call: str
    ene_extent_mm: float | None
    ene_grade: int | None
    reference_source: str


@dataclass
class PatientSpec:
    patient_id: str
    first_row: int
    series: str
    age: int | None
    sex: str
    primary_site: str
    pt_stage: str
    pn_stage: str
    hpv_status: str
    nodes: list[NodeSpec] = field(default_factory=list)


def read_cohort_info(folder: Path) -> CohortInfo:
    path = folder / COHORT_JSON
    if not path.is_file():
        raise CohortImportError("missing (needs name, institution, description)", file=COHORT_JSON)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CohortImportError(f"not valid JSON: {exc}", file=COHORT_JSON) from exc
    if not isinstance(data, dict):
        raise CohortImportError("must be a JSON object", file=COHORT_JSON)
    for key in layout.COHORT_REQUIRED_KEYS:
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise CohortImportError("a non-empty string is required", file=COHORT_JSON, field=key)
    for key, kind in layout.COHORT_KEYS.items():
        if key in data and not isinstance(data[key], kind):
            expected = "true or false" if kind is bool else "a string"
            raise CohortImportError(f"must be {expected}", file=COHORT_JSON, field=key)
    return CohortInfo(
        name=data["name"].strip(),
        institution=data.get("institution", "").strip(),
        description=data.get("description", "").strip(),
        synthetic=data.get("synthetic", False),
    )


def _choice(value: str, words: Vocabulary, *, row: int, column: str) -> str:
    try:
        return words.parse(value)
    except UnknownValue as exc:
        raise CohortImportError(str(exc), file=MANIFEST, row=row, field=column) from None


def _optional_choice(value: str, words: Vocabulary, *, row: int, column: str) -> str:
    """The canonical value, or the vocabulary's default (or "") for a blank cell."""
    if not value.strip():
        return words.default or ""
    return _choice(value, words, row=row, column=column)


def _optional_float(value: str, *, row: int, column: str) -> float | None:
    if not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise CohortImportError(
            f"expected a non-negative number, got {value!r}", file=MANIFEST, row=row, field=column
        )
    return number


def _optional_int(value: str, *, row: int, column: str, low: int, high: int) -> int | None:
    if not value.strip():
        return None
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise CohortImportError(
            f"expected a whole number from {low} to {high}, got {value!r}",
            file=MANIFEST,
            row=row,
            field=column,
        )
    return number


def _relative_path(folder: Path, value: str, *, row: int, column: str) -> str:
    text = value.strip()
    if not text:
        raise CohortImportError("a path is required", file=MANIFEST, row=row, field=column)
    resolved = (folder / text).resolve()
    if not resolved.is_relative_to(folder.resolve()):
        raise CohortImportError(
            f"path {text!r} leaves the cohort folder", file=MANIFEST, row=row, field=column
        )
    return resolved.relative_to(folder.resolve()).as_posix()


def read_manifest(folder: Path) -> list[PatientSpec]:
    """Parse and validate manifest.csv into patients with their nodes, in manifest order."""
    path = folder / MANIFEST
    if not path.is_file():
        raise CohortImportError("missing", file=MANIFEST)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CohortImportError(f"not UTF-8 text: {exc}", file=MANIFEST) from exc
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip() for c in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise CohortImportError(
            f"missing column(s) {', '.join(missing)}", file=MANIFEST, row=1, field=missing[0]
        )
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise CohortImportError(
            f"unknown column(s) {', '.join(unknown)}", file=MANIFEST, row=1, field=unknown[0]
        )
    if len(set(columns)) != len(columns):
        raise CohortImportError("a column appears twice", file=MANIFEST, row=1)

    patients: dict[str, PatientSpec] = {}
    seen_nodes: dict[tuple[str, str], int] = {}
    seen_labels: dict[tuple[str, str, int], int] = {}
    for row_number, raw in enumerate(reader, start=2):
        if None in raw:
            raise CohortImportError("more values than columns", file=MANIFEST, row=row_number)
        row = {k.strip(): (v or "") for k, v in raw.items()}
        if not any(v.strip() for v in row.values()):
            continue
        for column in REQUIRED_COLUMNS:
            if not row.get(column, "").strip():
                raise CohortImportError(
                    "a value is required", file=MANIFEST, row=row_number, field=column
                )
        patient_id = row["patient_id"].strip()
        node_id = row["node_id"].strip()
        mask_label = _optional_int(
            row["mask_label"], row=row_number, column="mask_label", low=1, high=65535
        )
        call = _choice(row["reference"], vocabulary.REFERENCE, row=row_number, column="reference")
        ene_extent = _optional_float(
            row.get("ene_extent_mm", ""), row=row_number, column="ene_extent_mm"
        )
        ene_grade = _optional_int(
            row.get("ene_grade", ""),
            row=row_number,
            column="ene_grade",
            low=min(vocabulary.ENE_GRADES),
            high=max(vocabulary.ENE_GRADES),
        )
        if call != NodeCall.ENE:
            for column, value in (("ene_extent_mm", ene_extent), ("ene_grade", ene_grade)):
                if value is not None:
                    raise CohortImportError(
                        f"only allowed when reference is 'ene' (reference is {call!r})",
                        file=MANIFEST,
                        row=row_number,
                        field=column,
                    )
        node = NodeSpec(
            row=row_number,
            node_id=node_id,
            mask=_relative_path(folder, row["mask"], row=row_number, column="mask"),
            mask_label=mask_label,
            level=_choice(row["level"], vocabulary.NECK_LEVEL, row=row_number, column="level"),
            side=_choice(row["side"], vocabulary.SIDE, row=row_number, column="side"),
            call=str(call),
            ene_extent_mm=ene_extent,
            ene_grade=ene_grade,
            reference_source=_optional_choice(
                row.get("reference_source", ""),
                vocabulary.REFERENCE_SOURCE,
                row=row_number,
                column="reference_source",
            ),
        )
        patient_values = dict(
            series=_relative_path(folder, row["series"], row=row_number, column="series"),
            age=_optional_int(row.get("age", ""), row=row_number, column="age", low=0, high=130),
            sex=_optional_choice(row.get("sex", ""), vocabulary.SEX, row=row_number, column="sex"),
            primary_site=_optional_choice(
                row.get("primary_site", ""),
                vocabulary.PRIMARY_SITE,
                row=row_number,
                column="primary_site",
            ),
            pt_stage=_optional_choice(
                row.get("pt_stage", ""), vocabulary.T_STAGE, row=row_number, column="pt_stage"
            ),
            pn_stage=_optional_choice(
                row.get("pn_stage", ""), vocabulary.N_STAGE, row=row_number, column="pn_stage"
            ),
            hpv_status=_optional_choice(
                row.get("hpv_status", ""),
                vocabulary.HPV_STATUS,
                row=row_number,
                column="hpv_status",
            ),
        )
        patient = patients.get(patient_id)
        if patient is None:
            patient = PatientSpec(patient_id=patient_id, first_row=row_number, **patient_values)
            patients[patient_id] = patient
        else:
            for column, value in patient_values.items():
                if getattr(patient, column) != value:
                    raise CohortImportError(
                        f"differs from row {patient.first_row} of the same patient "
                        f"({getattr(patient, column)!r} vs {value!r})",
                        file=MANIFEST,
                        row=row_number,
                        field=column,
                    )
        key = (patient_id, node_id)
        if key in seen_nodes:
            raise CohortImportError(
                f"node {node_id!r} of patient {patient_id!r} already listed in row {seen_nodes[key]}",
                file=MANIFEST,
                row=row_number,
                field="node_id",
            )
        seen_nodes[key] = row_number
        label_key = (patient_id, node.mask, mask_label)
        if label_key in seen_labels:
            raise CohortImportError(
                f"mask label {mask_label} of {node.mask} already used in row {seen_labels[label_key]}",
                file=MANIFEST,
                row=row_number,
                field="mask_label",
            )
        seen_labels[label_key] = row_number
        patient.nodes.append(node)
    if not patients:
        raise CohortImportError("no nodes listed", file=MANIFEST)
    series_owner: dict[str, str] = {}
    for patient in patients.values():
        other = series_owner.setdefault(patient.series, patient.patient_id)
        if other != patient.patient_id:
            raise CohortImportError(
                f"series folder {patient.series!r} is also used by patient {other!r}",
                file=MANIFEST,
                row=patient.first_row,
                field="series",
            )
    return list(patients.values())
