"""Benchmark: saving reads through the HTTP API with many simulated readers (gunicorn + PostgreSQL).

Creates a scratch PostgreSQL database on the server of DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/), migrates it, builds a study (database-only nodes, one
reader per simulated reader, each with an API token), starts gunicorn on it and lets the
simulated readers work through their own reading order over HTTP with token authentication:

  per item  GET the item, think (uniform random, --think-min..--think-max seconds, as a reader
            looks at the case), PUT the read with a new idempotency key;
  faults    a double submit (--double: the same PUT sent twice at once on two connections),
            a retry after a lost answer (--retry: the answer is dropped, the same PUT sent
            again), and a later change of the call (--change: a new key, after the next item).

At the end the database is checked against what the clients sent: reads stored vs reads
expected, audit events vs distinct keys (a duplicated submission would be a second event), the
final call of every read vs the last call its reader sent. Latency is measured by the client
(request sent to answer read), per request; throughput is requests over the wall time of the
run. Clients are threads in several spawned processes; gunicorn runs --workers sync workers.
Everything stops by itself; the scratch database is dropped.

    python benchmarks/bench_read_api.py [--readers 50] [--items 12] [--workers 4]
        [--think-min 4] [--think-max 12] [--json out.json]

The default pace (4-12 s a node, one page and one save) is still faster than a radiologist
calling a node on CT (tens of seconds); ``--think-min 0.5 --think-max 1.5`` is a stress run that
offers more requests than 2 cores can serve with the clients on the same cores, so its latency
measures the queue, not the server.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_read_submit import (  # noqa: E402 - a sibling script, not a package
    CALLS,
    _build_study,
    _django,
    _percentile,
    _psycopg_url,
    _server_admin_url,
)

# --- the simulated readers (child processes) ------------------------------------------------


class Connection:
    """One keep-alive HTTP connection speaking JSON with a token."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, float]:
        data = None if body is None else json.dumps(body)
        started = time.perf_counter()
        for attempt in range(2):
            try:
                self.http.request(method, path, body=data, headers=self.headers)
                response = self.http.getresponse()
                payload = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection: reconnect once.
                self.http.close()
                self.http = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        elapsed = time.perf_counter() - started
        return response.status, (json.loads(payload) if payload else {}), elapsed


def _reader(job: dict, barrier, results: list) -> None:
    rng = random.Random(job["seed"])
    main = Connection(job["port"], job["token"])
    second = Connection(job["port"], job["token"])  # the second tab / the double click
    study = job["study"]
    log: dict = {"requests": [], "sent": [], "errors": []}

    def record(kind: str, status: int, elapsed: float, body: dict) -> None:
        log["requests"].append((kind, status, elapsed, time.time()))
        if status >= 400:
            log["errors"].append(f"{kind} {status} {body}")

    def put(conn: Connection, pos: int, body: dict, kind: str) -> None:
        status, answer, elapsed = conn.request(
            "PUT", f"/api/v1/studies/{study}/arms/1/items/{pos}/read", body
        )
        record(kind, status, elapsed, answer)

    barrier.wait(timeout=300)
    # Readers arrive over one think time, not all in the same millisecond.
    time.sleep(rng.uniform(0, job["think_max"]))
    status, session, elapsed = main.request("GET", f"/api/v1/studies/{study}/session")
    record("get", status, elapsed, session)
    pending_change: tuple[int, str] | None = None
    for pos in range(1, job["items"] + 1):
        status, item, elapsed = main.request("GET", f"/api/v1/studies/{study}/arms/1/items/{pos}")
        record("get", status, elapsed, item)
        time.sleep(rng.uniform(job["think_min"], job["think_max"]))
        call = rng.choice(CALLS)
        body = {
            "call": call,
            "active_seconds": round(rng.uniform(2, 30), 2),
            "idempotency_key": str(uuid.uuid4()),
        }
        log["sent"].append((pos, body["idempotency_key"], call))
        fault = rng.random()
        if fault < job["double"]:
            twin = threading.Thread(target=put, args=(second, pos, body, "put-double"))
            twin.start()
            put(main, pos, body, "put")
            twin.join()
        elif fault < job["double"] + job["retry"]:
            put(main, pos, body, "put-lost")  # the answer never reached the reader ...
            put(main, pos, body, "put-retry")  # ... who sends the same submission again
        else:
            put(main, pos, body, "put")
        if pending_change is not None:
            change_pos, change_call = pending_change
            key = str(uuid.uuid4())
            log["sent"].append((change_pos, key, change_call))
            put(second, change_pos, {"call": change_call, "idempotency_key": key}, "put-change")
            pending_change = None
        if rng.random() < job["change"]:
            pending_change = (pos, rng.choice([c for c in CALLS if c != call]))
    results.append({"reader": job["reader_id"], **log})


def _process(jobs: list[dict], barrier, queue) -> None:
    results: list[dict] = []
    threads = [threading.Thread(target=_reader, args=(job, barrier, results)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.put(results)


# --- the server and the run (parent) --------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_gunicorn(database_url: str, port: int, workers: int, conn_max_age: int):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex * 2,
        "ALLOWED_HOSTS": "127.0.0.1",
        "CONN_MAX_AGE": str(conn_max_age),
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "readerstudy.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _benchmark(args, database_url: str) -> dict:
    load_before = os.getloadavg()[0]  # the 1-minute load of the machine (other work included)
    _django(database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from readerstudy.accounts.services import user_token_issue
    from readerstudy.studies.models import Read, ReadEvent

    readers, arms, _node_ids = _build_study(clients=args.readers, nodes_count=args.items)
    study_id = arms[0].study_id
    port = _free_port()
    jobs = [
        {
            "reader_id": reader.pk,
            "token": user_token_issue(user=reader).key,
            "study": study_id,
            "port": port,
            "items": args.items,
            "seed": args.seed * 1000 + i,
            "think_min": args.think_min,
            "think_max": args.think_max,
            "double": args.double,
            "retry": args.retry,
            "change": args.change,
        }
        for i, reader in enumerate(readers)
    ]
    from django.db import connections

    connections.close_all()
    server = _start_gunicorn(database_url, port, args.workers, args.conn_max_age)
    try:
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(len(jobs) + 1)
        queue = context.Queue()
        chunks = [jobs[p :: args.processes] for p in range(args.processes)]
        workers = [
            context.Process(target=_process, args=(chunk, barrier, queue))
            for chunk in chunks
            if chunk
        ]
        for worker in workers:
            worker.start()
        barrier.wait(timeout=300)
        started = time.time()
        results = [result for _ in workers for result in queue.get(timeout=1800)]
        for worker in workers:
            worker.join(timeout=60)
    finally:
        _stop(server)

    requests = [r for result in results for r in result["requests"]]
    wall = max(r[3] for r in requests) - started
    puts = [r for r in requests if r[0].startswith("put")]
    gets = [r for r in requests if r[0] == "get"]
    errors = [e for result in results for e in result["errors"]]

    # What the database must hold: one read per (reader, item), its call the last one sent,
    # and one audit event per distinct key (creation or change).
    from readerstudy.studies.models import ReadingOrderEntry

    node_of = {
        (reader_id, position): node_id
        for reader_id, position, node_id in ReadingOrderEntry.objects.filter(
            arm=arms[0]
        ).values_list("assignment__reader_id", "position", "case__node_id")
    }
    expected_call: dict[tuple[int, int], str] = {}
    keys: set[str] = set()
    for result in results:
        for position, key, call in result["sent"]:
            expected_call[(result["reader"], node_of[(result["reader"], position)])] = call
            keys.add(key)
    stored = {
        (reader_id, node_id): call
        for reader_id, node_id, call in Read.objects.filter(arm=arms[0]).values_list(
            "reader_id", "node_id", "call"
        )
    }
    events = ReadEvent.objects.filter(read__arm=arms[0])
    stored_keys = {str(k) for k in events.values_list("idempotency_key", flat=True)}
    put_latencies = [r[2] for r in puts]
    get_latencies = [r[2] for r in gets]
    return {
        "database": "postgresql",
        "server": f"gunicorn, {args.workers} sync workers, CONN_MAX_AGE={args.conn_max_age}",
        "cpu_count": os.cpu_count(),
        "load_average_before_and_after": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "readers": args.readers,
        "items_per_reader": args.items,
        "think_seconds": [args.think_min, args.think_max],
        "client_processes": args.processes,
        "wall_seconds": round(wall, 1),
        "requests": len(requests),
        "requests_per_second": round(len(requests) / wall, 1),
        "puts": len(puts),
        "puts_per_second": round(len(puts) / wall, 1),
        "double_submits": sum(r[0] == "put-double" for r in puts),
        "retries_after_lost_answer": sum(r[0] == "put-retry" for r in puts),
        "changes": sum(r[0] == "put-change" for r in puts),
        "http_errors": len(errors),
        "put_latency_ms_p50": round(1000 * statistics.median(put_latencies), 1),
        "put_latency_ms_p95": round(1000 * _percentile(put_latencies, 0.95), 1),
        "put_latency_ms_max": round(1000 * max(put_latencies), 1),
        "get_latency_ms_p50": round(1000 * statistics.median(get_latencies), 1),
        "get_latency_ms_p95": round(1000 * _percentile(get_latencies, 0.95), 1),
        "reads_expected": len(expected_call),
        "reads_stored": len(stored),
        "reads_lost": len(set(expected_call) - set(stored)),
        "reads_unexpected": len(set(stored) - set(expected_call)),
        "later_changes_lost": sum(1 for k, call in expected_call.items() if stored.get(k) != call),
        "distinct_keys_sent": len(keys),
        "events_stored": events.count(),
        "keys_lost": len(keys - stored_keys),
        "submissions_duplicated": max(0, events.count() - len(keys)),
        "first_errors": errors[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--items", type=int, default=12, help="items each reader reads")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--processes", type=int, default=5, help="client processes")
    parser.add_argument("--think-min", type=float, default=4.0)
    parser.add_argument("--think-max", type=float, default=12.0)
    parser.add_argument("--double", type=float, default=0.1, help="share of double submits")
    parser.add_argument("--retry", type=float, default=0.1, help="share of lost-answer retries")
    parser.add_argument("--change", type=float, default=0.1, help="share of later changes")
    parser.add_argument("--conn-max-age", type=int, default=60, help="server's CONN_MAX_AGE")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not server.startswith(("postgres://", "postgresql://")):
        parser.error("DATABASE_URL must name a PostgreSQL server (the scratch database goes there)")
    scratch_name = f"rs_bench_api_{os.getpid()}"
    database_url = urlparse(server)._replace(path=f"/{scratch_name}").geturl()
    import psycopg

    admin_url = _psycopg_url(_server_admin_url(server))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{scratch_name}"')
    try:
        figures = _benchmark(args, database_url)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch_name}" WITH (FORCE)')
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
