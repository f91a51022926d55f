"""Benchmark: recording reads (studies.services.read_submit) with many concurrent clients.

Creates a scratch PostgreSQL database on the server of DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/), migrates it, builds a study (one cohort of database-only
nodes, one reader per client, two arms), runs two phases and drops the database again:

  distinct  every client records its own reader's reads in arm 1, one new key each:
            latency of read_submit (p50, p95, max) and throughput;
  mixed     arm 2: every read gets a creation and a change, each key sent in 1-3 copies by
            different clients at the same time plus immediate retries by the sender, all
            clients at once; counts submissions, reads, events and errors, and checks that no
            key is lost or recorded twice.

Clients are threads in several spawned processes, each thread with its own database
connection; everything talks to the database over loopback and stops by itself.

    python benchmarks/bench_read_submit.py [--clients 50] [--processes 5] [--reads 40]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
CALLS = ("benign", "metastasis", "ene")


def _django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "readerstudy.settings"
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django

    django.setup()


def _server_admin_url(database_url: str) -> str:
    return urlparse(database_url)._replace(path="/postgres").geturl()


def _psycopg_url(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


# --- child processes ------------------------------------------------------------------------


def _client(jobs: list[dict], barrier, results: list) -> None:
    from django.db import connection

    from readerstudy.accounts.models import User
    from readerstudy.cohorts.models import Node
    from readerstudy.studies.models import ReadingArm
    from readerstudy.studies.services import read_submit

    users: dict[int, object] = {}
    arms: dict[int, object] = {}
    nodes: dict[int, object] = {}
    try:
        for job in jobs:  # objects fetched before the clock starts
            users.setdefault(job["reader"], User.objects.get(pk=job["reader"]))
            arms.setdefault(job["arm"], ReadingArm.objects.get(pk=job["arm"]))
            nodes.setdefault(job["node"], Node.objects.get(pk=job["node"]))
        barrier.wait(timeout=300)
        for job in jobs:
            for attempt in range(1 + job["retries"]):
                started = time.perf_counter()
                try:
                    _read, changed = read_submit(
                        reader=users[job["reader"]],
                        arm=arms[job["arm"]],
                        node=nodes[job["node"]],
                        call=job["call"],
                        confidence=None,
                        active_seconds=job["seconds"],
                        idempotency_key=uuid.UUID(job["key"]),
                    )
                    error = None
                except Exception as exc:  # noqa: BLE001 - counted, and the run must show 0
                    changed, error = None, f"{type(exc).__name__}: {exc}"
                results.append(
                    {
                        "key": job["key"],
                        "retry": attempt > 0,
                        "seconds": time.perf_counter() - started,
                        "finished": time.time(),
                        "changed": changed,
                        "error": error,
                    }
                )
    finally:
        connection.close()


def _process(database_url: str, client_jobs: list[list[dict]], barrier, queue) -> None:
    _django(database_url)
    results: list[dict] = []
    threads = [threading.Thread(target=_client, args=(j, barrier, results)) for j in client_jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(results)


def _run_phase(database_url: str, client_jobs: list[list[dict]], processes: int) -> dict:
    """Run the clients (split over processes) from a common start; wall time and outcomes."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(client_jobs) + 1)
    queue = context.Queue()
    per_process = [client_jobs[p::processes] for p in range(processes)]
    workers = [
        context.Process(target=_process, args=(database_url, jobs, barrier, queue))
        for jobs in per_process
        if jobs
    ]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=300)
    started = time.time()
    outcomes = [outcome for _ in workers for outcome in queue.get(timeout=600)]
    for worker in workers:
        worker.join(timeout=60)
    wall = max(o["finished"] for o in outcomes) - started
    return {"outcomes": outcomes, "wall_seconds": wall}


# --- set-up in the parent -------------------------------------------------------------------


def _build_study(*, clients: int, nodes_count: int):
    """A study whose nodes exist only as rows (read_submit never touches image files)."""
    from readerstudy.accounts.models import Role, User
    from readerstudy.accounts.services import roles_ensure
    from readerstudy.cohorts.models import Cohort, CTSeries, Node, Patient
    from readerstudy.studies import services

    groups = roles_ensure()
    cohort = Cohort.objects.create(name="bench", content_sha256="0" * 64, is_synthetic=True)
    patients = Patient.objects.bulk_create(
        Patient(cohort=cohort, pseudonym=f"BENCH-{i:04d}") for i in range(nodes_count // 5 + 1)
    )
    series = CTSeries.objects.bulk_create(
        CTSeries(
            patient=patient,
            study_instance_uid=f"1.2.{i}",
            series_instance_uid=f"1.2.{i}.1",
            rows=256,
            columns=256,
            slice_count=40,
            pixel_spacing_row_mm=0.7,
            pixel_spacing_column_mm=0.7,
            slice_spacing_mm=3.0,
            image_orientation=[1, 0, 0, 0, 1, 0],
            first_position=[0, 0, 0],
            label_map="bench/none.npz",
        )
        for i, patient in enumerate(patients)
    )
    Node.objects.bulk_create(
        Node(
            series=series[i // 5],
            label=f"N{i % 5 + 1}",
            mask_label=i % 5 + 1,
            level="II",
            side="left",
            voxel_count=100,
            centroid_voxel=[1, 1, 1],
            centroid_mm=[1, 1, 1],
            bbox=[0, 0, 0, 2, 2, 2],
            short_axis_mm=8,
            long_axis_mm=10,
            volume_mm3=300,
        )
        for i in range(nodes_count)
    )
    readers = User.objects.bulk_create(
        User(username=f"bench-reader-{i:03d}", password="!") for i in range(clients)
    )
    groups[str(Role.READER)].user_set.add(*readers)
    study = services.study_create(
        name="bench",
        cohorts=[cohort],
        arms=[services.ArmSpec("unaided"), services.ArmSpec("AI-aided", shows_model_output=True)],
        order_seed=1,
    )
    services.study_assign_readers(study=study, readers=readers)
    services.study_open(study=study)
    arms = list(study.arms.order_by("position"))
    node_ids = list(Node.objects.order_by("pk").values_list("pk", flat=True))
    return readers, arms, node_ids


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--processes", type=int, default=5)
    parser.add_argument("--reads", type=int, default=40, help="distinct reads per client")
    parser.add_argument("--mixed-reads", type=int, default=10, help="reads per reader, mixed run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not server.startswith(("postgres://", "postgresql://")):
        parser.error("DATABASE_URL must name a PostgreSQL server (the scratch database goes there)")
    scratch_name = f"rs_bench_reads_{os.getpid()}"
    database_url = urlparse(server)._replace(path=f"/{scratch_name}").geturl()
    import psycopg

    admin_url = _psycopg_url(_server_admin_url(server))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{scratch_name}"')
    try:
        figures = _benchmark(args, rng, database_url)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch_name}" WITH (FORCE)')
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


def _benchmark(args, rng: random.Random, database_url: str) -> dict:
    _django(database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    nodes_count = max(args.reads, args.mixed_reads)
    readers, arms, node_ids = _build_study(clients=args.clients, nodes_count=nodes_count)
    from readerstudy.studies.models import Read, ReadEvent

    # Phase 1: distinct reads, one key each.
    distinct_jobs = [
        [
            {
                "reader": reader.pk,
                "arm": arms[0].pk,
                "node": node_id,
                "key": str(uuid.uuid4()),
                "call": rng.choice(CALLS),
                "seconds": 2.0,
                "retries": 0,
            }
            for node_id in node_ids[: args.reads]
        ]
        for reader in readers
    ]
    distinct = _run_phase(database_url, distinct_jobs, args.processes)
    latencies = [o["seconds"] for o in distinct["outcomes"]]
    distinct_errors = [o["error"] for o in distinct["outcomes"] if o["error"]]

    # Phase 2: creations and changes, duplicated across clients and retried, all at once.
    keys: dict[str, tuple[int, int, float]] = {}
    mixed_jobs_flat: list[dict] = []
    for reader in readers:
        for node_id in node_ids[: args.mixed_reads]:
            for _ in range(2):  # a creation and a change, in whatever order they land
                key = str(uuid.uuid4())
                seconds = rng.choice([0.5, 1.0, 2.0])
                keys[key] = (reader.pk, node_id, seconds)
                for _copy in range(rng.choice([1, 2, 3])):
                    mixed_jobs_flat.append(
                        {
                            "reader": reader.pk,
                            "arm": arms[1].pk,
                            "node": node_id,
                            "key": key,
                            "call": rng.choice(CALLS),
                            "seconds": seconds,
                            "retries": rng.choice([0, 0, 0, 1]),
                        }
                    )
    # A key's copies must carry one payload (else they are conflicts, not duplicates).
    payload_of: dict[str, str] = {}
    for job in mixed_jobs_flat:
        job["call"] = payload_of.setdefault(job["key"], job["call"])
    rng.shuffle(mixed_jobs_flat)
    mixed_jobs = [mixed_jobs_flat[c :: args.clients] for c in range(args.clients)]
    mixed = _run_phase(database_url, mixed_jobs, args.processes)
    mixed_errors = [o["error"] for o in mixed["outcomes"] if o["error"]]

    mixed_reads = Read.objects.filter(arm=arms[1])
    events = ReadEvent.objects.filter(read__arm=arms[1])
    stored_keys = {str(k) for k in events.values_list("idempotency_key", flat=True)}
    writes_per_key: dict[str, int] = {}
    for outcome in mixed["outcomes"]:
        if outcome["changed"]:
            writes_per_key[outcome["key"]] = writes_per_key.get(outcome["key"], 0) + 1
    expected_seconds: dict[tuple[int, int], float] = {}
    for reader_id, node_id, seconds in keys.values():
        expected_seconds[(reader_id, node_id)] = (
            expected_seconds.get((reader_id, node_id), 0.0) + seconds
        )
    stored_seconds = {
        (r, n): s for r, n, s in mixed_reads.values_list("reader_id", "node_id", "active_seconds")
    }
    mixed_latencies = [o["seconds"] for o in mixed["outcomes"]]
    return {
        "database": "postgresql",
        "clients": args.clients,
        "processes": args.processes,
        "cpu_count": os.cpu_count(),
        "distinct": {
            "submissions": len(latencies),
            "reads_stored": Read.objects.filter(arm=arms[0]).count(),
            "errors": len(distinct_errors),
            "latency_ms_p50": round(1000 * statistics.median(latencies), 1),
            "latency_ms_p95": round(1000 * _percentile(latencies, 0.95), 1),
            "latency_ms_max": round(1000 * max(latencies), 1),
            "wall_seconds": round(distinct["wall_seconds"], 2),
            "submissions_per_second": round(len(latencies) / distinct["wall_seconds"], 1),
        },
        "mixed": {
            "submissions": len(mixed["outcomes"]),
            "retries": sum(o["retry"] for o in mixed["outcomes"]),
            "distinct_keys": len(keys),
            "reads_expected": len(expected_seconds),
            "reads_stored": mixed_reads.count(),
            "events_stored": events.count(),
            "errors": len(mixed_errors),
            "lost_keys": len(set(keys) - stored_keys),
            "duplicated_keys": sum(1 for n in writes_per_key.values() if n > 1)
            + max(0, events.count() - len(keys)),
            "time_on_task_mismatches": sum(
                1 for k, s in expected_seconds.items() if stored_seconds.get(k) != s
            ),
            "latency_ms_p50": round(1000 * statistics.median(mixed_latencies), 1),
            "latency_ms_p95": round(1000 * _percentile(mixed_latencies, 0.95), 1),
            "wall_seconds": round(mixed["wall_seconds"], 2),
            "submissions_per_second": round(len(mixed_latencies) / mixed["wall_seconds"], 1),
            "first_errors": mixed_errors[:3] + distinct_errors[:3],
        },
    }


if __name__ == "__main__":
    main()
