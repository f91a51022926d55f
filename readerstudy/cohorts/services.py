"""Writes for cohorts: importing a cohort folder or an uploaded archive, atomically."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import logging
import re
import shutil
import time
import uuid
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from pydicom.dataset import Dataset

from cohortformat.measurements import NodeMeasurements, measure_node
from readerstudy.accounts.models import User
from readerstudy.cohorts.deidentify import BASIC_PROFILE, deidentify_dataset
from readerstudy.cohorts.dicom_series import CTVolumeHeader, read_ct_series
from readerstudy.cohorts.errors import CohortImportError
from readerstudy.cohorts.manifest import (
    COHORT_JSON,
    MANIFEST,
    CohortInfo,
    NodeSpec,
    PatientSpec,
    read_cohort_info,
    read_manifest,
)
from readerstudy.cohorts.masks import load_label_map
from readerstudy.cohorts.models import (
    JOB_ENDED,
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


@dataclass(frozen=True)
class ImportPlan:
    """Phase 1: what a folder holds, read and checked, before anything is written."""

    root: Path
    info: CohortInfo
    patients: tuple[PatientSpec, ...]
    digest: str

    @property
    def uid_key(self) -> bytes:
        """Keys the UID hashing: consistent within the cohort, not reversible without SECRET_KEY."""
        return hmac.new(settings.SECRET_KEY.encode(), self.digest.encode(), hashlib.sha256).digest()

    @property
    def pseudonym_prefix(self) -> str:
        return self.digest[:6].upper()

    @property
    def storage_root(self) -> str:
        return f"cohorts/{self.digest[:16]}"


@dataclass(frozen=True)
class PreparedSlice:
    index: int
    sop_instance_uid: str
    position_along_normal_mm: float
    file: str
    sha256: str


@dataclass(frozen=True)
class PreparedNode:
    spec: NodeSpec
    measured: NodeMeasurements


@dataclass(frozen=True)
class PreparedPatient:
    """Phase 2, per patient: masks checked, nodes measured, de-identified slices stored."""

    spec: PatientSpec
    pseudonym: str
    header: CTVolumeHeader  # only the first dataset is kept, to keep memory flat
    slices: tuple[PreparedSlice, ...]
    nodes: tuple[PreparedNode, ...]
    label_map: str
    marked_synthetic: bool

    @property
    def first(self) -> Dataset:
        return self.header.datasets[0]


def _import_plan(folder: Path | str, report: ProgressCallback) -> ImportPlan:
    root = Path(folder).resolve()
    if not root.is_dir():
        raise CohortImportError("not a folder", file=str(folder))
    info = read_cohort_info(root)
    patients = read_manifest(root)
    report(0.02, "checking content digest")
    return ImportPlan(
        root=root,
        info=info,
        patients=tuple(patients),
        digest=cohort_folder_digest(root, patients),
    )


def _already_imported(plan: ImportPlan) -> CohortImportResult | None:
    """The earlier import of identical content, if any; refuses a name taken by other content."""
    existing = Cohort.objects.filter(content_sha256=plan.digest).first()
    if existing is not None:
        if existing.name != plan.info.name:
            raise CohortImportError(
                f"this content was already imported as cohort {existing.name!r}",
                file=COHORT_JSON,
                field="name",
            )
        return CohortImportResult(
            cohort=existing,
            created=False,
            patients=existing.patients.count(),
            nodes=Node.objects.filter(series__patient__cohort=existing).count(),
            slices=CTSlice.objects.filter(series__patient__cohort=existing).count(),
        )
    if Cohort.objects.filter(name=plan.info.name).exists():
        raise CohortImportError(
            f"a cohort named {plan.info.name!r} already exists with different content; "
            "choose another name or remove the existing cohort first",
            file=COHORT_JSON,
            field="name",
        )
    return None


def _measure_nodes(
    plan: ImportPlan, spec: PatientSpec, header: CTVolumeHeader
) -> tuple[tuple[PreparedNode, ...], np.ndarray]:
    """Each node's mask checked (not empty, no overlap) and measured; the combined label map."""
    masks: dict[str, np.ndarray] = {}
    nodes: list[PreparedNode] = []
    combined = np.zeros(header.shape, dtype=np.uint16)
    for node in spec.nodes:
        if node.mask not in masks:
            masks[node.mask] = load_label_map(plan.root / node.mask, series=header, shown=node.mask)
        voxels = masks[node.mask] == node.mask_label
        if not voxels.any():
            raise CohortImportError(
                f"node {node.node_id!r}: no voxel of {node.mask} has label {node.mask_label} (empty mask)",
                file=MANIFEST,
                row=node.row,
                field="mask_label",
            )
        if combined[voxels].any():
            raise CohortImportError(
                f"node {node.node_id!r} overlaps another node of the same patient",
                file=MANIFEST,
                row=node.row,
                field="mask",
            )
        combined[voxels] = node.mask_label
        nodes.append(
            PreparedNode(node, measure_node(voxels, voxel_size_zyx=header.voxel_size_zyx()))
        )
    return tuple(nodes), combined


def _prepare_patient(
    plan: ImportPlan, index: int, spec: PatientSpec, stored: _StoredFiles
) -> PreparedPatient:
    pseudonym = f"{plan.pseudonym_prefix}-{index:04d}"
    uid_key = plan.uid_key
    header = read_ct_series(plan.root / spec.series, display_root=plan.root)
    nodes, combined = _measure_nodes(plan, spec, header)
    series_folder = f"{plan.storage_root}/{pseudonym}"
    slices: list[PreparedSlice] = []
    for slice_index, ds in enumerate(header.datasets):
        deidentify_dataset(ds, pseudonym=pseudonym, uid_key=uid_key, profile=BASIC_PROFILE)
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        content = buffer.getvalue()
        slices.append(
            PreparedSlice(
                index=slice_index,
                sop_instance_uid=str(ds.SOPInstanceUID),
                position_along_normal_mm=float(header.positions_along_normal[slice_index]),
                file=stored.save(f"{series_folder}/{slice_index:04d}.dcm", content),
                sha256=hashlib.sha256(content).hexdigest(),
            )
        )
    label_buffer = io.BytesIO()
    np.savez_compressed(label_buffer, labels=combined)
    label_map = stored.save(f"{series_folder}/labels.npz", label_buffer.getvalue())
    marked_synthetic = _marked_synthetic(header)
    # Pixel data is no longer needed: keep memory flat on large cohorts.
    header.datasets = header.datasets[:1]
    return PreparedPatient(
        spec=spec,
        pseudonym=pseudonym,
        header=header,
        slices=tuple(slices),
        nodes=tuple(nodes),
        label_map=label_map,
        marked_synthetic=marked_synthetic,
    )


def _create_series(patient: Patient, item: PreparedPatient) -> CTSeries:
    header, first, meta = item.header, item.first, item.header.metadata
    return CTSeries.objects.create(
        patient=patient,
        study_instance_uid=str(first.StudyInstanceUID),
        series_instance_uid=str(first.SeriesInstanceUID),
        frame_of_reference_uid=str(first.get("FrameOfReferenceUID", "")),
        rows=header.rows,
        columns=header.columns,
        slice_count=len(item.slices),
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
        label_map=item.label_map,
        deidentification_method=BASIC_PROFILE.description,
    )


def _create_nodes(series: CTSeries, item: PreparedPatient) -> int:
    affine = item.header.affine_lps()
    for prepared in item.nodes:
        node_spec, measured = prepared.spec, prepared.measured
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
    return len(item.nodes)


def _write_cohort(
    plan: ImportPlan, prepared: list[PreparedPatient], *, user: User | None
) -> CohortImportResult:
    """Phase 3: every row in one transaction."""
    synthetic = plan.info.synthetic or any(item.marked_synthetic for item in prepared)
    with transaction.atomic():
        cohort = Cohort.objects.create(
            name=plan.info.name,
            institution=plan.info.institution,
            description=plan.info.description,
            is_synthetic=synthetic,
            content_sha256=plan.digest,
            imported_by=user,
        )
        node_count = 0
        for item in prepared:
            spec, meta = item.spec, item.header.metadata
            patient = Patient.objects.create(
                cohort=cohort,
                pseudonym=item.pseudonym,
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
                dicom_patient_id=str(meta["patient_id"])[:200],
                dicom_patient_name=str(meta["patient_name"])[:200],
                dicom_study_instance_uid=str(meta["study_instance_uid"])[:64],
            )
            series = _create_series(patient, item)
            CTSlice.objects.bulk_create(
                CTSlice(series=series, **asdict(row)) for row in item.slices
            )
            node_count += _create_nodes(series, item)
    return CohortImportResult(
        cohort=cohort,
        created=True,
        patients=len(prepared),
        nodes=node_count,
        slices=sum(len(item.slices) for item in prepared),
    )


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

    Phases: plan (read and check cohort.json, manifest.csv, digest), prepare each patient (masks,
    measurements, de-identified slices written to storage), write every row in one transaction.
    """
    report = progress or _no_progress
    plan = _import_plan(folder, report)
    earlier = _already_imported(plan)
    if earlier is not None:
        report(1.0, "already imported")
        return earlier
    stored = _StoredFiles()
    try:
        prepared: list[PreparedPatient] = []
        total = len(plan.patients)
        for index, spec in enumerate(plan.patients, start=1):
            report(0.05 + 0.9 * (index - 1) / total, f"patient {index} of {total}")
            prepared.append(_prepare_patient(plan, index, spec, stored))
        report(0.96, "writing to the database")
        result = _write_cohort(plan, prepared, user=user)
    except BaseException:
        stored.remove_all()
        raise
    report(1.0, "done")
    return result


# --- Browser upload: import jobs ---------------------------------------------------------------
#
# An upload becomes an ImportJob that a Celery worker runs. Its status machine (models.
# JOB_TRANSITIONS) follows grand-challenge.org's component jobs: every status change is checked
# against the table under a row lock, a repeated step is a no-op, only named transient errors
# are retried, and the uploaded archive is kept until the job has ended for good. A running
# attempt writes a heartbeat with its progress; a job whose heartbeat goes stale has lost its
# worker and is resumed (or failed, after COHORT_IMPORT_MAX_ATTEMPTS) by the sweep.

# A database that went away or dropped the connection may be back in a moment: worth a retry.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
_WORK_FOLDER = re.compile(r"^import-(\d+)-(\d+)$")


class ImportJobTransientError(Exception):
    """The attempt hit an error that may pass; the caller should run the job again later."""

    def __init__(self, *, job_id: int, attempt: int, retry_in_seconds: int) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.retry_in_seconds = retry_in_seconds
        super().__init__(
            f"import job {job_id}, attempt {attempt}: transient error, retry in {retry_in_seconds} s"
        )


class _AttemptSuperseded(Exception):
    """This attempt was taken for lost and another one owns the job now: stop quietly."""


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


def _check_entry_names(bundle: zipfile.ZipFile, *, shown: str) -> None:
    """Refuse names that would clash on disk: a file that is also a folder, or the same file twice."""
    files: set[PurePosixPath] = set()
    folders: set[PurePosixPath] = set()
    for entry in bundle.infolist():
        path = PurePosixPath(entry.filename)
        folders.update(path.parents)
        if entry.is_dir():
            folders.add(path)
        elif path in files:
            raise CohortImportError(
                f"entry {entry.filename!r} appears more than once in the archive", file=shown
            )
        else:
            files.add(path)
    clashes = sorted(files & folders)
    if clashes:
        raise CohortImportError(
            f"entry {clashes[0].as_posix()!r} is both a file and a folder in the archive",
            file=shown,
        )


def _check_sizes(bundle: zipfile.ZipFile, archive_size: int, *, shown: str) -> None:
    """Refuse archives that unpack beyond the size limit or the compression-ratio limit."""
    limit = settings.COHORT_UPLOAD_MAX_UNPACKED_BYTES
    ratio_limit = settings.COHORT_UPLOAD_MAX_COMPRESSION_RATIO
    total = 0
    for entry in bundle.infolist():
        total += entry.file_size
        if total > limit:
            raise CohortImportError(
                f"archive unpacks to more than the limit of {limit} bytes", file=shown
            )
    if archive_size > 0 and total > ratio_limit * archive_size:
        raise CohortImportError(
            f"archive unpacks to {total} bytes, {total / archive_size:.0f} times its own size of "
            f"{archive_size} bytes; the limit is {ratio_limit:g} times "
            "(COHORT_UPLOAD_MAX_COMPRESSION_RATIO): is it a zip bomb?",
            file=shown,
        )


def _safe_extract(
    archive: Path, target: Path, *, shown: str, heartbeat: Callable[[], None] = lambda: None
) -> None:
    """Unpack ``archive`` into ``target``, refusing entries that escape it and oversize content.

    Every refusal is a CohortImportError saying what is wrong with the archive; nothing of the
    server (paths, exception texts with paths) reaches the message.
    """
    try:
        bundle = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise CohortImportError(f"not a zip archive ({exc})", file=shown) from exc
    with bundle:
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
            if entry.flag_bits & 0x1:
                raise CohortImportError(
                    f"entry {name!r} is encrypted; password-protected archives cannot be imported",
                    file=shown,
                )
        _check_sizes(bundle, archive.stat().st_size, shown=shown)
        _check_entry_names(bundle, shown=shown)
        target.mkdir(parents=True, exist_ok=True)
        resolved_target = target.resolve()
        for entry in bundle.infolist():
            destination = (target / entry.filename).resolve()
            if not destination.is_relative_to(resolved_target):
                raise CohortImportError(
                    f"entry {entry.filename!r} escapes the target folder", file=shown
                )
        for entry in bundle.infolist():
            heartbeat()
            try:
                bundle.extract(entry, target)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                # CRC mismatch, truncated data, unsupported compression: the archive is at fault.
                raise CohortImportError(
                    f"corrupt or unsupported zip archive ({exc})", file=shown
                ) from exc
            except (FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
                # Names that clash only on this file system (e.g. "a/" vs "a" with other flags).
                raise CohortImportError(
                    f"entry {entry.filename!r} clashes with another entry of the archive",
                    file=shown,
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


def _stale_after() -> timedelta:
    return timedelta(seconds=settings.COHORT_IMPORT_STALE_AFTER_SECONDS)


def _is_stale(job: ImportJob, now: datetime) -> bool:
    return job.heartbeat_at is None or job.heartbeat_at < now - _stale_after()


def _apply_change(job: ImportJob, to: str, **fields: object) -> ImportJob:
    """Change a locked job's status; the status machine decides whether that is allowed."""
    if not job.may_change_to(to):
        raise ValueError(f"import job {job.pk}: {job.status} -> {to} is not allowed")
    job.status = to
    for key, value in fields.items():
        setattr(job, key, value)
    job.save(update_fields=["status", *fields])
    return job


def _job_change(
    job_id: int, to: str, *, attempt: int | None = None, **fields: object
) -> ImportJob | None:
    """Change a job's status under a row lock if allowed (and, given ``attempt``, still ours)."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or not job.may_change_to(to):
            return None
        if attempt is not None and (job.status != JobStatus.RUNNING or job.attempts != attempt):
            return None
        return _apply_change(job, to, **fields)


def _work_folder(job_id: int, attempt: int) -> Path:
    return Path(settings.COHORT_IMPORT_WORK_DIR) / f"import-{job_id}-{attempt}"


def _remove_work_folders(job_id: int) -> int:
    """Remove every work folder of a job (earlier attempts' leftovers included)."""
    root = Path(settings.COHORT_IMPORT_WORK_DIR)
    removed = 0
    for folder in root.glob(f"import-{job_id}-*"):
        if _WORK_FOLDER.match(folder.name) and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def _discard_archive_if_ended(job_id: int) -> bool:
    """Delete the uploaded zip of a job that has ended for good; kept while it may run again."""
    job = ImportJob.objects.filter(pk=job_id, status__in=JOB_ENDED).exclude(archive="").first()
    if job is None:
        return False
    job.archive.delete(save=False)
    ImportJob.objects.filter(pk=job_id).update(archive="")
    return True


def _lost_worker_message(attempts: int) -> str:
    times = "once" if attempts == 1 else f"{attempts} times"
    return (
        f"the worker running this import stopped {times} before finishing (for example, it was "
        "restarted or ran out of memory); nothing was imported. Upload the archive again, and if "
        "this repeats ask an administrator to check the import workers."
    )


def _job_claim(job_id: int, retry_of_attempt: int | None) -> ImportJob | None:
    """Start a new attempt of a queued job, or take over one whose attempt is known to be over.

    Returns None (nothing to do) for a job that has ended or that another live attempt runs: a
    re-delivered task message is a no-op.
    """
    now = timezone.now()
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or not job.may_change_to(JobStatus.RUNNING):
            return None
        # A running job is taken over only by the retry of its very attempt, or once stale.
        taken_over = retry_of_attempt == job.attempts or _is_stale(job, now)
        if job.status == JobStatus.RUNNING and not taken_over:
            return None
        if job.attempts >= settings.COHORT_IMPORT_MAX_ATTEMPTS:
            _apply_change(
                job,
                JobStatus.FAILED,
                stage="failed",
                error=job.error or _lost_worker_message(job.attempts),
                finished_at=now,
            )
            return None
        return _apply_change(
            job,
            JobStatus.RUNNING,
            attempts=job.attempts + 1,
            started_at=job.started_at or now,
            heartbeat_at=now,
            progress=0,
            stage="unpacking",
            error="",
        )


class _RunningAttempt:
    """The attempt a worker runs: writes progress and heartbeats while it still owns the job."""

    def __init__(self, job: ImportJob) -> None:
        self.job_id = job.pk
        self.attempt = job.attempts
        # Several heartbeats within the stale period, without writing on every archive entry.
        self.beat_every = max(1.0, min(10.0, settings.COHORT_IMPORT_STALE_AFTER_SECONDS / 5))
        self._last_beat = time.monotonic()

    def _write(self, **fields: object) -> None:
        changed = ImportJob.objects.filter(
            pk=self.job_id, status=JobStatus.RUNNING, attempts=self.attempt
        ).update(heartbeat_at=timezone.now(), **fields)
        if not changed:
            raise _AttemptSuperseded(f"import job {self.job_id}, attempt {self.attempt}")
        self._last_beat = time.monotonic()

    def heartbeat(self) -> None:
        if time.monotonic() - self._last_beat >= self.beat_every:
            self._write()

    def report(self, fraction: float, stage: str) -> None:
        self._write(progress=min(100, 5 + int(fraction * 95)), stage=stage[:200])


def _copy_archive(job: ImportJob, destination: Path, attempt: _RunningAttempt) -> None:
    with job.archive.open("rb") as source, destination.open("wb") as target:
        while chunk := source.read(4 * 1024**2):
            target.write(chunk)
            attempt.heartbeat()


def _import_archive(job: ImportJob, workdir: Path, attempt: _RunningAttempt) -> CohortImportResult:
    shown = job.archive_name or f"import-{job.pk}.zip"
    archive_path = workdir / "archive.zip"
    _copy_archive(job, archive_path, attempt)
    _safe_extract(archive_path, workdir / "cohort", shown=shown, heartbeat=attempt.heartbeat)
    archive_path.unlink()
    return cohort_import_folder(
        _cohort_root(workdir / "cohort", shown=shown), user=job.created_by, progress=attempt.report
    )


def _fail_attempt(attempt: _RunningAttempt, error: str) -> None:
    """End the job for good with ``error``, if this attempt still owns it."""
    _job_change(
        attempt.job_id,
        JobStatus.FAILED,
        attempt=attempt.attempt,
        stage="failed",
        error=error,
        finished_at=timezone.now(),
    )


def _after_transient_error(attempt: _RunningAttempt, exc: Exception) -> None:
    """Put the job back in the queue (archive kept), or end it after the last attempt."""
    # A broken connection is dropped, so that the next query opens a fresh one.
    if not connection.in_atomic_block:
        with contextlib.suppress(Exception):
            connection.close_if_unusable_or_obsolete()
    logger.warning(
        "import job %s, attempt %s: transient database error",
        attempt.job_id,
        attempt.attempt,
        exc_info=exc,
    )
    limit = settings.COHORT_IMPORT_MAX_ATTEMPTS
    try:
        if attempt.attempt >= limit:
            _fail_attempt(
                attempt,
                f"the database was unavailable on each of {limit} attempts; nothing was "
                "imported. Upload the archive again later.",
            )
            return
        delay = settings.COHORT_IMPORT_RETRY_DELAY_SECONDS * 2 ** (attempt.attempt - 1)
        _job_change(
            attempt.job_id,
            JobStatus.RETRYING,
            attempt=attempt.attempt,
            stage=f"database unavailable; trying again in {delay} s "
            f"(attempt {attempt.attempt + 1} of {limit})",
            heartbeat_at=timezone.now(),  # when it was queued again (see import_job_sweep)
        )
    except TRANSIENT_ERRORS:
        # Still down: the job stays "running" for this attempt, which its retry may take over.
        logger.warning("import job %s: could not record the retry", attempt.job_id)
        delay = settings.COHORT_IMPORT_RETRY_DELAY_SECONDS * 2 ** (attempt.attempt - 1)
    raise ImportJobTransientError(
        job_id=attempt.job_id, attempt=attempt.attempt, retry_in_seconds=delay
    ) from exc


def import_job_run(*, job_id: int, retry_of_attempt: int | None = None) -> ImportJob | None:
    """Run one attempt of an upload import job.

    A job that has ended, or that a live attempt is running, is left as it is. Bad input ends the
    job with a message naming the archive entry, file, row or field; a transient database error
    raises ImportJobTransientError after putting the job back in the queue (the caller retries
    with ``retry_of_attempt``); any other error ends the job with a neutral message and an error
    id that is in the server log.
    """
    job = _job_claim(job_id, retry_of_attempt)
    if job is None:
        return ImportJob.objects.filter(pk=job_id).first()
    attempt = _RunningAttempt(job)
    _remove_work_folders(job.pk)  # whatever a lost earlier attempt left behind
    workdir = _work_folder(job.pk, attempt.attempt)
    workdir.mkdir(parents=True)
    try:
        try:
            result = _import_archive(job, workdir, attempt)
        finally:
            # Before any status change: a job seen waiting or ended has no unpacked files left.
            shutil.rmtree(workdir, ignore_errors=True)
    except _AttemptSuperseded:
        logger.warning("import job %s, attempt %s: taken over, stopping", job.pk, attempt.attempt)
    except CohortImportError as exc:
        _fail_attempt(attempt, str(exc))
    except TRANSIENT_ERRORS as exc:
        _after_transient_error(attempt, exc)
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        logger.exception(
            "import job %s, attempt %s: unexpected error (error id %s)",
            job.pk,
            attempt.attempt,
            error_id,
        )
        _fail_attempt(
            attempt,
            f"the import stopped on an unexpected error (error id {error_id}); nothing was "
            "imported. Please give the error id to an administrator: the server log has the details.",
        )
    else:
        stage = (
            "imported"
            if result.created
            else "already imported (identical content): nothing changed"
        )
        now = timezone.now()
        _job_change(
            job.pk,
            JobStatus.SUCCEEDED,
            attempt=attempt.attempt,
            progress=100,
            stage=stage,
            cohort=result.cohort,
            finished_at=now,
            heartbeat_at=now,
        )
    finally:
        try:
            _discard_archive_if_ended(job.pk)
        except TRANSIENT_ERRORS:
            logger.warning("import job %s: archive left for the sweep", job.pk)
    return ImportJob.objects.filter(pk=job.pk).first()


@dataclass(frozen=True)
class SweepReport:
    resumed: tuple[int, ...]
    failed: tuple[int, ...]
    requeued: tuple[int, ...]
    folders_removed: int
    archives_removed: int


def _recover_stale_job(job_id: int, now: datetime) -> str | None:
    """Resume a running job whose heartbeat is stale, or fail it after its last attempt."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != JobStatus.RUNNING or not _is_stale(job, now):
            return None
        if job.attempts >= settings.COHORT_IMPORT_MAX_ATTEMPTS:
            _apply_change(
                job,
                JobStatus.FAILED,
                stage="failed",
                error=_lost_worker_message(job.attempts),
                finished_at=now,
            )
            return JobStatus.FAILED
        _apply_change(
            job,
            JobStatus.RETRYING,
            stage=f"the worker stopped; resuming (attempt {job.attempts + 1} of "
            f"{settings.COHORT_IMPORT_MAX_ATTEMPTS})",
            heartbeat_at=now,
        )
        return JobStatus.RETRYING


def _remove_orphaned_work_folders() -> int:
    """Remove work folders that no running attempt owns (ended, lost or unknown jobs)."""
    root = Path(settings.COHORT_IMPORT_WORK_DIR)
    if not root.is_dir():
        return 0
    removed = 0
    for folder in sorted(root.iterdir()):
        match = _WORK_FOLDER.match(folder.name)
        if match is None or not folder.is_dir():
            continue  # not ours
        job_id, attempt = int(match[1]), int(match[2])
        owner = ImportJob.objects.filter(
            pk=job_id, status=JobStatus.RUNNING, attempts=attempt
        ).exists()
        if not owner:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def import_job_sweep() -> SweepReport:
    """Recover jobs that lost their worker and remove what ended jobs left behind.

    Run at every worker start and then every COHORT_IMPORT_SWEEP_INTERVAL_SECONDS by the worker
    (readerstudy/celery.py), and by ``manage.py sweep_import_jobs``. Safe to run anywhere at
    any time, also by several processes at once: every change is checked under a row lock.
    """
    from readerstudy.cohorts import tasks

    now = timezone.now()
    resumed: list[int] = []
    failed: list[int] = []
    stale = ImportJob.objects.filter(status=JobStatus.RUNNING).filter(
        Q(heartbeat_at__lt=now - _stale_after()) | Q(heartbeat_at__isnull=True)
    )
    for job_id in stale.values_list("pk", flat=True):
        outcome = _recover_stale_job(job_id, now)
        if outcome is None:
            continue
        _remove_work_folders(job_id)
        if outcome == JobStatus.RETRYING:
            logger.warning("import job %s lost its worker; resuming it", job_id)
            tasks.import_cohort_archive.delay(job_id)
            resumed.append(job_id)
        else:
            logger.warning("import job %s lost its worker too often; failed", job_id)
            failed.append(job_id)
    # A queued job whose task message is lost (the broker was down when it was sent, or lost
    # its data) would wait for ever: send it again, at most once per stale period. A duplicate
    # message is harmless, the first one to claim the job runs it.
    waiting = ImportJob.objects.filter(
        Q(heartbeat_at__lt=now - _stale_after())
        | Q(heartbeat_at__isnull=True, created_at__lt=now - _stale_after()),
        status__in=[JobStatus.PENDING, JobStatus.RETRYING],
    )
    requeued: list[int] = []
    for job_id in waiting.values_list("pk", flat=True):
        # Conditional on the same filter, so that of two sweeps only one sends it.
        if waiting.filter(pk=job_id).update(heartbeat_at=now):
            tasks.import_cohort_archive.delay(job_id)
            requeued.append(job_id)
    archives = 0
    ended = ImportJob.objects.filter(status__in=JOB_ENDED).exclude(archive="")
    for job_id in ended.values_list("pk", flat=True):
        archives += _discard_archive_if_ended(job_id)
    return SweepReport(
        resumed=tuple(resumed),
        failed=tuple(failed),
        requeued=tuple(requeued),
        folders_removed=_remove_orphaned_work_folders(),
        archives_removed=archives,
    )
