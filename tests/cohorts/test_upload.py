"""The coordinator's zip upload: archive safety, limits, the real worker end to end, permissions.

The unit-style tests store the upload through the view (capturing the on-commit hook that would
queue the Celery task) and run ``services.import_job_run`` in-process. The worker tests queue the
task for real: the web side and the worker share PostgreSQL, Redis and a media folder.
"""

from __future__ import annotations

import io
import re
import stat
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from readerstudy.accounts.models import Role, User
from readerstudy.cohorts import services, tasks
from readerstudy.cohorts.models import Cohort, CTSeries, CTSlice, ImportJob, JobStatus, Node
from tests.cohort_factory import (
    read_manifest_rows,
    write_cohort,
    write_manifest,
)
from tests.conftest import stored_files, wait_for

pytestmark = [
    pytest.mark.django_db,
    # WhiteNoise warns that STATIC_ROOT was never collected: tests serve static files unhashed.
    pytest.mark.filterwarnings("ignore:No directory at:UserWarning"),
]

FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED)


# --- helpers --------------------------------------------------------------------------------


def zip_folder(folder: Path, *, prefix: str = "", extra: dict[str, bytes] | None = None) -> bytes:
    """The bytes of a zip holding ``folder``'s files under ``prefix`` (plus ``extra`` entries)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, prefix + path.relative_to(folder).as_posix())
        for name, content in (extra or {}).items():
            bundle.writestr(name, content)
    return buffer.getvalue()


def cohort_zip(
    tmp_path: Path, *, name: str = "Upload cohort", prefix: str = "", **kw: Any
) -> bytes:
    folder = write_cohort(tmp_path / f"src-{uuid.uuid4().hex[:6]}", name=name, **kw)
    return zip_folder(folder, prefix=prefix)


def broken_manifest_zip(tmp_path: Path, *, name: str = "Broken cohort") -> bytes:
    """A cohort whose manifest row 3 (the second node) names an unknown neck level."""
    folder = write_cohort(tmp_path / f"bad-{uuid.uuid4().hex[:6]}", name=name)
    rows = read_manifest_rows(folder)
    rows[1]["level"] = "XII"
    write_manifest(folder, rows)
    return zip_folder(folder)


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post_upload(client: Client, content: bytes, name: str = "cohort.zip") -> Any:
    return client.post(
        reverse("cohorts:upload"),
        {"archive": SimpleUploadedFile(name, content, content_type="application/zip")},
    )


def assert_nothing_imported() -> None:
    assert Cohort.objects.count() == 0
    assert CTSeries.objects.count() == 0
    assert CTSlice.objects.count() == 0
    assert Node.objects.count() == 0


@pytest.fixture
def coordinator(make_user: Callable[..., User]) -> User:
    return make_user(Role.COORDINATOR)


@pytest.fixture
def reader(make_user: Callable[..., User]) -> User:
    return make_user(Role.READER)


@pytest.fixture
def upload_and_run(
    coordinator: User, django_capture_on_commit_callbacks: Callable[..., Any], monkeypatch
) -> Callable[..., ImportJob]:
    """Upload through the view as a coordinator, check the task is queued, run it in-process."""
    queued: list[int] = []
    monkeypatch.setattr(tasks.import_cohort_archive, "delay", queued.append)
    client = logged_in(coordinator)

    def run(content: bytes, name: str = "cohort.zip") -> ImportJob:
        with django_capture_on_commit_callbacks(execute=True):
            response = post_upload(client, content, name)
        job = ImportJob.objects.latest("pk")
        assert response.status_code == 302
        assert response["Location"] == reverse("cohorts:job", args=[job.pk])
        assert queued[-1] == job.pk  # the task is queued once the upload is committed
        assert job.status == JobStatus.PENDING and job.archive
        services.import_job_run(job_id=job.pk)
        job.refresh_from_db()
        return job

    return run


# --- archive safety and limits (the task run in-process) ------------------------------------


def test_upload_imports_and_removes_the_archive(
    tmp_path: Path, media_root: Path, upload_and_run: Callable[..., ImportJob]
) -> None:
    job = upload_and_run(cohort_zip(tmp_path), "my cohort.zip")

    assert job.status == JobStatus.SUCCEEDED, job.error
    assert (job.progress, job.stage, job.error) == (100, "imported", "")
    assert job.archive_name == "my cohort.zip"
    assert job.started_at and job.finished_at and job.started_at <= job.finished_at
    cohort = Cohort.objects.get()
    assert job.cohort == cohort and cohort.name == "Upload cohort"
    assert cohort.imported_by == job.created_by
    assert Node.objects.filter(series__patient__cohort=cohort).count() == 6
    # The uploaded zip is deleted once the job has finished; the imported files stay.
    assert not job.archive
    assert not [p for p in stored_files(media_root) if "uploads" in p.parts]
    assert len([p for p in stored_files(media_root) if p.suffix == ".dcm"]) == 16


def test_cohort_folder_one_level_down_imports(
    tmp_path: Path, upload_and_run: Callable[..., ImportJob]
) -> None:
    content = cohort_zip(tmp_path, prefix="export-2024/")
    with zipfile.ZipFile(io.BytesIO(content)) as bundle:
        assert "export-2024/manifest.csv" in bundle.namelist()
    job = upload_and_run(content)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert Cohort.objects.get().name == "Upload cohort"
    assert CTSlice.objects.count() == 16


def test_macos_resource_folder_next_to_the_cohort_is_ignored(
    tmp_path: Path, upload_and_run: Callable[..., ImportJob]
) -> None:
    folder = write_cohort(tmp_path / "src")
    content = zip_folder(
        folder, prefix="cohort/", extra={"__MACOSX/cohort/._manifest.csv": b"\0\5\26\7"}
    )
    job = upload_and_run(content)
    assert job.status == JobStatus.SUCCEEDED, job.error


def test_two_cohorts_in_one_archive_are_refused(
    tmp_path: Path, upload_and_run: Callable[..., ImportJob]
) -> None:
    first = write_cohort(tmp_path / "a", name="A")
    second = write_cohort(tmp_path / "b", name="B")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for prefix, folder in (("a/", first), ("b/", second)):
            for path in folder.rglob("*"):
                if path.is_file():
                    bundle.write(path, prefix + path.relative_to(folder).as_posix())
    job = upload_and_run(buffer.getvalue())
    assert job.status == JobStatus.FAILED
    assert "2 folders with a manifest.csv; upload one cohort per archive" in job.error
    assert_nothing_imported()


def _with_hostile_entry(tmp_path: Path, name: str, *, symlink_to: str | None = None) -> bytes:
    """A valid cohort plus one hostile entry: nothing of the cohort may be imported either."""
    buffer = io.BytesIO(cohort_zip(tmp_path))
    with zipfile.ZipFile(buffer, "a") as bundle:
        info = zipfile.ZipInfo(name)
        if symlink_to is None:
            bundle.writestr(info, b"pwned")
        else:
            info.create_system = 3  # Unix: the file type in external_attr is honoured
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            bundle.writestr(info, symlink_to)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as bundle:
        assert name in bundle.namelist()  # the hostile name survives zipping unchanged
    return buffer.getvalue()


@pytest.mark.parametrize(
    "entry",
    [
        "../escaped.txt",
        "MRN1000/../../escaped.txt",
        "{outside}",  # an absolute path
        "C:/Windows/escaped.txt",
        "..\\escaped.txt",
    ],
)
def test_entries_escaping_the_target_are_refused(
    tmp_path: Path, media_root: Path, upload_and_run: Callable[..., ImportJob], entry: str
) -> None:
    outside = tmp_path / f"outside-{uuid.uuid4().hex}.txt"
    entry = entry.format(outside=outside)

    job = upload_and_run(_with_hostile_entry(tmp_path, entry), "hostile.zip")

    assert job.status == JobStatus.FAILED
    assert job.error == f"hostile.zip: entry {entry!r} would be written outside the target folder"
    assert job.stage == "failed" and job.finished_at is not None and job.cohort is None
    assert_nothing_imported()
    assert not outside.exists()
    assert not list(tmp_path.rglob("escaped.txt"))
    assert stored_files(media_root) == []  # not even the uploaded zip is kept


def test_symlink_entry_is_refused(
    tmp_path: Path, media_root: Path, upload_and_run: Callable[..., ImportJob]
) -> None:
    content = _with_hostile_entry(tmp_path, "MRN1000/ct/link.dcm", symlink_to="/etc/passwd")

    job = upload_and_run(content, "hostile.zip")

    assert job.status == JobStatus.FAILED
    assert job.error == "hostile.zip: entry 'MRN1000/ct/link.dcm' is a symbolic link"
    assert_nothing_imported()
    assert stored_files(media_root) == []


def test_archive_over_the_upload_limit_is_refused_at_upload(
    tmp_path: Path,
    settings,
    coordinator: User,
    media_root: Path,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    content = cohort_zip(tmp_path)
    settings.COHORT_UPLOAD_MAX_BYTES = len(content) - 1
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_upload(logged_in(coordinator), content)

    assert response.status_code == 200
    errors = response.context["form"].errors["archive"]
    assert errors == [
        f"cohort.zip: archive is {len(content)} bytes, more than the limit of {len(content) - 1} bytes"
    ]
    assert "more than the limit" in response.content.decode()
    assert callbacks == []  # no task queued
    assert ImportJob.objects.count() == 0
    assert stored_files(media_root) == []


def test_archive_exactly_at_the_upload_limit_is_accepted(
    tmp_path: Path, settings, upload_and_run: Callable[..., ImportJob]
) -> None:
    content = cohort_zip(tmp_path)
    settings.COHORT_UPLOAD_MAX_BYTES = len(content)
    assert upload_and_run(content).status == JobStatus.SUCCEEDED


def test_archive_unpacking_beyond_the_limit_is_refused(
    tmp_path: Path, settings, media_root: Path, upload_and_run: Callable[..., ImportJob]
) -> None:
    content = cohort_zip(tmp_path)
    with zipfile.ZipFile(io.BytesIO(content)) as bundle:
        unpacked = sum(entry.file_size for entry in bundle.infolist())
    assert unpacked > len(content)  # the cohort compresses, so the two limits differ
    settings.COHORT_UPLOAD_MAX_UNPACKED_BYTES = unpacked - 1

    job = upload_and_run(content)

    assert job.status == JobStatus.FAILED
    assert f"archive unpacks to more than the limit of {unpacked - 1} bytes" in job.error
    assert_nothing_imported()
    assert stored_files(media_root) == []


def test_highly_compressed_archive_is_refused_before_unpacking(
    settings, upload_and_run: Callable[..., ImportJob]
) -> None:
    """A small zip of a large file (a zip bomb in miniature) is refused from its declared size."""
    settings.COHORT_UPLOAD_MAX_UNPACKED_BYTES = 1024**2
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bundle:
        bundle.writestr("cohort/manifest.csv", b"patient_id\n")
        bundle.writestr("cohort/padding.bin", b"\0" * (8 * 1024**2))
    content = buffer.getvalue()
    assert len(content) < 20_000

    job = upload_and_run(content)

    assert job.status == JobStatus.FAILED
    assert "archive unpacks to more than the limit of 1048576 bytes" in job.error


def test_zip_bomb_is_refused_by_the_compression_ratio_before_unpacking(
    settings, monkeypatch, upload_and_run: Callable[..., ImportJob]
) -> None:
    """Within the size limits, but unpacking to 1000 times its size: refused unread."""
    settings.COHORT_UPLOAD_MAX_COMPRESSION_RATIO = 10
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bundle:
        bundle.writestr("cohort/manifest.csv", b"patient_id\n")
        bundle.writestr("cohort/padding.bin", b"\0" * (8 * 1024**2))
    content = buffer.getvalue()
    unpacked = 8 * 1024**2 + len(b"patient_id\n")
    assert unpacked < settings.COHORT_UPLOAD_MAX_UNPACKED_BYTES
    extracted: list[str] = []
    monkeypatch.setattr(
        zipfile.ZipFile, "extract", lambda self, member, *a: extracted.append(member)
    )

    job = upload_and_run(content, "bomb.zip")

    assert job.status == JobStatus.FAILED
    assert job.error == (
        f"bomb.zip: archive unpacks to {unpacked} bytes, {unpacked / len(content):.0f} times its "
        f"own size of {len(content)} bytes; the limit is 10 times "
        "(COHORT_UPLOAD_MAX_COMPRESSION_RATIO): is it a zip bomb?"
    )
    assert extracted == []  # refused from the declared sizes, nothing unpacked
    assert_nothing_imported()


def test_default_ratio_limit_admits_a_cohort(
    tmp_path: Path, settings, upload_and_run: Callable[..., ImportJob]
) -> None:
    """The test cohort compresses better than real CT; it still fits the default limit."""
    content = cohort_zip(tmp_path)
    with zipfile.ZipFile(io.BytesIO(content)) as bundle:
        ratio = sum(entry.file_size for entry in bundle.infolist()) / len(content)
    assert 1 < ratio < settings.COHORT_UPLOAD_MAX_COMPRESSION_RATIO
    assert upload_and_run(content).status == JobStatus.SUCCEEDED


# --- what coordinators are told: the archive's fault, never the server's paths ---------------


def _assert_no_server_detail(error: str, settings) -> None:
    for detail in (str(settings.COHORT_IMPORT_WORK_DIR), "/tmp", "Traceback", "Error("):
        assert detail not in error, error
    assert "internal error" not in error


def _with_entries(tmp_path: Path, entries: list[zipfile.ZipInfo | str]) -> bytes:
    buffer = io.BytesIO(cohort_zip(tmp_path))
    with zipfile.ZipFile(buffer, "a") as bundle:
        for entry in entries:
            bundle.writestr(entry, b"x")
    return buffer.getvalue()


@pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")
@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (["MRN1000/ct"], "entry 'MRN1000/ct' is both a file and a folder in the archive"),
        (["manifest.csv/"], "entry 'manifest.csv' is both a file and a folder in the archive"),
        (["MRN1000/nodes.npy"], "entry 'MRN1000/nodes.npy' appears more than once"),
    ],
)
def test_name_clash_in_the_archive_is_named(
    tmp_path: Path,
    settings,
    media_root: Path,
    upload_and_run: Callable[..., ImportJob],
    entries: list[str],
    message: str,
) -> None:
    job = upload_and_run(_with_entries(tmp_path, entries), "clash.zip")

    assert job.status == JobStatus.FAILED
    assert job.error.startswith(f"clash.zip: {message}"), job.error
    _assert_no_server_detail(job.error, settings)
    assert_nothing_imported()
    assert stored_files(media_root) == []


def _mark_encrypted(content: bytes, name: str) -> bytes:
    """Set the "encrypted" flag of one entry, as a password-protected zip has it.

    Python's zipfile writes no encrypted entries, so the flag bit is set in the entry's local
    header (flags at offset 6) and its central directory record (flags at offset 8).
    """
    data = bytearray(content)
    with zipfile.ZipFile(io.BytesIO(content)) as bundle:
        data[bundle.getinfo(name).header_offset + 6] |= 0x1
    start = 0
    while (start := data.find(b"PK\x01\x02", start)) >= 0:
        length = int.from_bytes(data[start + 28 : start + 30], "little")
        if data[start + 46 : start + 46 + length] == name.encode():
            data[start + 8] |= 0x1
        start += 4
    return bytes(data)


def test_encrypted_entry_is_named(
    tmp_path: Path, settings, upload_and_run: Callable[..., ImportJob]
) -> None:
    content = _mark_encrypted(_with_entries(tmp_path, ["MRN1000/secret.dcm"]), "MRN1000/secret.dcm")
    with zipfile.ZipFile(io.BytesIO(content)) as bundle, pytest.raises(RuntimeError):
        bundle.read("MRN1000/secret.dcm")  # Python refuses it too: "password required"

    job = upload_and_run(content, "locked.zip")

    assert job.status == JobStatus.FAILED
    assert job.error == (
        "locked.zip: entry 'MRN1000/secret.dcm' is encrypted; password-protected archives "
        "cannot be imported"
    )
    _assert_no_server_detail(job.error, settings)
    assert_nothing_imported()


def test_unexpected_error_shows_a_neutral_message_with_an_id_from_the_log(
    tmp_path: Path,
    settings,
    monkeypatch,
    caplog,
    media_root: Path,
    upload_and_run: Callable[..., ImportJob],
) -> None:
    def broken(folder: Path, **kwargs: Any) -> None:
        raise RuntimeError(f"cannot read {folder}/secret-server-file")

    monkeypatch.setattr(services, "cohort_import_folder", broken)
    job = upload_and_run(cohort_zip(tmp_path), "fine.zip")

    assert job.status == JobStatus.FAILED
    match = re.fullmatch(
        r"the import stopped on an unexpected error \(error id ([0-9a-f]{12})\); nothing was "
        r"imported\. Please give the error id to an administrator: the server log has the details\.",
        job.error,
    )
    assert match, job.error
    _assert_no_server_detail(job.error, settings)
    assert "secret-server-file" not in job.error and "RuntimeError" not in job.error
    logged = [r for r in caplog.records if match[1] in r.getMessage()]
    assert len(logged) == 1 and logged[0].levelname == "ERROR"
    assert "secret-server-file" in str(logged[0].exc_info[1])  # the details are in the log
    assert not job.archive and stored_files(media_root) == []


def test_non_zip_name_is_refused_at_upload(
    coordinator: User, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_upload(logged_in(coordinator), b"patient_id,series\n", "manifest.csv")
    assert response.status_code == 200
    assert response.context["form"].errors["archive"] == ["manifest.csv: expected a .zip archive"]
    assert callbacks == [] and ImportJob.objects.count() == 0


def test_file_named_zip_that_is_not_a_zip_fails_the_job(
    media_root: Path, upload_and_run: Callable[..., ImportJob]
) -> None:
    job = upload_and_run(b"%PDF-1.7 this is not a zip archive", "scan.zip")
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("scan.zip: not a zip archive")
    assert_nothing_imported()
    assert stored_files(media_root) == []


def test_corrupt_zip_fails_the_job_with_a_clear_error(
    tmp_path: Path, media_root: Path, upload_and_run: Callable[..., ImportJob]
) -> None:
    content = bytearray(cohort_zip(tmp_path))
    # Flip bytes inside the first member's compressed data: its CRC check fails on unpacking.
    with zipfile.ZipFile(io.BytesIO(bytes(content))) as bundle:
        first = bundle.infolist()[0]
    data_start = first.header_offset + 30 + len(first.filename.encode()) + len(first.extra)
    for offset in range(data_start, data_start + min(16, first.compress_size)):
        content[offset] ^= 0xFF
    job = upload_and_run(bytes(content))
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("cohort.zip: corrupt or unsupported zip archive")
    assert_nothing_imported()


def test_zip_without_a_manifest_fails_the_job(upload_and_run: Callable[..., ImportJob]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("notes.txt", b"hello")
    job = upload_and_run(buffer.getvalue())
    assert job.status == JobStatus.FAILED
    assert job.error == "cohort.zip: no manifest.csv in the archive"


def test_missing_file_is_a_form_error(coordinator: User) -> None:
    response = logged_in(coordinator).post(reverse("cohorts:upload"), {})
    assert response.status_code == 200
    assert response.context["form"].errors["archive"] == ["This field is required."]
    assert ImportJob.objects.count() == 0


def test_running_a_finished_job_again_changes_nothing(
    tmp_path: Path, upload_and_run: Callable[..., ImportJob]
) -> None:
    job = upload_and_run(cohort_zip(tmp_path))
    assert job.status == JobStatus.SUCCEEDED
    before = ImportJob.objects.filter(pk=job.pk).values().get()

    tasks.import_cohort_archive(job.pk)  # a redelivered task message, run in-process
    services.import_job_run(job_id=job.pk)

    assert ImportJob.objects.filter(pk=job.pk).values().get() == before
    assert Cohort.objects.count() == 1 and CTSlice.objects.count() == 16


def test_uploading_identical_content_again_is_a_noop_job(
    tmp_path: Path, upload_and_run: Callable[..., ImportJob]
) -> None:
    content = cohort_zip(tmp_path)
    first = upload_and_run(content)
    second = upload_and_run(content)
    assert second.status == JobStatus.SUCCEEDED
    assert second.stage == "already imported (identical content): nothing changed"
    assert second.cohort == first.cohort
    assert Cohort.objects.count() == 1 and CTSlice.objects.count() == 16


# --- permissions ----------------------------------------------------------------------------


def _job_of(user: User) -> ImportJob:
    return ImportJob.objects.create(created_by=user, archive_name="theirs.zip", stage="queued")


def test_reader_may_not_upload(reader: User) -> None:
    client = logged_in(reader)
    assert client.get(reverse("cohorts:upload")).status_code == 403
    response = post_upload(client, b"PK\5\6" + b"\0" * 18)
    assert response.status_code == 403
    assert ImportJob.objects.count() == 0
    assert client.get(reverse("cohorts:list")).status_code == 403


def test_reader_gets_404_for_someone_elses_job(reader: User, coordinator: User) -> None:
    job = _job_of(coordinator)
    client = logged_in(reader)
    assert client.get(reverse("cohorts:job", args=[job.pk])).status_code == 404
    response = client.get(reverse("cohorts:api-job", args=[job.pk]))
    assert response.status_code == 404
    assert "theirs.zip" not in response.content.decode()


def test_user_without_view_permission_sees_their_own_job(reader: User) -> None:
    job = _job_of(reader)
    client = logged_in(reader)
    assert client.get(reverse("cohorts:job", args=[job.pk])).status_code == 200
    assert client.get(reverse("cohorts:api-job", args=[job.pk])).json()["archive_name"] == (
        "theirs.zip"
    )


def test_coordinators_see_each_others_jobs(
    make_user: Callable[..., User], coordinator: User
) -> None:
    job = _job_of(coordinator)
    other = logged_in(make_user(Role.COORDINATOR))
    assert other.get(reverse("cohorts:job", args=[job.pk])).status_code == 200
    assert other.get(reverse("cohorts:api-job", args=[job.pk])).json()["id"] == job.pk


def test_unknown_job_is_404(coordinator: User) -> None:
    client = logged_in(coordinator)
    assert client.get(reverse("cohorts:job", args=[999_999])).status_code == 404
    assert client.get(reverse("cohorts:api-job", args=[999_999])).status_code == 404


def test_anonymous_users_are_sent_to_login(coordinator: User) -> None:
    client = Client()
    job = _job_of(coordinator)
    login = reverse("login")
    for url in (reverse("cohorts:upload"), reverse("cohorts:job", args=[job.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"{login}?next={url}"
    response = post_upload(client, b"PK\5\6" + b"\0" * 18)
    assert response.status_code == 302 and response["Location"].startswith(login)
    assert ImportJob.objects.count() == 1  # only the one made above
    api = client.get(reverse("cohorts:api-job", args=[job.pk]))
    assert api.status_code == 403
    assert "theirs.zip" not in api.content.decode()


# --- end to end through the real Celery worker ----------------------------------------------


@pytest.fixture
def shared_media(celery_worker_process: dict[str, Any], settings) -> Iterator[Path]:
    """Point the web side at the worker's media folder; remove this test's files afterwards."""
    media = Path(celery_worker_process["media_root"])
    settings.MEDIA_ROOT = media
    before = set(stored_files(media))
    yield media
    for path in set(stored_files(media)) - before:
        path.unlink(missing_ok=True)


def poll_job(client: Client, job_id: int, *, timeout: float = 120) -> list[dict[str, Any]]:
    """Poll the JSON status API until the job finishes; returns every answer seen."""
    seen: list[dict[str, Any]] = []
    url = reverse("cohorts:api-job", args=[job_id])

    def finished() -> bool:
        response = client.get(url, HTTP_ACCEPT="application/json")
        assert response.status_code == 200
        seen.append(response.json())
        return seen[-1]["status"] in FINISHED

    wait_for(finished, timeout=timeout, interval=0.2)
    return seen


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_upload_runs_on_the_worker_end_to_end(
    tmp_path: Path, coordinator: User, shared_media: Path
) -> None:
    client = logged_in(coordinator)
    name = f"Worker cohort {uuid.uuid4().hex[:8]}"
    response = client.post(
        reverse("cohorts:upload"),
        {"archive": SimpleUploadedFile("worker.zip", cohort_zip(tmp_path, name=name))},
        follow=True,
    )
    job = ImportJob.objects.get(created_by=coordinator)
    assert response.redirect_chain == [(reverse("cohorts:job", args=[job.pk]), 302)]
    page = response.content.decode()
    assert f"Import job #{job.pk}" in page and "worker.zip" in page
    assert f"Upload received; import job {job.pk} is queued." in page
    assert 'data-status-url="{}"'.format(reverse("cohorts:api-job", args=[job.pk])) in page

    seen = poll_job(client, job.pk)

    final = seen[-1]
    assert final["status"] == "succeeded", final
    assert final["progress"] == 100 and final["stage"] == "imported"
    assert final["cohort"] == name and final["error"] == "" and final["finished_at"]
    progress = [answer["progress"] for answer in seen]
    assert progress == sorted(progress)  # never goes backwards
    assert {answer["status"] for answer in seen} <= {"pending", "running", "succeeded"}
    cohort = Cohort.objects.get(name=name)
    assert cohort.imported_by == coordinator
    assert CTSlice.objects.filter(series__patient__cohort=cohort).count() == 16
    job.refresh_from_db()
    assert job.cohort == cohort and not job.archive
    for stored in CTSlice.objects.filter(series__patient__cohort=cohort):
        assert (shared_media / stored.file.name).is_file()  # written by the worker, seen here
    assert name in client.get(reverse("cohorts:list")).content.decode()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_bad_manifest_fails_on_the_worker_with_file_row_and_field(
    tmp_path: Path, coordinator: User, shared_media: Path
) -> None:
    client = logged_in(coordinator)
    response = post_upload(client, broken_manifest_zip(tmp_path), "broken.zip")
    assert response.status_code == 302
    job = ImportJob.objects.get(created_by=coordinator)

    final = poll_job(client, job.pk)[-1]

    assert final["status"] == "failed", final
    assert final["stage"] == "failed" and final["cohort"] is None
    assert "manifest.csv, row 3, field 'level'" in final["error"]
    assert "XII" in final["error"]
    page = client.get(reverse("cohorts:job", args=[job.pk])).content.decode()
    assert "manifest.csv, row 3, field &#x27;level&#x27;" in page
    assert '<span id="job-status" class="status failed">Failed</span>' in page
    assert Cohort.objects.count() == 0
    job.refresh_from_db()
    assert not job.archive  # removed after the failure too


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_redelivered_task_for_a_finished_job_is_a_noop_on_the_worker(
    tmp_path: Path, coordinator: User, shared_media: Path
) -> None:
    from readerstudy.core.models import WorkerHeartbeat

    client = logged_in(coordinator)
    name = f"Redelivered {uuid.uuid4().hex[:8]}"
    post_upload(client, cohort_zip(tmp_path, name=name))
    job = ImportJob.objects.get(created_by=coordinator)
    assert poll_job(client, job.pk)[-1]["status"] == "succeeded"
    before = ImportJob.objects.filter(pk=job.pk).values().get()
    files_before = sorted(stored_files(shared_media))

    # Deliver the same task again, then a marker task on the same queue: the worker takes the
    # imports queue in order, so once the marker has run the redelivered task has run too.
    tasks.import_cohort_archive.delay(job.pk)
    marker = f"after-redelivery-{uuid.uuid4().hex}"
    tasks.ping.apply_async(args=[marker], queue="imports")
    wait_for(lambda: WorkerHeartbeat.objects.filter(marker=marker).exists(), timeout=90)

    assert ImportJob.objects.filter(pk=job.pk).values().get() == before
    assert Cohort.objects.filter(name=name).count() == 1
    assert sorted(stored_files(shared_media)) == files_before
