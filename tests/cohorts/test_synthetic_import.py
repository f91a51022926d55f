"""The synthetic generator's folders import as they are, with every mask format."""

from __future__ import annotations

from pathlib import Path

import pytest

from readerstudy.cohorts.models import Cohort, Node
from readerstudy.cohorts.services import cohort_import_folder
from synthetic import generate_cohort

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.mark.parametrize("mask_format", ["nifti", "seg", "npy"])
def test_generated_cohort_imports(tmp_path: Path, mask_format: str) -> None:
    out = tmp_path / "cohort"
    generate_cohort(out, n_patients=2, seed=11, profile="external", mask_format=mask_format)
    result = cohort_import_folder(out)
    cohort = Cohort.objects.get()
    assert result.created and cohort.is_synthetic
    manifest_rows = (out / "manifest.csv").read_text().strip().splitlines()[1:]
    assert result.nodes == Node.objects.count() == len(manifest_rows)
    for node in Node.objects.select_related("reference"):
        assert node.voxel_count > 0 and node.short_axis_mm > 0
        assert node.short_axis_mm <= node.long_axis_mm + 1e-6
