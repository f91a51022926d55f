"""Benchmark: the results dashboard and the reads export.

Creates a scratch PostgreSQL database on the server of DATABASE_URL, migrates it, builds
database-only cohorts (tests/results_factory.py) and reads written with bulk_create (the
simulated panel's draws), measures, and drops the database again:

  cold      results_current() of 5 readers and 1 model x ~2,000 nodes x 4 cohorts (3 tasks
            each, pooled too; the model's thresholds carried from the internal cohort):
            fingerprint, node-level and patient-clustered reports, snapshot stored, in a
            process that has computed results before (as a Celery worker has); the first
            computation in a fresh process is reported too;
  cached    GET /studies/<id>/results/ as a statistician with the snapshot up to date
            (median of --repeat requests);
  export    GET /studies/<id>/results/reads.csv of a study with --export-reads reads, consumed
            as a stream: wall time, then (a second download) the peak of Python allocations
            (tracemalloc), also for a tenth of the reads, to show memory does not grow with the
            export.

Targets (issue 14): cold <= 2 s, cached page <= 200 ms, 100,000-read export <= 5 s, flat memory.

    python benchmarks/bench_dashboard.py [--nodes 2000] [--readers 5] [--models 1] [--cohorts 4]
        [--export-reads 100000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent


def _django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "readerstudy.settings"
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    # pages are rendered without collectstatic, as in the tests
    os.environ.setdefault(
        "STATICFILES_BACKEND", "django.contrib.staticfiles.storage.StaticFilesStorage"
    )
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django

    django.setup()


def _study(
    *, name: str, cohorts: int, nodes: int, readers: int, arms: int, seed: int, models: int = 0
):
    from readerstudy.cohorts.models import Node
    from readerstudy.studies import services
    from readerstudy.studies.models import Read
    from readerstudy.studies.simulation import (
        SIMULATED_PANEL,
        SimulatedReaderProfile,
        simulated_read_draw,
        simulated_readers_ensure,
    )
    from tests.results_factory import db_cohort, db_model_predictions

    # ~3 nodes per patient on average (1-5)
    made = [
        db_cohort(
            name=f"{name} {'internal' if c == 0 else 'external'} {c}",
            patients=max(2, nodes // cohorts // 3),
            seed=seed * 10 + c,
        )
        for c in range(cohorts)
    ]
    panel = [
        SimulatedReaderProfile(
            **{
                **SIMULATED_PANEL[i % len(SIMULATED_PANEL)].__dict__,
                "username": f"bench-{name}-{i}",
            }
        )
        for i in range(readers)
    ]
    users = simulated_readers_ensure(panel=panel)
    study = services.study_create(
        name=name,
        cohorts=made,
        arms=[services.ArmSpec(f"arm {a + 1}", shows_model_output=a > 0) for a in range(arms)],
        order_seed=seed,
        ask_confidence=True,
    )
    services.study_assign_readers(study=study, readers=users)
    study = services.study_open(study=study)
    node_rows = list(
        Node.objects.filter(study_cases__study=study).values_list(
            "pk", "reference__call", "short_axis_mm", "series__patient__cohort__name"
        )
    )
    batch = []
    for profile, user in zip(panel, users, strict=True):
        for arm in study.arms.all():
            for node_id, reference, short_axis, cohort in node_rows:
                draw = simulated_read_draw(
                    profile=profile,
                    seed=seed,
                    study_id=study.pk,
                    node_id=node_id,
                    reference=reference,
                    external="external" in cohort,
                    short_axis_mm=short_axis,
                    arm_position=arm.position,
                    aided=arm.shows_model_output,
                    ask_confidence=True,
                    ask_signs=False,
                )
                batch.append(
                    Read(
                        arm=arm,
                        reader=user,
                        node_id=node_id,
                        call=draw.call,
                        confidence=draw.confidence,
                        active_seconds=draw.active_seconds,
                        idempotency_key=draw.idempotency_key,
                    )
                )
                if len(batch) >= 20000:
                    Read.objects.bulk_create(batch)
                    batch = []
    Read.objects.bulk_create(batch)
    for index in range(models):
        db_model_predictions(node_rows, label=f"bench-{name}-model-{index + 1}", seed=seed + index)
    return study, len(node_rows)


def _consume(client, study) -> tuple[int, int]:
    response = client.get(f"/studies/{study.pk}/results/reads.csv")
    lines = 0
    size = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\n")
    return lines - 1, size


def _export(client, study) -> tuple[float, int, int]:
    """Wall time of a download (tracemalloc off: it slows allocation-heavy code severalfold),
    then the peak of Python allocations of a second, traced download."""
    started = time.perf_counter()
    rows, _ = _consume(client, study)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    _consume(client, study)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, rows, peak


def _benchmark(args, database_url: str) -> dict:
    _django(database_url)
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    from readerstudy.accounts.models import Role
    from readerstudy.accounts.services import user_create_or_update
    from readerstudy.results import services

    statistician = user_create_or_update(
        username="bench-statistician", password="bench-pass-1234", role=Role.STATISTICIAN
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(statistician)

    study, n_nodes = _study(
        name="dashboard",
        cohorts=args.cohorts,
        nodes=args.nodes,
        readers=args.readers,
        arms=1,
        seed=1,
        models=args.models,
    )
    from readerstudy.results.models import ResultSnapshot

    # A worker computes in a process that has computed before: "cold" is the second computation
    # with no snapshot stored; the first in this process (one-time imports and query
    # compilation included) is reported beside it.
    started = time.perf_counter()
    services.results_current(study=study)
    first_in_process = time.perf_counter() - started
    ResultSnapshot.objects.filter(study=study).delete()
    started = time.perf_counter()
    snapshot = services.results_current(study=study)
    cold = time.perf_counter() - started

    url = f"/studies/{study.pk}/results/"
    assert client.get(url).status_code == 200  # warm the template cache
    page_times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        response = client.get(url)
        page_times.append(time.perf_counter() - started)
        assert response.status_code == 200

    figures: dict = {
        "nodes": n_nodes,
        "readers": args.readers,
        "cohorts": args.cohorts,
        "models": args.models,
        "reads": snapshot.n_reads,
        "cold_seconds": round(cold, 3),
        "cold_first_in_process_seconds": round(first_in_process, 3),
        "cold_target_seconds": 2.0,
        "cached_page_median_ms": round(1000 * statistics.median(page_times), 1),
        "cached_page_max_ms": round(1000 * max(page_times), 1),
        "cached_page_target_ms": 200,
    }
    if args.export_reads:
        readers = 25
        arms = 2
        nodes = max(2, args.export_reads // (readers * arms))
        export_study, export_nodes = _study(
            name="export", cohorts=2, nodes=nodes, readers=readers, arms=arms, seed=2
        )
        seconds, rows, peak = _export(client, export_study)
        small_study, _ = _study(
            name="export-small", cohorts=2, nodes=nodes // 10, readers=readers, arms=arms, seed=3
        )
        small_seconds, small_rows, small_peak = _export(client, small_study)
        figures.update(
            {
                "export_rows": rows,
                "export_seconds": round(seconds, 3),
                "export_target_seconds": 5.0,
                "export_peak_python_mib": round(peak / 2**20, 2),
                "export_small_rows": small_rows,
                "export_small_seconds": round(small_seconds, 3),
                "export_small_peak_python_mib": round(small_peak / 2**20, 2),
            }
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--readers", type=int, default=5)
    parser.add_argument("--cohorts", type=int, default=4)
    parser.add_argument(
        "--models",
        type=int,
        default=1,
        help="model versions that predicted every node (compared with the readers, thresholds "
        "carried from the internal cohort)",
    )
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--export-reads", type=int, default=100_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not server.startswith(("postgres://", "postgresql://")):
        parser.error("DATABASE_URL must name a PostgreSQL server (the scratch database goes there)")
    scratch = f"rs_bench_dashboard_{os.getpid()}"
    database_url = urlparse(server)._replace(path=f"/{scratch}").geturl()
    import psycopg

    admin_url = urlparse(server)._replace(path="/postgres").geturl()
    admin_url = admin_url.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{scratch}"')
    try:
        figures = _benchmark(args, database_url)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
