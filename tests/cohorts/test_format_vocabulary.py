"""The importer and the models speak the import format's vocabulary (cohortformat), no copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from cohortformat import folder, vocabulary
from readerstudy.cohorts import manifest, models
from readerstudy.cohorts.errors import CohortImportError

MODEL_CHOICES = {
    "Sex": vocabulary.SEX,
    "PrimarySite": vocabulary.PRIMARY_SITE,
    "TStage": vocabulary.T_STAGE,
    "NStage": vocabulary.N_STAGE,
    "HpvStatus": vocabulary.HPV_STATUS,
    "NeckLevel": vocabulary.NECK_LEVEL,
    "Side": vocabulary.SIDE,
    "NodeCall": vocabulary.REFERENCE,
    "ReferenceSource": vocabulary.REFERENCE_SOURCE,
}


@pytest.mark.parametrize("name", sorted(MODEL_CHOICES))
def test_model_choices_are_the_format_vocabulary(name: str) -> None:
    choices = getattr(models, name)
    words = MODEL_CHOICES[name]
    assert choices.choices == [(t.value, t.label) for t in words.terms]
    assert [m.name for m in choices] == [t.name for t in words.terms]


def test_manifest_uses_the_format_columns() -> None:
    assert manifest.REQUIRED_COLUMNS == folder.REQUIRED_COLUMNS
    assert manifest.OPTIONAL_COLUMNS == folder.OPTIONAL_COLUMNS
    assert (manifest.MANIFEST, manifest.COHORT_JSON) == (folder.MANIFEST, folder.COHORT_JSON)


def _write_manifest(root: Path, rows: list[str]) -> Path:
    header = "patient_id,series,mask,mask_label,node_id,level,side,reference,ene_extent_mm,ene_grade,reference_source,hpv_status"
    (root / "manifest.csv").write_text("\n".join([header, *rows]) + "\n")
    return root


def test_aliases_and_defaults_are_parsed_to_canonical_values(tmp_path: Path) -> None:
    _write_manifest(
        tmp_path,
        [
            "P1,P1/ct,P1/m.npy,1,N1,iia,L,metastasis_with_ene,3.5,3,,",
            "P1,P1/ct,P1/m.npy,2,N2,VI,r,Metastasis_Without_ENE,,,Consensus,",
        ],
    )
    (patient,) = manifest.read_manifest(tmp_path)
    first, second = patient.nodes
    assert (first.level, first.side, first.call, first.reference_source) == (
        "IIA",
        "left",
        "ene",
        "pathology",
    )
    assert (second.side, second.call, second.reference_source) == (
        "right",
        "metastasis",
        "consensus",
    )
    assert patient.hpv_status == "unknown"


def test_ene_fields_on_a_non_ene_row_name_the_reference_value(tmp_path: Path) -> None:
    """The message showed the enum's repr ('NodeCall.METASTASIS'), not the manifest's value."""
    _write_manifest(tmp_path, ["P1,P1/ct,P1/m.npy,1,N1,II,left,metastasis,2.0,,,"])
    with pytest.raises(CohortImportError) as err:
        manifest.read_manifest(tmp_path)
    assert str(err.value) == (
        "manifest.csv, row 2, field 'ene_extent_mm': only allowed when reference is 'ene' "
        "(reference is 'metastasis')"
    )
