"""The written folder: import format, DICOM validity, mask alignment, determinism."""

from __future__ import annotations

import csv
import filecmp
import io
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from cohortformat import folder, vocabulary
from synthetic import generate_cohort
from synthetic.dicom_io import load_npy_gz, read_mask, read_series


def _manifest(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _tree(out: Path) -> list[Path]:
    return sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())


def test_cohort_json_and_manifest(small_internal: Path) -> None:
    meta = json.loads((small_internal / "cohort.json").read_text(encoding="utf-8"))
    assert meta["name"] and meta["institution"]
    assert "synthetic" in meta["description"].lower()
    # the key the importer reads to flag generated data (not only the free-text description)
    assert meta["synthetic"] is True
    assert all(isinstance(meta[k], kind) for k, kind in folder.COHORT_KEYS.items())
    rows = _manifest(small_internal)
    assert tuple(rows[0]) == folder.MANIFEST_COLUMNS
    patients: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        patients.setdefault(r["patient_id"], []).append(r)
        assert (small_internal / r["series"]).is_dir()
        assert (small_internal / r["mask"]).is_file()
        # canonical values of the import format (cohortformat), not merely accepted aliases
        assert r["level"] in vocabulary.NECK_LEVEL and r["side"] in vocabulary.SIDE
        assert r["reference"] in vocabulary.REFERENCE
        assert (r["ene_grade"] != "") == (r["reference"] == "ene") == (r["ene_extent_mm"] != "")
        assert r["pt_stage"] in vocabulary.T_STAGE and r["pn_stage"] in vocabulary.N_STAGE
        assert r["sex"] in vocabulary.SEX and r["primary_site"] in ("larynx", "hypopharynx")
        assert r["hpv_status"] in vocabulary.HPV_STATUS
        assert r["reference_source"] in vocabulary.REFERENCE_SOURCE
    assert len(patients) == 2
    patient_cols = folder.PATIENT_COLUMNS
    for prow in patients.values():
        k = len(prow)
        assert [r["node_id"] for r in prow] == [f"N{i}" for i in range(1, k + 1)]
        assert sorted(int(r["mask_label"]) for r in prow) == list(range(1, k + 1))
        assert all(all(r[c] == prow[0][c] for c in patient_cols) for r in prow)
        malignant = any(r["reference"] != "benign" for r in prow)
        assert (prow[0]["pn_stage"] != "N0") == malignant
        if any(r["reference"] == "ene" for r in prow):
            assert prow[0]["pn_stage"] in ("N2a", "N3b")


def test_truth_side_files_live_in_a_dot_folder(small_internal: Path) -> None:
    top = {p.name for p in small_internal.iterdir()}
    rows = _manifest(small_internal)
    named = {r["patient_id"] for r in rows} | {"cohort.json", "manifest.csv"}
    assert top - named == {".truth"}
    tissue = load_npy_gz(small_internal / ".truth" / f"{rows[0]['patient_id']}_tissue.npy.gz")
    series = read_series(small_internal / rows[0]["series"])
    assert tissue.shape == series.hu.shape


@pytest.mark.parametrize("fixture", ["small_internal", "small_external"])
def test_dicom_series_are_valid_ct(fixture: str, request: pytest.FixtureRequest) -> None:
    out: Path = request.getfixturevalue(fixture)
    rows = _manifest(out)
    studies, series_uids, sops = set(), set(), set()
    for series_dir in sorted({r["series"] for r in rows}):
        files = sorted((out / series_dir).iterdir())
        assert 40 <= len(files) <= 80
        dss = [pydicom.dcmread(f) for f in files]
        first = dss[0]
        for ds in dss:
            assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
            assert ds.SOPClassUID == pydicom.uid.CTImageStorage and ds.Modality == "CT"
            assert ds.SeriesInstanceUID == first.SeriesInstanceUID
            assert ds.StudyInstanceUID == first.StudyInstanceUID
            assert ds.FrameOfReferenceUID == first.FrameOfReferenceUID
            assert (ds.Rows, ds.Columns) == (first.Rows, first.Columns)
            assert list(ds.PixelSpacing) == list(first.PixelSpacing)
            assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
            assert float(ds.RescaleSlope) == 1 and float(ds.RescaleIntercept) == -1024
            for kw in (
                "SliceThickness",
                "KVP",
                "ConvolutionKernel",
                "Manufacturer",
                "ContrastBolusAgent",
                "WindowCenter",
                "WindowWidth",
                "PatientName",
                "PatientID",
                "PatientBirthDate",
                "InstitutionName",
                "ReferringPhysicianName",
                "AccessionNumber",
                "StudyDate",
            ):
                assert kw in ds, kw
            assert "SYNTHETIC" in str(ds.PatientName) and "SYNTHETIC" in ds.ImageComments
            assert "SYNTHETIC" in ds.SeriesDescription
            sops.add(ds.SOPInstanceUID)
        assert 0.5 <= float(first.PixelSpacing[0]) <= 0.8
        assert 3.0 <= float(first.SliceThickness) <= 5.0
        z = np.sort([float(d.ImagePositionPatient[2]) for d in dss])
        steps = np.diff(z)
        assert (
            np.allclose(steps, steps[0], atol=1e-3)
            and abs(steps[0] - float(first.SliceThickness)) < 1e-3
        )
        studies.add(first.StudyInstanceUID)
        series_uids.add(first.SeriesInstanceUID)
        hu = first.pixel_array.astype(float) + float(first.RescaleIntercept)
        assert hu[0, 0] < -900  # air in the corner of the field of view
    assert len(studies) == len(series_uids) == len({r["patient_id"] for r in rows})
    assert len(sops) == sum(len(list((out / s).iterdir())) for s in {r["series"] for r in rows})


def test_fast_writer_matches_pydicom(small_internal: Path) -> None:
    f = sorted((small_internal / _manifest(small_internal)[0]["series"]).iterdir())[7]
    buf = io.BytesIO()
    pydicom.dcmread(f).save_as(buf, enforce_file_format=True)
    assert buf.getvalue() == f.read_bytes()


@pytest.mark.parametrize("fmt", ["nifti", "npy", "seg"])
def test_masks_align_with_series(fmt: str, cohorts, small_external: Path) -> None:
    """Every mask format gives the same label map, on the series grid, one label per node."""
    ref = small_external  # the same patient with NIfTI masks
    out = ref if fmt == "nifti" else cohorts(f"ext1-{fmt}")
    rows = _manifest(out)
    for pid in sorted({r["patient_id"] for r in rows}):
        prow = [r for r in rows if r["patient_id"] == pid]
        series = read_series(out / prow[0]["series"])
        labels = read_mask(out / prow[0]["mask"], series)
        assert labels.shape == series.hu.shape
        assert set(np.unique(labels)) == {0} | {int(r["mask_label"]) for r in prow}
        for r in prow:
            m = labels == int(r["mask_label"])
            assert m.sum() > 0
            assert series.hu[m].mean() > -60  # the mask covers soft tissue, not fat or air
        ref_row = next(r for r in _manifest(ref) if r["patient_id"] == pid)
        ref_series = read_series(ref / ref_row["series"])
        assert np.array_equal(read_mask(ref / ref_row["mask"], ref_series), labels)
        if fmt == "nifti":
            import nibabel as nib

            img = nib.load(str(out / prow[0]["mask"]))
            ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ series.affine_lps()
            assert np.allclose(img.affine, ras, atol=0.01)
        if fmt == "seg":
            seg = pydicom.dcmread(out / prow[0]["mask"])
            assert (
                seg.Modality == "SEG"
                and seg.FrameOfReferenceUID == series.headers[0].FrameOfReferenceUID
            )
            assert len(seg.SegmentSequence) == len(prow)


def test_same_seed_same_bytes_any_worker_count(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_cohort(a, 2, seed=5, profile="external", mask_format="seg", truth=False)
    generate_cohort(b, 2, seed=5, profile="external", mask_format="seg", truth=False, workers=2)
    generate_cohort(c, 1, seed=6, profile="external", mask_format="seg", truth=False)
    assert _tree(a) == _tree(b)
    for rel in _tree(a):
        assert filecmp.cmp(a / rel, b / rel, shallow=False), rel
    assert (a / "manifest.csv").read_bytes() != (c / "manifest.csv").read_bytes()
    f = _tree(a)[5]
    assert (a / f).read_bytes() != (c / f).read_bytes()
    uid_a = pydicom.dcmread(next((a / "SYN-EXT-0001" / "ct").iterdir())).StudyInstanceUID
    uid_c = pydicom.dcmread(next((c / "SYN-EXT-0001" / "ct").iterdir())).StudyInstanceUID
    assert uid_a != uid_c


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        generate_cohort(tmp_path / "x", 1, seed=1, force=True)
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"
    with pytest.raises(ValueError):
        generate_cohort(tmp_path / "y", 1, seed=1, mask_format="png")
    assert not (tmp_path / "y").exists()
