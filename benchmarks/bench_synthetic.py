"""Benchmark of the synthetic cohort generator: time and peak memory.

``python benchmarks/bench_synthetic.py [--patients 100] [--workers 1 2] [--json PATH]``

Generates a cohort per (profile, workers, mask format) into a temporary folder
(deleted afterwards unless ``--keep``), and prints a table: wall time,
seconds per patient, CPU time, peak resident memory of the generating
process(es) (``resource.getrusage`` max RSS of self and children), output size
and the machine's load average before the run (other jobs share the cores).
Target: a 100-patient cohort in <= 2 minutes on a 2-core machine.  Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _run_one(args: list) -> dict:
    """Generate one cohort (called in a fresh process, so max RSS is this run's own)."""
    out, n, seed, profile, workers, truth, fmt = args
    from synthetic import generate_cohort

    t0 = time.perf_counter()
    c0 = time.process_time()
    res = generate_cohort(
        out, n, seed, profile=profile, workers=workers, truth=truth, mask_format=fmt
    )
    wall = time.perf_counter() - t0
    self_ru = resource.getrusage(resource.RUSAGE_SELF)
    child_ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
    return {
        "profile": profile,
        "patients": n,
        "workers": workers,
        "mask_format": fmt,
        "truth_files": truth,
        "nodes": res.n_nodes,
        "wall_s": round(wall, 1),
        "s_per_patient": round(wall / n, 3),
        "cpu_s": round(time.process_time() - c0 + child_ru.ru_utime + child_ru.ru_stime, 1),
        "peak_rss_mb_main": round(self_ru.ru_maxrss / 1024, 0),
        "peak_rss_mb_workers": round(child_ru.ru_maxrss / 1024, 0),
        "output_mb": round(size / 2**20, 0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profiles", nargs="+", default=["internal", "external"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--mask-formats", nargs="+", default=["nifti"])
    parser.add_argument(
        "--no-truth", action="store_true", help="benchmark without the .truth side files"
    )
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--keep", help="keep the generated cohorts under this folder")
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        print(json.dumps(_run_one(json.loads(args._child))))
        return 0

    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_synthetic_"))
    base.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for profile in args.profiles:
            for workers in args.workers:
                for fmt in args.mask_formats:
                    out = base / f"{profile}-w{workers}-{fmt}"
                    if out.exists():
                        shutil.rmtree(out)
                    load = os.getloadavg()[0]
                    job = [
                        str(out),
                        args.patients,
                        args.seed,
                        profile,
                        workers,
                        not args.no_truth,
                        fmt,
                    ]
                    proc = subprocess.run(
                        [sys.executable, __file__, "--_child", json.dumps(job)],
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    r = json.loads(proc.stdout.strip().splitlines()[-1])
                    r["load_avg_before"] = round(load, 2)
                    results.append(r)
                    print(
                        f"{profile:9s} workers={workers} {fmt:5s}: {r['wall_s']:6.1f} s "
                        f"({r['s_per_patient']:.2f} s/patient), peak RSS {r['peak_rss_mb_main']:.0f} MB "
                        f"(+{r['peak_rss_mb_workers']:.0f} MB per worker), {r['output_mb']:.0f} MB, load {load:.2f}",
                        flush=True,
                    )
                    if not args.keep:
                        shutil.rmtree(out)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    header = f"{'profile':10s}{'workers':>8s}{'mask':>7s}{'patients':>9s}{'nodes':>7s}{'wall s':>8s}{'s/pt':>7s}{'CPU s':>7s}{'RSS MB':>8s}{'out MB':>8s}{'load':>6s}"
    print("\n" + header)
    for r in results:
        print(
            f"{r['profile']:10s}{r['workers']:>8d}{r['mask_format']:>7s}{r['patients']:>9d}{r['nodes']:>7d}"
            f"{r['wall_s']:>8.1f}{r['s_per_patient']:>7.2f}{r['cpu_s']:>7.1f}"
            f"{max(r['peak_rss_mb_main'], r['peak_rss_mb_workers']):>8.0f}{r['output_mb']:>8.0f}{r['load_avg_before']:>6.2f}"
        )
    meta = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "results": results,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
