"""The synthetic generator's folders import as they are, with every mask format."""

from __future__ import annotations

import json

import pytest

from readerstudy.cohorts.manifest import read_cohort_info
from readerstudy.cohorts.models import Cohort, Node
from readerstudy.cohorts.services import cohort_import_folder
from tests.synthetic_cohorts import shared_base, synthetic_cohort

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

#: The same external patient written with each mask format (shared with tests/synthetic).
COHORT_OF_FORMAT = {"nifti": "ext1", "seg": "ext1-seg", "npy": "ext1-npy"}


@pytest.mark.parametrize("mask_format", sorted(COHORT_OF_FORMAT))
def test_generated_cohort_imports(
    tmp_path_factory: pytest.TempPathFactory, mask_format: str
) -> None:
    out = synthetic_cohort(shared_base(tmp_path_factory), COHORT_OF_FORMAT[mask_format])
    # generated data is flagged by cohort.json's "synthetic" key, not only by DICOM free text
    assert json.loads((out / "cohort.json").read_text())["synthetic"] is True
    assert read_cohort_info(out).synthetic
    result = cohort_import_folder(out)
    cohort = Cohort.objects.get()
    assert result.created and cohort.is_synthetic
    manifest_rows = (out / "manifest.csv").read_text().strip().splitlines()[1:]
    assert result.nodes == Node.objects.count() == len(manifest_rows)
    for node in Node.objects.select_related("reference"):
        assert node.voxel_count > 0 and node.short_axis_mm > 0
        assert node.short_axis_mm <= node.long_axis_mm + 1e-6
