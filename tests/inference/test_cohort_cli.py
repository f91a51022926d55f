"""The cohort reader and the command line, on a two-patient synthetic cohort."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from inference.cli import main
from inference.cohort import CohortError, read_cohort
from synthetic import generate_cohort
from synthetic.dicom_io import read_mask as synthetic_read_mask
from synthetic.dicom_io import read_series as synthetic_read_series


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cohort") / "syn"
    # ENE-rich mix so that two patients hold every class
    generate_cohort(out, n_patients=2, seed=11, prevalence="40,30,30", truth=False)
    return out


def test_reader_matches_the_generator_geometry(cohort_dir):
    cohort = read_cohort(cohort_dir)
    assert len(cohort.patients) == 2 and cohort.n_nodes >= 2
    case = next(cohort.cases())
    series_dir, mask_path, _ = cohort.patients[case.patient_id]
    ref = synthetic_read_series(series_dir)
    assert np.array_equal(case.volume, ref.hu)
    assert np.array_equal(case.labels, synthetic_read_mask(mask_path, ref))
    assert case.spacing == (ref.slice_spacing, *ref.pixel_spacing)


def test_reader_names_row_and_column(tmp_path, cohort_dir):
    text = (cohort_dir / "manifest.csv").read_text().splitlines()
    header = text[0].split(",")
    bad = text[1].split(",")
    bad[header.index("reference")] = "maybe"
    (tmp_path / "manifest.csv").write_text("\n".join([text[0], ",".join(bad)]) + "\n")
    with pytest.raises(CohortError, match=r"row 2: reference: unknown value 'maybe'"):
        read_cohort(tmp_path)


def test_cli_train_and_predict_fusion(tmp_path, cohort_dir, capsys):
    model = tmp_path / "fusion"
    rc = main(
        ["train", "--cohort", str(cohort_dir), "--kind", "fusion", "--folds", "2", "--seed", "1",
         "--out", str(model), "--epochs", "1", "--grid", "16", "--width", "4", "--device", "cpu"]
    )  # fmt: skip
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["kind"] == "fusion" and summary["nodes"] == read_cohort(cohort_dir).n_nodes
    preds = tmp_path / "preds.csv"
    assert (
        main(["predict", "--model", str(model), "--cohort", str(cohort_dir), "--out", str(preds)])
        == 0
    )
    rows = list(csv.DictReader(preds.open()))
    assert len(rows) == summary["nodes"]
    p = np.array([[float(r[f"p_{c}"]) for c in ("benign", "metastasis", "ene")] for r in rows])
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    # a model folder that is not one: a clear error, exit status 1
    assert (
        main(
            ["predict", "--model", str(tmp_path), "--cohort", str(cohort_dir), "--out", str(preds)]
        )
        == 1
    )
    assert "model.json: missing" in capsys.readouterr().err
