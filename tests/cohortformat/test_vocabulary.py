"""The import format's vocabularies, columns and mask formats."""

from __future__ import annotations

import pytest

from cohortformat import folder, vocabulary
from cohortformat.vocabulary import Term, UnknownValue, Vocabulary

ALL = (
    vocabulary.REFERENCE,
    vocabulary.NECK_LEVEL,
    vocabulary.SIDE,
    vocabulary.SEX,
    vocabulary.PRIMARY_SITE,
    vocabulary.T_STAGE,
    vocabulary.N_STAGE,
    vocabulary.HPV_STATUS,
    vocabulary.REFERENCE_SOURCE,
)


def test_reference_values_and_aliases() -> None:
    ref = vocabulary.REFERENCE
    assert ref.values == ("benign", "metastasis", "ene")
    assert ref.parse(" Metastasis_With_ENE ") == "ene"
    assert ref.parse("metastasis_without_ene") == "metastasis"
    assert ref.parse("BENIGN") == "benign"
    with pytest.raises(UnknownValue) as err:
        ref.parse("probably")
    assert str(err.value) == (
        "unknown value 'probably' (expected one of: benign, ene, metastasis, "
        "metastasis_with_ene, metastasis_without_ene)"
    )


def test_every_vocabulary_parses_its_own_values_and_labels_are_set() -> None:
    for words in ALL:
        assert words.column in folder.MANIFEST_COLUMNS
        for term in words:
            assert term.name.isidentifier() and term.label
            assert words.parse(term.value) == term.value
            assert words.parse(term.value.swapcase()) == term.value
        for alias, target in words.aliases.items():
            assert words.parse(alias) == target


def test_levels_sides_stages_and_defaults() -> None:
    assert vocabulary.NECK_LEVEL.parse("iib") == "IIB"
    assert "VII" not in vocabulary.NECK_LEVEL
    assert vocabulary.SIDE.parse("R") == "right"
    assert vocabulary.T_STAGE.parse("t4A") == "T4a"
    assert vocabulary.N_STAGE.parse("n3b") == "N3b"
    assert vocabulary.HPV_STATUS.default == "unknown"
    assert vocabulary.REFERENCE_SOURCE.default == "pathology"
    assert vocabulary.ENE_GRADES == (1, 2, 3, 4)


def test_a_vocabulary_refuses_inconsistent_definitions() -> None:
    term = Term("A", "a", "A")
    with pytest.raises(ValueError, match="duplicate"):
        Vocabulary("x", (term, Term("B", "A", "B")))
    with pytest.raises(ValueError, match="unknown 'b'"):
        Vocabulary("x", (term,), aliases={"z": "b"})
    with pytest.raises(ValueError, match="shadows"):
        Vocabulary("x", (term,), aliases={"A": "a"})
    with pytest.raises(ValueError, match="default"):
        Vocabulary("x", (term,), default="b")


def test_manifest_columns() -> None:
    assert set(folder.REQUIRED_COLUMNS).isdisjoint(folder.OPTIONAL_COLUMNS)
    assert folder.MANIFEST_COLUMNS == folder.REQUIRED_COLUMNS + folder.OPTIONAL_COLUMNS
    assert set(folder.PATIENT_COLUMNS) <= set(folder.MANIFEST_COLUMNS)
    assert folder.COHORT_REQUIRED_KEYS == ("name",) and folder.COHORT_KEYS["synthetic"] is bool


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("p1/nodes.nii.gz", "nifti"),
        ("p1/NODES.NII", "nifti"),
        ("p1/labels.v2.npy", "npy"),
        ("p1/nodes_seg.dcm", "seg"),
        ("p1/nodes.png", None),
        ("p1/nodes.gz", None),
    ],
)
def test_mask_format_by_file_ending(name: str, fmt: str | None) -> None:
    found = folder.mask_format_of(name)
    assert (found.name if found else None) == fmt
    for mask_format in folder.MASK_FORMATS.values():
        assert folder.mask_format_of(mask_format.default_file) is mask_format
