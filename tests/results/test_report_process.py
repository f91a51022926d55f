"""The patient-clustered report computed in the report process gives the same results as in
the web or worker process, and a report process that dies costs a recomputation, not the
results."""

from __future__ import annotations

import json
import os

import pytest

from readerstudy.results import report_process, services
from tests.results.test_results import make_results_study

pytestmark = pytest.mark.django_db


def _exit_now(*args: object, **kwargs: object) -> None:
    os._exit(3)  # as a process killed by the kernel: no answer, no exception


def _canonical(results: dict) -> str:
    return json.dumps(results, sort_keys=True, allow_nan=False)


@pytest.fixture
def small_study():
    return make_results_study(patients=(5, 4), readers=3)


@pytest.fixture
def computed_here(small_study, settings) -> str:
    """The study's results computed in this process only; the setting is on afterwards."""
    settings.RESULTS_REPORT_PROCESS = False
    results = _canonical(services.results_compute(study=small_study))
    settings.RESULTS_REPORT_PROCESS = True
    return results


def test_results_are_the_same_with_and_without_the_report_process(
    small_study, computed_here, monkeypatch
) -> None:
    submitted = []
    real_submit = report_process.report_process_submit

    def spy(function, /, *args, **kwargs):
        future = real_submit(function, *args, **kwargs)
        submitted.append(future)
        return future

    monkeypatch.setattr(services, "report_process_submit", spy)
    elsewhere = services.results_compute(study=small_study)
    assert submitted and submitted[0] is not None, "the clustered report did not go to the process"
    assert elsewhere["patient_clustered"] is not None
    assert _canonical(elsewhere) == computed_here


def test_a_dead_report_process_is_replaced_and_the_report_computed_here(
    small_study, computed_here, monkeypatch
) -> None:
    real_submit = report_process.report_process_submit
    monkeypatch.setattr(
        services,
        "report_process_submit",
        lambda function, /, *args, **kwargs: real_submit(_exit_now),
    )
    results = services.results_compute(study=small_study)
    assert _canonical(results) == computed_here
    # The dead process was discarded: the next computation gets a new, working one.
    assert real_submit(sum, [1, 2, 3]).result(timeout=60) == 6


def test_no_report_process_when_the_setting_is_off(settings) -> None:
    settings.RESULTS_REPORT_PROCESS = False
    assert report_process.report_process_submit(sum, [1]) is None


def _sum_in_report_process() -> int:
    future = report_process.report_process_submit(sum, [1, 2, 3])
    assert future is not None, "no report process in a daemonic pool process"
    return future.result(timeout=60)


def test_a_celery_prefork_pool_process_gets_a_report_process(settings) -> None:
    """Celery's prefork pool processes are daemonic (billiard), which multiprocessing refuses
    children; the report process starts there all the same."""
    import billiard

    settings.RESULTS_REPORT_PROCESS = True
    with billiard.Pool(1) as pool:
        assert pool.apply(_sum_in_report_process) == 6


def test_the_report_process_does_not_outlive_the_process_that_started_it() -> None:
    """A worker killed with SIGKILL (no atexit, no executor shutdown) leaves no report process."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    script = (
        "import os, time\n"
        "from readerstudy.results import report_process\n"
        "future = report_process._submit(os.getpid, (), {})\n"
        "print(future.result(timeout=60), flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and Path(f"/proc/{child}").exists():
            state = Path(f"/proc/{child}/stat").read_text().split()[2]
            if state == "Z":  # exited, waiting for init to reap it
                break
            time.sleep(0.2)
        else:
            assert not Path(f"/proc/{child}").exists(), "the report process outlived its parent"
    finally:
        parent.kill()
