"""Reads are recorded exactly once under every race, on PostgreSQL, across threads and processes.

Every copy of a submission (a retry after a lost response, a double click) must get the stored
outcome back, never an error, whatever other submissions for the same read race with it; the
database must hold exactly one read per (reader, node, arm) and one audit event per key.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection, transaction

from readerstudy.accounts.models import Role
from readerstudy.cohorts.services import cohort_import_folder
from readerstudy.studies import services
from readerstudy.studies.models import Read, ReadEvent, ReadEventAction
from tests.cohort_factory import write_cohort
from tests.studies.read_workers import run_process, submit_one

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture
def open_study(postgres, tmp_path: Path, make_user):
    cohort = cohort_import_folder(write_cohort(tmp_path / "cohort")).cohort
    readers = [make_user(Role.READER, f"race-reader{i}") for i in (1, 2)]
    study = services.study_create(
        name="Race study",
        cohorts=[cohort],
        arms=[services.ArmSpec("unaided"), services.ArmSpec("AI-aided", shows_model_output=True)],
        ask_confidence=True,
        ask_signs=True,
        order_seed=7,
    )
    services.study_assign_readers(study=study, readers=readers)
    services.study_open(study=study)
    return study, readers


def _job(label: str, reader, arm, node, key: uuid.UUID, call: str, seconds: float) -> dict:
    return {
        "label": label,
        "reader_id": reader.pk,
        "arm_id": arm.pk,
        "node_id": node.pk,
        "key": str(key),
        "call": call,
        "confidence": 50,
        "signs": ["central_necrosis"] if call != "benign" else [],
        "active_seconds": seconds,
    }


def _database_url() -> str:
    s = connection.settings_dict
    return (
        f"postgres://{s['USER'] or ''}:{s['PASSWORD'] or ''}@"
        f"{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    )


def _waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def _wait_for_lock_waiters(count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while _waiting_on_locks() < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} submissions did not come to wait on a lock")
        time.sleep(0.02)


def _in_thread(target, *args) -> threading.Thread:
    def run() -> None:
        try:
            target(*args)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _creation_race(reader, arm, node, key_a: uuid.UUID, key_b: uuid.UUID) -> dict[str, dict]:
    """B creates the read and keeps its transaction open until both copies of A wait on it."""
    b_submitted, release_b = threading.Event(), threading.Event()
    outcomes: dict[str, dict] = {}

    def submission_b() -> None:
        with transaction.atomic():
            outcomes["B"] = submit_one(_job("B", reader, arm, node, key_b, "benign", 1.0))
            b_submitted.set()
            release_b.wait(timeout=30)

    def copy_of_a(label: str) -> None:
        outcomes[label] = submit_one(_job("A", reader, arm, node, key_a, "ene", 2.0))

    thread_b = _in_thread(submission_b)
    assert b_submitted.wait(timeout=30)
    copies = [_in_thread(copy_of_a, label) for label in ("A1", "A2")]
    _wait_for_lock_waiters(2)
    release_b.set()
    for thread in (thread_b, *copies):
        thread.join(timeout=30)
    return outcomes


def test_duplicates_that_lose_a_creation_race_together_get_the_stored_outcome(open_study) -> None:
    """The reported interleaving: two copies of one submission (A) lose the creation of the read
    to a third submission (B) and then retry together. Both copies must get A's stored outcome.
    Five rounds: on the code before the fix, at least one of them let an IntegrityError out."""
    study, readers = open_study
    reader = readers[0]
    arm = study.arms.get(position=1)
    nodes = [case.node for case in study.cases.order_by("pk")[:5]]
    for round_number, node in enumerate(nodes):
        key_a, key_b = uuid.uuid4(), uuid.uuid4()
        outcomes = _creation_race(reader, arm, node, key_a, key_b)

        errors = {label: o["error"] for label, o in outcomes.items() if o["error"]}
        assert not errors, f"round {round_number}: {errors}"
        read = Read.objects.get(reader=reader, arm=arm, node=node)
        assert {o["read_id"] for o in outcomes.values()} == {read.pk}
        assert outcomes["B"]["changed"] is True
        assert sorted([outcomes["A1"]["changed"], outcomes["A2"]["changed"]]) == [False, True]
        events = list(read.events.order_by("pk"))
        assert [(e.action, e.idempotency_key) for e in events] == [
            (ReadEventAction.CREATED, key_b),
            (ReadEventAction.CHANGED, key_a),
        ]
        assert read.call == "ene" and read.active_seconds == 3.0


def test_a_key_reused_for_another_node_concurrently_is_refused(open_study) -> None:
    """Two submissions with one key for two nodes race; the second is refused as a conflict
    (not an IntegrityError, and not silently answered with the other node's read)."""
    study, readers = open_study
    reader = readers[0]
    arm = study.arms.get(position=1)
    first_node, second_node = (case.node for case in study.cases.order_by("pk")[:2])
    key = uuid.uuid4()
    first_submitted, release_first = threading.Event(), threading.Event()
    outcomes: dict[str, dict] = {}

    def first() -> None:
        with transaction.atomic():
            outcomes["first"] = submit_one(_job("first", reader, arm, first_node, key, "ene", 1))
            first_submitted.set()
            release_first.wait(timeout=30)

    thread_first = _in_thread(first)
    assert first_submitted.wait(timeout=30)
    second_job = _job("second", reader, arm, second_node, key, "ene", 1)
    thread_second = _in_thread(lambda: outcomes.__setitem__("second", submit_one(second_job)))
    _wait_for_lock_waiters(1)
    release_first.set()
    thread_first.join(timeout=30)
    thread_second.join(timeout=30)

    assert outcomes["first"]["error"] is None and outcomes["first"]["changed"] is True
    assert outcomes["second"]["error"].startswith("ReadSubmissionConflict"), outcomes["second"]
    assert list(Read.objects.values_list("node_id", flat=True)) == [first_node.pk]
    assert ReadEvent.objects.count() == 1


PROCESSES = 3
THREADS_PER_PROCESS = 3


def test_mixed_duplicate_and_new_submissions_across_processes(open_study) -> None:
    """Processes x threads submit, at the same time, creations and changes of the same reads,
    each key in 2-3 copies. No caller sees an error; rows and audit events add up exactly."""
    study, readers = open_study
    rng = random.Random(20261201)
    arms = list(study.arms.order_by("position"))
    nodes = [case.node for case in study.cases.order_by("pk")[:3]]
    workers = PROCESSES * THREADS_PER_PROCESS
    per_worker: list[list[dict]] = [[] for _ in range(workers)]
    expected: dict[tuple[int, int, int], dict[str, float]] = {}
    copies_of: dict[str, int] = {}
    for reader in readers:
        for arm in arms:
            for node in nodes:
                # One round per read: its keys (a creation and two changes, in whatever order
                # they land) and their copies go to different workers at the same position.
                keys = {}
                for _ in range(3):
                    key = str(uuid.uuid4())
                    keys[key] = rng.choice([0.5, 1.0, 1.5, 2.25, 3.0])
                    copies_of[key] = rng.choice([2, 3])
                expected[(reader.pk, arm.pk, node.pk)] = keys
                round_jobs = [
                    _job(f"{key[:8]}#{copy}", reader, arm, node, uuid.UUID(key), call, seconds)
                    for (key, seconds), call in zip(
                        keys.items(), rng.sample(["benign", "metastasis", "ene"], 3), strict=True
                    )
                    for copy in range(copies_of[key])
                ]
                rng.shuffle(round_jobs)
                offset = rng.randrange(workers)
                for i, job in enumerate(round_jobs):
                    per_worker[(offset + i) % workers].append(job)

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    queue = context.Queue()
    processes = [
        context.Process(
            target=run_process,
            args=(
                _database_url(),
                per_worker[p * THREADS_PER_PROCESS : (p + 1) * THREADS_PER_PROCESS],
                barrier,
                queue,
            ),
        )
        for p in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = [outcome for _ in processes for outcome in queue.get(timeout=120)]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0

    submitted = sum(copies_of.values())
    assert len(outcomes) == submitted
    errors = [f"{o['label']}: {o['error']}" for o in outcomes if o["error"]]
    assert not errors, f"{len(errors)} of {submitted} submissions failed: {errors[:5]}"

    # Exactly one copy of each key wrote; every copy got the same read back.
    for key, copies in copies_of.items():
        mine = [o for o in outcomes if o["key"] == key]
        assert len(mine) == copies
        assert sorted(o["changed"] for o in mine) == [False] * (copies - 1) + [True]
        assert len({o["read_id"] for o in mine}) == 1

    assert Read.objects.count() == len(expected)
    assert ReadEvent.objects.count() == sum(len(keys) for keys in expected.values())
    for (reader_id, arm_id, node_id), keys in expected.items():
        read = Read.objects.get(reader_id=reader_id, arm_id=arm_id, node_id=node_id)
        events = list(read.events.order_by("pk"))
        assert {str(e.idempotency_key) for e in events} == set(keys)
        assert [e.action for e in events] == ["created"] + ["changed"] * (len(keys) - 1)
        # The audit trail is one unbroken chain ending in the stored values.
        assert events[0].before is None
        for previous, event in zip(events, events[1:], strict=False):
            assert event.before == previous.after
        assert events[-1].after["call"] == read.call
        # Time on task accumulated once per key, never per copy.
        assert read.active_seconds == sum(keys.values())
