"""Benchmark: importing a synthetic cohort (default 100 patients, about 600 nodes).

Generates the cohort in a separate process (so this process's peak memory is the import's),
imports it into a fresh database and media folder, and reports wall time, slices per second and
peak memory. Target (issue 2): at least 50 CT slices per second on the 2-core machine.

    python benchmarks/bench_import.py [--patients 100] [--cohort EXISTING_FOLDER] [--json out.json]

DATABASE_URL selects the database (a throw-away SQLite file by default; with PostgreSQL give a
database you can wipe, e.g. postgres://postgres@127.0.0.1:5432/readerstudy_bench).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", default="internal")
    parser.add_argument("--cohort", type=Path, help="import this folder instead of generating one")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    folder = args.cohort
    generation_seconds = None
    if folder is None:
        folder = work / "cohort"
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "synthetic",
                str(folder),
                "--patients",
                str(args.patients),
                "--seed",
                str(args.seed),
                "--profile",
                args.profile,
            ],
            check=True,
            cwd=REPO,
        )
        generation_seconds = time.perf_counter() - started

    os.environ.setdefault("DATABASE_URL", f"sqlite:///{work / 'bench.sqlite3'}")
    os.environ["MEDIA_ROOT"] = str(work / "media")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readerstudy.settings")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from readerstudy.cohorts.models import Cohort
    from readerstudy.cohorts.services import cohort_import_folder

    Cohort.objects.all().delete()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    result = cohort_import_folder(folder)
    seconds = time.perf_counter() - started
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {
        "database": connection.vendor,
        "patients": result.patients,
        "nodes": result.nodes,
        "slices": result.slices,
        "import_seconds": round(seconds, 2),
        "slices_per_second": round(result.slices / seconds, 1),
        "peak_rss_mib": round(rss_peak, 1),
        "rss_before_import_mib": round(rss_before, 1),
        "generation_seconds": None if generation_seconds is None else round(generation_seconds, 1),
        "cpu_count": os.cpu_count(),
        "target_slices_per_second": 50,
    }
    print(f"{'figure':<26}value")
    for key, value in figures.items():
        print(f"{key:<26}{value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
