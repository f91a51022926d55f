"""The reference data in ``tests/data/reference`` are complete and unaltered.

Every data set ``expected.json`` lists must be in the repository with the md5 sum recorded there
(the values were computed on exactly those bytes), and the README must name each file's source.
"""

from __future__ import annotations

import hashlib

import pytest

from analysis.agreement import fleiss_kappa_from_ratings


def test_every_dataset_is_present_with_its_recorded_md5(reference, reference_file):
    datasets = reference.raw["datasets"]
    assert datasets, "expected.json lists no data sets"
    for name, meta in datasets.items():
        digest = hashlib.md5(reference_file(name).read_bytes()).hexdigest()  # noqa: S324
        assert digest == meta["md5"], f"{name}: md5 {digest}, expected.json says {meta['md5']}"


def test_every_case_names_a_dataset_in_the_repository(reference):
    for case_id, case in reference.cases.items():
        if case["dataset"] != "inline":
            assert (reference.directory / case["dataset"]).is_file(), case_id


def test_readme_names_every_file(reference):
    readme = (reference.directory / "README.md").read_text(encoding="utf-8")
    for path in sorted(reference.directory.iterdir()):
        if path.name != "README.md":
            assert f"`{path.name}`" in readme, f"README.md does not describe {path.name}"


def test_fleiss_wikipedia_long_layout_gives_the_counts_table_kappa(reference, reference_frame):
    # fleiss.wikipedia_example alt_inputs: the 10 x 14 long layout of the statsmodels/Wikipedia
    # table; rater identity is arbitrary, so only the Fleiss kappa (not Conger's) is compared.
    long = reference_frame("fleiss_wikipedia_long.csv").rename(
        columns={"subject": "case", "rater": "reader", "category_code": "call"}
    )
    result = fleiss_kappa_from_ratings(long)
    reference.assert_close("fleiss.wikipedia_example", "kappa", result.kappa)


def test_missing_reference_file_is_a_failure_not_a_skip(reference_file):
    with pytest.raises(pytest.fail.Exception, match="missing from the repository"):
        reference_file("no-such-file.csv")
