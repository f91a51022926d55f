"""Benchmark: a reader opening a case in the viewer, through the real image endpoints.

Builds a scratch SQLite database and media folder (removed afterwards), imports one cohort of
60-slice 512 x 512 CT series (tests/cohort_factory's writer, 3 patients x 3 nodes), opens a
study with one reader and measures with Django's test client (in-process: server time, no
network):

  first image   images JSON + the node's central slice, with Django's cache cleared before
                every case (the derived-data cache is cold; the OS file cache is not);
  slices        every other slice of the case (the viewer's prefetch), per-slice latency;
  blinding only the blinded copy of a slice without HTTP and database (read, copy, write);
  outline / reformats   cold (cache cleared) and warm;
  dicomweb      series metadata (60 instances) and a series retrieve, for a coordinator.

    python benchmarks/bench_images.py [--repeats 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _setup(scratch: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{scratch / 'bench.sqlite3'}"
    os.environ["MEDIA_ROOT"] = str(scratch / "media")
    os.environ["DJANGO_SETTINGS_MODULE"] = "readerstudy.settings"
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ["DEBUG"] = "0"
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = ["testserver"]
    settings.SECURE_SSL_REDIRECT = False
    call_command("migrate", verbosity=0)


def _cohort(folder: Path, slices: int) -> Path:
    import tests.cohort_factory as factory

    factory.ROWS = factory.COLUMNS = 512  # a clinical matrix instead of the tests' 32 x 32
    patients = []
    for p in range(3):
        nodes = [
            factory.NodeRow(
                f"N{k + 1}",
                k + 1,
                box=(20 + 8 * k, 150 + 60 * k, 140, 28 + 8 * k, 180 + 60 * k, 175),
            )
            for k in range(3)
        ]
        patients.append(factory.PatientRow(patient_id=f"BENCH{p}", nodes=nodes))
    return factory.write_cohort(folder, name="Bench cohort", patients=patients, slices=slices)


def _stats(values: list[float]) -> dict:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values) * 1000, 2),
        "p95_ms": round(p95 * 1000, 2),
        "max_ms": round(max(values) * 1000, 2),
    }


def _get(client, url: str) -> tuple[float, object]:
    start = time.perf_counter()
    response = client.get(url)
    if hasattr(response, "streaming_content"):
        body = b"".join(response.streaming_content)
    else:
        body = response.content
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, (url, response.status_code, body[:200])
    return elapsed, response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="cold case openings")
    parser.add_argument("--slices", type=int, default=60)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-images-"))
    try:
        _setup(scratch)
        from django.core.cache import cache
        from django.test import Client

        from readerstudy.accounts.models import Role
        from readerstudy.accounts.services import user_create_or_update
        from readerstudy.cohorts.models import CTSeries
        from readerstudy.cohorts.services import cohort_import_folder
        from readerstudy.studies import services

        cohort = cohort_import_folder(_cohort(scratch / "cohort", args.slices)).cohort
        reader = user_create_or_update(
            username="bench-reader", password="x-bench-1", role=Role.READER
        )
        coordinator = user_create_or_update(
            username="bench-coordinator", password="x-bench-1", role=Role.COORDINATOR
        )
        study = services.study_create(name="Bench study", cohorts=[cohort], order_seed=1)
        services.study_assign_readers(study=study, readers=[reader])
        services.study_open(study=study)
        client = Client()
        client.force_login(reader)
        cases = study.cases.count()

        # One request first: the URL resolver, DRF and pydicom are loaded once per process.
        warm = Client()
        warm.force_login(reader)
        _get(warm, f"/api/v1/studies/{study.pk}/arms/1/items/{cases}/images/slices/0")

        first_image, json_only, slices, outline_cold, outline_warm = [], [], [], [], []
        reformat_cold, reformat_warm = [], []
        for repeat in range(args.repeats):
            position = repeat % cases + 1
            item = f"/api/v1/studies/{study.pk}/arms/1/items/{position}/images"
            cache.clear()
            t_json, response = _get(client, item)
            data = response.json()
            t_slice, _ = _get(client, data["slices"][data["node"]["central_slice"]])
            json_only.append(t_json)
            first_image.append(t_json + t_slice)
            for index, url in enumerate(data["slices"]):
                if index != data["node"]["central_slice"]:
                    slices.append(_get(client, url)[0])
            outline_cold.append(_get(client, data["outline_url"])[0])
            outline_warm.append(_get(client, data["outline_url"])[0])
            for plane in ("coronal", "sagittal"):
                reformat_cold.append(_get(client, data["reformats"][plane])[0])
                reformat_warm.append(_get(client, data["reformats"][plane])[0])

        # The blinding alone (read the stored file, whitelist copy, write), no HTTP or database.
        from readerstudy.cohorts.models import CTSlice
        from readerstudy.imaging.selectors import reader_key, reader_slice_bytes

        key = reader_key(reader_id=reader.pk, study_id=study.pk)
        blinding = []
        for stored in CTSlice.objects.order_by("pk")[: args.slices]:
            start = time.perf_counter()
            reader_slice_bytes(stored_slice=stored, key=key, label="Case 001")
            blinding.append(time.perf_counter() - start)

        staff = Client()
        staff.force_login(coordinator)
        series = CTSeries.objects.order_by("pk").first()
        base = f"/api/v1/dicomweb/studies/{series.study_instance_uid}/series/{series.series_instance_uid}"
        metadata = [_get(staff, f"{base}/metadata")[0] for _ in range(3)]
        retrieve = [_get(staff, base)[0] for _ in range(3)]

        result = {
            "series": {"slices": args.slices, "rows": 512, "columns": 512},
            "first_image_cold": _stats(first_image),
            "images_json_cold": _stats(json_only),
            "slice": _stats(slices),
            "blinding_only": _stats(blinding),
            "outline_cold": _stats(outline_cold),
            "outline_warm": _stats(outline_warm),
            "reformat_cold": _stats(reformat_cold),
            "reformat_warm": _stats(reformat_warm),
            "dicomweb_series_metadata": _stats(metadata),
            "dicomweb_series_retrieve": _stats(retrieve),
            "load_average": os.getloadavg(),
        }
        print(json.dumps(result, indent=2))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
