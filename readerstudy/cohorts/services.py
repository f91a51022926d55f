"""Writes for cohorts: importing a cohort folder or an uploaded archive, atomically."""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from readerstudy.accounts.models import User
from readerstudy.cohorts.deidentify import BASIC_PROFILE, deidentify_dataset
from readerstudy.cohorts.dicom_series import CTVolumeHeader, read_ct_series
from readerstudy.cohorts.errors import CohortImportError
from readerstudy.cohorts.manifest import (
    COHORT_JSON,
    MANIFEST,
    PatientSpec,
    read_cohort_info,
    read_manifest,
)
from readerstudy.cohorts.masks import load_label_map
from readerstudy.cohorts.measurements import measure_node
from readerstudy.cohorts.models import (
    Cohort,
    CTSeries,
    CTSlice,
    ImportJob,
    JobStatus,
    Node,
    Patient,
    PatientIdentity,
    ReferenceStandard,
)

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[float, str], None]


@dataclass(frozen=True)
class CohortImportResult:
    cohort: Cohort
    created: bool
    patients: int
    nodes: int
    slices: int


def _no_progress(fraction: float, stage: str) -> None:
    return None


def cohort_folder_digest(folder: Path, patients: list[PatientSpec]) -> str:
    """SHA-256 over cohort.json, manifest.csv and every file the manifest refers to."""
    digest = hashlib.sha256()
    referenced: set[Path] = {folder / COHORT_JSON, folder / MANIFEST}
    for patient in patients:
        series = folder / patient.series
        if series.is_dir():
            referenced.update(
                p for p in series.rglob("*") if p.is_file() and not p.name.startswith(".")
            )
        referenced.update(folder / node.mask for node in patient.nodes)
    for path in sorted(referenced):
        if not path.is_file():
            continue  # reported with its row by the validation that follows
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(b"\0")
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def _marked_synthetic(header: CTVolumeHeader) -> bool:
    """Whether the series' own headers say it is generated data."""
    marks = " ".join(
        str(header.metadata.get(k, ""))
        for k in ("patient_name", "image_comments", "series_description")
    )
    return "synthetic" in marks.lower()


class _StoredFiles:
    """Files written to media storage during an import, removed again if the import fails."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def save(self, name: str, content: bytes) -> str:
        stored = default_storage.save(name, ContentFile(content))
        self.names.append(stored)
        return stored

    def remove_all(self) -> None:
        for name in reversed(self.names):
            try:
                default_storage.delete(name)
            except OSError:  # keep removing the others; the leftover is logged
                logger.exception("could not remove %s after a failed import", name)
        self.names.clear()


def cohort_import_folder(
    folder: Path | str,
    *,
    user: User | None = None,
    progress: ProgressCallback | None = None,
) -> CohortImportResult:
    """Import a cohort folder (docs/import-format.md) completely or not at all.

    Raises CohortImportError naming file, row and field for bad input; then neither the database
    nor media storage has changed. Importing identical content again is a no-op
    (``created=False``); a different folder under an existing cohort name is refused.
    """
    report = progress or _no_progress
    root = Path(folder).resolve()
    if not root.is_dir():
        raise CohortImportError("not a folder", file=str(folder))
    info = read_cohort_info(root)
    patients = read_manifest(root)
    report(0.02, "checking content digest")
    digest = cohort_folder_digest(root, patients)

    existing = Cohort.objects.filter(content_sha256=digest).first()
    if existing is not None:
        if existing.name != info.name:
            raise CohortImportError(
                f"this content was already imported as cohort {existing.name!r}",
                file=COHORT_JSON,
                field="name",
            )
        report(1.0, "already imported")
        return CohortImportResult(
            cohort=existing,
            created=False,
            patients=existing.patients.count(),
            nodes=Node.objects.filter(series__patient__cohort=existing).count(),
            slices=CTSlice.objects.filter(series__patient__cohort=existing).count(),
        )
    if Cohort.objects.filter(name=info.name).exists():
        raise CohortImportError(
            f"a cohort named {info.name!r} already exists with different content; "
            "choose another name or remove the existing cohort first",
            file=COHORT_JSON,
            field="name",
        )

    uid_key = hmac.new(settings.SECRET_KEY.encode(), digest.encode(), hashlib.sha256).digest()
    pseudonym_prefix = digest[:6].upper()
    storage_root = f"cohorts/{digest[:16]}"
    stored = _StoredFiles()
    prepared: list[dict] = []
    synthetic = info.synthetic
    total_slices = 0
    try:
        for index, spec in enumerate(patients, start=1):
            pseudonym = f"{pseudonym_prefix}-{index:04d}"
            report(0.05 + 0.9 * (index - 1) / len(patients), f"patient {index} of {len(patients)}")
            header = read_ct_series(root / spec.series, display_root=root)
            synthetic = synthetic or _marked_synthetic(header)
            masks: dict[str, np.ndarray] = {}
            nodes = []
            combined = np.zeros(header.shape, dtype=np.uint16)
            for node in spec.nodes:
                if node.mask not in masks:
                    masks[node.mask] = load_label_map(
                        root / node.mask, series=header, shown=node.mask
                    )
                voxels = masks[node.mask] == node.mask_label
                if not voxels.any():
                    raise CohortImportError(
                        f"node {node.node_id!r}: no voxel of {node.mask} has label {node.mask_label} (empty mask)",
                        file=MANIFEST,
                        row=node.row,
                        field="mask_label",
                    )
                overlap = combined[voxels]
                if overlap.any():
                    raise CohortImportError(
                        f"node {node.node_id!r} overlaps another node of the same patient",
                        file=MANIFEST,
                        row=node.row,
                        field="mask",
                    )
                combined[voxels] = node.mask_label
                nodes.append((node, measure_node(voxels, voxel_size_zyx=header.voxel_size_zyx())))

            series_folder = f"{storage_root}/{pseudonym}"
            slices = []
            for slice_index, ds in enumerate(header.datasets):
                deidentify_dataset(ds, pseudonym=pseudonym, uid_key=uid_key, profile=BASIC_PROFILE)
                buffer = io.BytesIO()
                ds.save_as(buffer, enforce_file_format=True)
                content = buffer.getvalue()
                name = stored.save(f"{series_folder}/{slice_index:04d}.dcm", content)
                slices.append(
                    dict(
                        index=slice_index,
                        sop_instance_uid=str(ds.SOPInstanceUID),
                        position_along_normal_mm=float(header.positions_along_normal[slice_index]),
                        file=name,
                        sha256=hashlib.sha256(content).hexdigest(),
                    )
                )
            label_buffer = io.BytesIO()
            np.savez_compressed(label_buffer, labels=combined)
            label_name = stored.save(f"{series_folder}/labels.npz", label_buffer.getvalue())
            total_slices += len(slices)
            first = header.datasets[0]
            prepared.append(
                dict(
                    spec=spec,
                    pseudonym=pseudonym,
                    header=header,
                    first=first,
                    slices=slices,
                    nodes=nodes,
                    label_map=label_name,
                )
            )
            # Pixel data is no longer needed: keep memory flat on large cohorts.
            header.datasets = [first]

        report(0.96, "writing to the database")
        with transaction.atomic():
            cohort = Cohort.objects.create(
                name=info.name,
                institution=info.institution,
                description=info.description,
                is_synthetic=synthetic,
                content_sha256=digest,
                imported_by=user,
            )
            node_count = 0
            for item in prepared:
                spec, header, first = item["spec"], item["header"], item["first"]
                patient = Patient.objects.create(
                    cohort=cohort,
                    pseudonym=item["pseudonym"],
                    age=spec.age,
                    sex=spec.sex,
                    primary_site=spec.primary_site,
                    pt_stage=spec.pt_stage,
                    pn_stage=spec.pn_stage,
                    hpv_status=spec.hpv_status,
                )
                PatientIdentity.objects.create(
                    patient=patient,
                    cohort=cohort,
                    source_patient_id=spec.patient_id,
                    dicom_patient_id=str(header.metadata["patient_id"])[:200],
                    dicom_patient_name=str(header.metadata["patient_name"])[:200],
                    dicom_study_instance_uid=str(header.metadata["study_instance_uid"])[:64],
                )
                meta = header.metadata
                series = CTSeries.objects.create(
                    patient=patient,
                    study_instance_uid=str(first.StudyInstanceUID),
                    series_instance_uid=str(first.SeriesInstanceUID),
                    frame_of_reference_uid=str(first.get("FrameOfReferenceUID", "")),
                    rows=header.rows,
                    columns=header.columns,
                    slice_count=len(item["slices"]),
                    pixel_spacing_row_mm=header.pixel_spacing[0],
                    pixel_spacing_column_mm=header.pixel_spacing[1],
                    slice_thickness_mm=meta["slice_thickness"],
                    slice_spacing_mm=header.slice_spacing,
                    image_orientation=[float(v) for v in header.orientation],
                    first_position=[float(v) for v in header.first_position],
                    manufacturer=str(meta["manufacturer"])[:100],
                    manufacturer_model=str(meta["manufacturer_model"])[:100],
                    convolution_kernel=str(meta["convolution_kernel"])[:100],
                    contrast_agent=str(meta["contrast_agent"])[:100],
                    contrast_phase=str(meta["contrast_phase"])[:100],
                    kvp=meta["kvp"],
                    label_map=item["label_map"],
                    deidentification_method=BASIC_PROFILE.description,
                )
                CTSlice.objects.bulk_create(CTSlice(series=series, **row) for row in item["slices"])
                affine = header.affine_lps()
                for node_spec, measured in item["nodes"]:
                    z, r, c = measured.centroid_voxel
                    centroid_mm = affine @ np.array([c, r, z, 1.0])
                    node = Node.objects.create(
                        series=series,
                        label=node_spec.node_id,
                        mask_label=node_spec.mask_label,
                        level=node_spec.level,
                        side=node_spec.side,
                        voxel_count=measured.voxel_count,
                        centroid_voxel=list(measured.centroid_voxel),
                        centroid_mm=[round(float(v), 3) for v in centroid_mm[:3]],
                        bbox=list(measured.bbox),
                        short_axis_mm=measured.short_axis_mm,
                        long_axis_mm=measured.long_axis_mm,
                        volume_mm3=measured.volume_mm3,
                    )
                    ReferenceStandard.objects.create(
                        node=node,
                        call=node_spec.call,
                        ene_extent_mm=node_spec.ene_extent_mm,
                        ene_grade=node_spec.ene_grade,
                        source=node_spec.reference_source,
                    )
                    node_count += 1
    except BaseException:
        stored.remove_all()
        raise
    report(1.0, "done")
    return CohortImportResult(
        cohort=cohort, created=True, patients=len(prepared), nodes=node_count, slices=total_slices
    )


# --- Browser upload -------------------------------------------------------------------------


def import_job_create(*, user: User | None, upload: UploadedFile) -> ImportJob:
    """Store an uploaded zip and queue its import (after the transaction commits)."""
    from readerstudy.cohorts import tasks

    size = upload.size or 0
    limit = settings.COHORT_UPLOAD_MAX_BYTES
    if size > limit:
        raise CohortImportError(
            f"archive is {size} bytes, more than the limit of {limit} bytes", file=upload.name
        )
    if not (upload.name or "").lower().endswith(".zip"):
        raise CohortImportError("expected a .zip archive", file=upload.name)
    with transaction.atomic():
        job = ImportJob.objects.create(
            created_by=user,
            archive_name=(upload.name or "")[:255],
            archive_size=size,
            stage="queued",
        )
        job.archive.save(f"uploads/import-{job.pk}.zip", upload, save=True)
        transaction.on_commit(lambda: tasks.import_cohort_archive.delay(job.pk))
    return job


def _safe_extract(archive: Path, target: Path, *, shown: str) -> None:
    """Unpack ``archive`` into ``target`` refusing entries that escape it and oversize content."""
    limit = settings.COHORT_UPLOAD_MAX_UNPACKED_BYTES
    try:
        bundle = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise CohortImportError(f"not a zip archive ({exc})", file=shown) from exc
    with bundle:
        total = 0
        for entry in bundle.infolist():
            name = entry.filename
            path = PurePosixPath(name)
            mode = entry.external_attr >> 16
            if path.is_absolute() or ".." in path.parts or "\\" in name or (name[1:2] == ":"):
                raise CohortImportError(
                    f"entry {name!r} would be written outside the target folder", file=shown
                )
            if (mode & 0o170000) == 0o120000:
                raise CohortImportError(f"entry {name!r} is a symbolic link", file=shown)
            total += entry.file_size
            if total > limit:
                raise CohortImportError(
                    f"archive unpacks to more than the limit of {limit} bytes", file=shown
                )
        resolved_target = target.resolve()
        for entry in bundle.infolist():
            destination = (target / entry.filename).resolve()
            if not destination.is_relative_to(resolved_target):
                raise CohortImportError(
                    f"entry {entry.filename!r} escapes the target folder", file=shown
                )
        try:
            bundle.extractall(target)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            # CRC mismatch, truncated data, unsupported compression: the archive is at fault.
            raise CohortImportError(
                f"corrupt or unsupported zip archive ({exc})", file=shown
            ) from exc


def _cohort_root(extracted: Path, *, shown: str) -> Path:
    if (extracted / MANIFEST).is_file():
        return extracted
    candidates = [p.parent for p in extracted.rglob(MANIFEST) if "__MACOSX" not in p.parts]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise CohortImportError(f"no {MANIFEST} in the archive", file=shown)
    raise CohortImportError(
        f"{len(candidates)} folders with a {MANIFEST}; upload one cohort per archive", file=shown
    )


def _job_update(job: ImportJob, **fields: object) -> None:
    for key, value in fields.items():
        setattr(job, key, value)
    ImportJob.objects.filter(pk=job.pk).update(**fields)


def import_job_run(*, job_id: int) -> ImportJob:
    """Run an upload import job. Idempotent: a finished job is left as it is."""
    job = ImportJob.objects.get(pk=job_id)
    if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        return job
    _job_update(
        job,
        status=JobStatus.RUNNING,
        started_at=timezone.now(),
        progress=0,
        stage="unpacking",
        error="",
    )
    workdir = Path(tempfile.mkdtemp(prefix=f"import-{job.pk}-"))
    shown = job.archive_name or f"import-{job.pk}.zip"

    def report(fraction: float, stage: str) -> None:
        _job_update(job, progress=min(100, 5 + int(fraction * 95)), stage=stage[:200])

    try:
        archive_path = workdir / "archive.zip"
        with job.archive.open("rb") as source, archive_path.open("wb") as target:
            shutil.copyfileobj(source, target)
        _safe_extract(archive_path, workdir / "cohort", shown=shown)
        archive_path.unlink()
        result = cohort_import_folder(
            _cohort_root(workdir / "cohort", shown=shown), user=job.created_by, progress=report
        )
        stage = (
            "imported"
            if result.created
            else "already imported (identical content): nothing changed"
        )
        _job_update(
            job,
            status=JobStatus.SUCCEEDED,
            progress=100,
            stage=stage,
            cohort=result.cohort,
            finished_at=timezone.now(),
        )
    except CohortImportError as exc:
        _job_update(
            job, status=JobStatus.FAILED, stage="failed", error=str(exc), finished_at=timezone.now()
        )
    except Exception as exc:
        logger.exception("import job %s failed", job.pk)
        _job_update(
            job,
            status=JobStatus.FAILED,
            stage="failed",
            error=f"internal error ({type(exc).__name__}): {exc}",
            finished_at=timezone.now(),
        )
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if job.archive and job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            job.archive.delete(save=False)
            ImportJob.objects.filter(pk=job.pk).update(archive="")
    return job
