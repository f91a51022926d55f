"""A second process for part of a study's reports (see :mod:`readerstudy.results.services`:
half of the cohort sections of both the node-level and the patient-clustered report), so that
they are computed side by side on a machine with a second core.

The process is a ``concurrent.futures`` worker in a fresh interpreter (multiprocessing's
*spawn*): it shares none of the parent's threads, locks or database connections (a plain fork of
a threaded web or Celery process could inherit a held lock), imports ``analysis`` and nothing of
Django's set-up, and computes only ``analysis`` functions on the table it is sent. It is started
on first use (a few seconds of imports, once) and stays up between computations, warm, like the
process that asks. If it cannot be started or dies, the caller computes in its own process
instead: the numbers are the same either way (tests/results/test_report_process.py).

A Celery prefork worker's pool processes are daemonic, and multiprocessing refuses children to
a daemon because a daemon is ended without joining them. The report process is started anyway
(the flag is lifted while it starts) because it does not outlive its parent: it exits when its
parent is gone (:func:`_exit_with_parent`).

``RESULTS_REPORT_PROCESS`` (setting) turns it off; it is off where there is one core.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.process import AuthenticationString  # type: ignore[attr-defined]
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_executor: ProcessPoolExecutor | None = None


def _exit_with_parent() -> None:
    """Initializer of the report process: exit once the process that started it is gone."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _forget_in_child() -> None:
    # A forked child (e.g. a Celery pool process) does not own its parent's executor: its
    # threads and pipes stay with the parent.
    global _executor, _lock
    _executor = None
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)


def _submit(function: Callable[..., Any], args: Any, kwargs: Any) -> Future:
    global _executor
    with _lock:
        if _executor is None:
            context = multiprocessing.get_context("spawn")
            _executor = ProcessPoolExecutor(
                max_workers=1, mp_context=context, initializer=_exit_with_parent
            )
        # See the module docstring: in a Celery pool process (billiard's, daemonic), lift the
        # daemon flag while the report process starts; billiard's authentication key is of its
        # own class, which multiprocessing will not send to a new process: the same bytes in
        # multiprocessing's class meanwhile.
        config = multiprocessing.current_process()._config  # type: ignore[attr-defined]
        saved = dict(config)
        config["daemon"] = False
        config["authkey"] = AuthenticationString(bytes(config["authkey"]))
        try:
            return _executor.submit(function, *args, **kwargs)
        finally:
            config.clear()
            config.update(saved)


def report_process_discard() -> None:
    """Stop the report process (a later :func:`report_process_submit` starts a new one)."""
    global _executor
    with _lock:
        executor, _executor = _executor, None
    if executor is not None:
        executor.shutdown(wait=False, cancel_futures=True)


def report_process_submit(
    function: Callable[..., Any], /, *args: Any, **kwargs: Any
) -> Future | None:
    """``function(*args, **kwargs)`` in the report process (``function`` and its arguments must
    pickle: a module-level function of ``analysis``); None when the setting is off or the process
    cannot be started, and the caller computes it itself."""
    if not settings.RESULTS_REPORT_PROCESS:
        return None
    try:
        return _submit(function, args, kwargs)
    except (BrokenProcessPool, OSError, RuntimeError, AssertionError) as exc:
        logger.warning("report process unavailable (%s); computing in this process", exc)
        report_process_discard()
        return None


def report_process_result(future: Future) -> Any:
    """The future's value (its exception re-raised, e.g. an ``AnalysisInputError``); raises
    :class:`ReportProcessLost` if the process died, after discarding it."""
    try:
        return future.result()
    except BrokenProcessPool as exc:
        logger.warning("report process died (%s); computing in this process", exc)
        report_process_discard()
        raise ReportProcessLost(str(exc)) from exc


class ReportProcessLost(RuntimeError):
    """The report process died before answering; compute in this process instead."""
