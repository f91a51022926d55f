"""Benchmark of the MRMC engine (not a test): OR / DBM / iMRMC / standalone on a large study.

Default study: 10 readers x 2 modalities x 5,000 cases (30 % positive), continuous scores.
Each timing is the best (and median) of ``--repeats`` runs of the public function on the long
DataFrame, i.e. including validation and reshaping; ``core`` rows time the numeric part on
arrays only. ``jackknife by recomputation`` re-computes every leave-one-out AUC with
``fast_delong`` (what the placement identity avoids), timed on ``--naive-cases`` left-out cases
and extrapolated to all cases.

Usage::

    .venv/bin/python benchmarks/bench_mrmc.py [--readers 10] [--modalities 2] [--cases 5000]
        [--ordinal] [--repeats 3] [--blas-threads 1] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis._core import fast_delong  # noqa: E402
from analysis.mrmc import (  # noqa: E402
    auc_covariance,
    dbm_analysis,
    imrmc_analysis,
    mrmc_data,
    or_analysis,
    standalone_vs_readers,
)


def make_study(readers: int, modalities: int, cases: int, *, ordinal: bool, seed: int = 1):
    rng = np.random.default_rng(seed)
    truth = (rng.random(cases) < 0.3).astype(int)
    case_effect = rng.normal(size=cases)
    frames = []
    scores = np.empty((modalities, readers, cases))
    for i in range(modalities):
        for j in range(readers):
            s = truth * (1.0 + 0.2 * i) + 0.6 * case_effect + rng.normal(size=cases)
            if ordinal:
                s = np.digitize(s, np.quantile(s, [0.2, 0.4, 0.6, 0.8])).astype(float)
            scores[i, j] = s
            frames.append(
                pd.DataFrame(
                    {
                        "case": np.arange(cases),
                        "reader": f"R{j + 1}",
                        "modality": f"M{i + 1}",
                        "score": s,
                        "truth": truth,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True), scores, truth


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def naive_jackknife_seconds(flat: np.ndarray, truth: np.ndarray, n_left_out: int) -> float:
    """Seconds to recompute all leave-one-out AUCs with fast_delong, extrapolated."""
    n = flat.shape[1]
    picks = np.linspace(0, n - 1, n_left_out).astype(int)
    keep = np.ones(n, bool)
    start = time.perf_counter()
    for c in picks:
        keep[:] = True
        keep[c] = False
        fast_delong(flat[:, keep], truth[keep])
    return (time.perf_counter() - start) / n_left_out * n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=10)
    parser.add_argument("--modalities", type=int, default=2)
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--ordinal", action="store_true", help="5-point ratings (many ties)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-cases", type=int, default=100)
    parser.add_argument("--skip-imrmc", action="store_true")
    parser.add_argument(
        "--blas-threads",
        type=int,
        help="limit BLAS threads (threadpoolctl); 1 avoids OpenBLAS spinning on a busy machine",
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)

    if args.blas_threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.blas_threads)

    frame, scores, truth = make_study(
        args.readers, args.modalities, args.cases, ordinal=args.ordinal
    )
    t, r, n = scores.shape
    flat = scores.reshape(t * r, n)
    model_frame = frame[frame.modality == "M1"].copy()
    model_frame.loc[model_frame.reader == "R1", "reader"] = "model"

    rows: list[tuple[str, float, float]] = []

    def add(name: str, fn: Callable[[], object]) -> None:
        best, median = timed(fn, args.repeats)
        rows.append((name, best, median))

    add("input validation + reshape (mrmc_data)", lambda: mrmc_data(frame))
    add(
        "core: jackknife covariance (placements)",
        lambda: auc_covariance(flat, truth, method="jackknife"),
    )
    add("core: DeLong covariance", lambda: auc_covariance(flat, truth, method="DeLong"))
    add("core: unbiased covariance", lambda: auc_covariance(flat, truth, method="unbiased"))
    add("or_analysis RRRC jackknife", lambda: or_analysis(frame, covariance="jackknife"))
    add("or_analysis RRRC DeLong", lambda: or_analysis(frame, covariance="DeLong"))
    add("or_analysis RRRC unbiased", lambda: or_analysis(frame, covariance="unbiased"))
    add("or_analysis FRRC jackknife", lambda: or_analysis(frame, analysis="FRRC"))
    add("dbm_analysis RRRC", lambda: dbm_analysis(frame))
    add(
        "standalone_vs_readers (modality 1)",
        lambda: standalone_vs_readers(model_frame, model="model"),
    )
    if not args.skip_imrmc:
        add("imrmc_analysis", lambda: imrmc_analysis(frame))
    naive = naive_jackknife_seconds(flat, truth, args.naive_cases)
    rows.append(
        (f"jackknife by recomputation (extrapolated from {args.naive_cases})", naive, naive)
    )

    title = (
        f"MRMC benchmark: {r} readers x {t} modalities x {n} cases "
        f"({int(truth.sum())} positive), {'5-point ordinal' if args.ordinal else 'continuous'} scores"
    )
    print(title)
    print(f"{'what':<62} {'best s':>9} {'median s':>9}")
    for name, best, median in rows:
        print(f"{name:<62} {best:>9.3f} {median:>9.3f}")
    if args.json:
        payload = {
            "config": {
                "readers": r,
                "modalities": t,
                "cases": n,
                "positive": int(truth.sum()),
                "ordinal": args.ordinal,
                "repeats": args.repeats,
                "blas_threads": args.blas_threads,
            },
            "machine": {
                "python": platform.python_version(),
                "numpy": np.__version__,
                "pandas": pd.__version__,
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
            },
            "results": [
                {"name": name, "best_s": best, "median_s": median} for name, best, median in rows
            ],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
