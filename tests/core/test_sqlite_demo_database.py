"""The demo's SQLite database under concurrent writers (web server, workers, reads simulation).

``./run demo`` once failed with "database is locked": the reads simulation read, then wrote, in a
transaction while a worker stored a training run. SQLite refuses such a deferred transaction's
upgrade to a write lock at once (the busy timeout does not apply) when another connection has
written meanwhile. The demo settings start transactions with the write lock
(``transaction_mode=IMMEDIATE``), so a writer waits its turn instead.

Runs a child process on a temporary SQLite file with the project's settings, as the demo does:
one thread holds a write transaction for a while, another reads and then writes in its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

CHILD = r"""
import threading, time
import django
django.setup()
from django.db import connection, connections, transaction

with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE calls (id INTEGER PRIMARY KEY, who TEXT)")
    cursor.execute("INSERT INTO calls (who) VALUES ('setup')")
connections.close_all()

first_has_written = threading.Event()
errors = []

def worker():
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO calls (who) VALUES ('worker')")
            first_has_written.set()
            time.sleep(1.0)
    except Exception as exc:
        errors.append(f"worker: {exc}")
        first_has_written.set()
    finally:
        connections.close_all()

def simulation():
    first_has_written.wait()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM calls")
            cursor.execute("INSERT INTO calls (who) VALUES ('simulation')")
    except Exception as exc:
        errors.append(f"simulation: {exc}")
    finally:
        connections.close_all()

threads = [threading.Thread(target=worker), threading.Thread(target=simulation)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
with connection.cursor() as cursor:
    cursor.execute("SELECT who FROM calls ORDER BY id")
    rows = [row[0] for row in cursor.fetchall()]
    cursor.execute("PRAGMA journal_mode")
    mode = cursor.fetchone()[0]
print("errors", errors)
print("rows", rows)
print("mode", mode)
"""


def test_concurrent_writers_wait_for_each_other_on_the_demo_database(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "readerstudy.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    assert lines["errors"] == "[]", result.stdout
    assert lines["rows"] == "['setup', 'worker', 'simulation']"
    assert lines["mode"] == "wal"
