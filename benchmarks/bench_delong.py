"""Benchmark: AUC + DeLong covariance for many readers on the same cases.

Target (issue): AUC and DeLong variance for 10 readers on 1,000,000 cases in <= 2 s on the 2-core
machine. Compared in the same run with scikit-learn's ``roc_auc_score`` (AUC only, one call per
reader) and the naive O(m n) DeLong (``analysis.delong_naive``, the definition). For each method
a doubling search (from 1,000 cases) finds the largest size finishing within ``--cap`` seconds;
a size whose time, extrapolated from the previous one, would exceed the cap is not run (and is
reported as such), which keeps the whole script under about three minutes.

    python benchmarks/bench_delong.py [--readers 10] [--cases 1000000] [--cap 10] [--json out.json]

Timings are wall-clock, best of ``--repeats`` runs for the headline size, single runs in the search;
data generation is not timed. Scores are continuous (few ties) with 40% positive cases.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sklearn.metrics import roc_auc_score  # noqa: E402

from analysis import delong_covariance, delong_naive  # noqa: E402


def make_data(readers: int, cases: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = (rng.random(cases) < 0.4).astype(np.int8)
    truth[:2] = (0, 1)
    separation = np.linspace(0.5, 1.5, readers)[:, None]
    scores = rng.standard_normal((readers, cases)) + separation * truth
    return scores, truth


def run_fast(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return delong_covariance(scores, truth).auc


def run_sklearn(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.array([roc_auc_score(truth, row) for row in scores])


def run_naive(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return delong_naive(scores, truth).auc


METHODS: dict[str, tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], float, str]] = {
    # name: (function, assumed growth exponent for extrapolation, what it computes)
    "analysis fast DeLong (Sun & Xu)": (run_fast, 1.1, "AUC + k x k DeLong covariance"),
    "scikit-learn roc_auc_score": (run_sklearn, 1.1, "AUC only"),
    "naive O(m n) DeLong": (run_naive, 2.0, "AUC + k x k DeLong covariance"),
}


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def doubling_search(
    function: Callable[[np.ndarray, np.ndarray], np.ndarray],
    exponent: float,
    *,
    readers: int,
    cap: float,
    seed: int,
    max_cases: int,
) -> dict[str, object]:
    """Double the case count from 1,000 while the (extrapolated) time stays within ``cap``."""
    cases = 1000
    measured: list[dict[str, float]] = []
    best = None
    stopped = ""
    while cases <= max_cases:
        if measured:
            previous = measured[-1]
            predicted = previous["seconds"] * (cases / previous["cases"]) ** exponent
            if predicted > cap:
                stopped = f"{cases:,} cases not run: extrapolated {predicted:.1f} s > {cap:g} s"
                break
        scores, truth = make_data(readers, cases, seed)
        seconds = timed(lambda scores=scores, truth=truth: function(scores, truth))
        measured.append({"cases": cases, "seconds": seconds})
        if seconds > cap:
            stopped = f"{cases:,} cases took {seconds:.1f} s > {cap:g} s"
            break
        best = cases
        cases *= 2
    else:
        stopped = f"stopped at --max-cases {max_cases:,}"
    return {"largest_within_cap": best, "measured": measured, "stopped": stopped}


def measure_headline(
    readers: int, cases: int, seed: int, repeats: int
) -> tuple[dict[str, float | None], float]:
    """Best-of-``repeats`` seconds of the fast DeLong and of scikit-learn at the headline size."""
    scores, truth = make_data(readers, cases, seed)
    headline: dict[str, float | None] = {}
    for name in ("analysis fast DeLong (Sun & Xu)", "scikit-learn roc_auc_score"):
        function = METHODS[name][0]
        headline[name] = min(
            timed(lambda function=function: function(scores, truth)) for _ in range(repeats)
        )
    difference = float(np.abs(run_fast(scores, truth) - run_sklearn(scores, truth)).max())
    return headline, difference


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--readers", type=int, default=10)
    parser.add_argument("--cases", type=int, default=1_000_000, help="headline size")
    parser.add_argument("--cap", type=float, default=10.0, help="seconds for the size search")
    parser.add_argument("--max-cases", type=int, default=16_000_000, help="search upper bound")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    started = time.perf_counter()
    results: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "platform": platform.platform(),
        },
        "readers": args.readers,
        "headline_cases": args.cases,
        "target_seconds": 2.0,
        "methods": {},
    }

    headline, max_auc_difference = measure_headline(
        args.readers, args.cases, args.seed, args.repeats
    )

    # Agreement of the fast and the naive covariance at a size the naive one handles quickly.
    small_scores, small_truth = make_data(args.readers, 4000, args.seed)
    fast_small = delong_covariance(small_scores, small_truth).covariance
    naive_small = delong_naive(small_scores, small_truth).covariance
    max_covariance_relative_difference = float(
        np.abs(fast_small - naive_small).max() / np.abs(naive_small).max()
    )

    searches = {}
    for name, (function, exponent, _) in METHODS.items():
        searches[name] = doubling_search(
            function,
            exponent,
            readers=args.readers,
            cap=args.cap,
            seed=args.seed,
            max_cases=args.max_cases,
        )
    naive_points = searches["naive O(m n) DeLong"]["measured"]
    last = naive_points[-1]
    headline["naive O(m n) DeLong"] = None
    naive_extrapolated = last["seconds"] * (args.cases / last["cases"]) ** 2

    for name, (_, _, computes) in METHODS.items():
        results["methods"][name] = {
            "computes": computes,
            "headline_seconds": headline[name],
            "headline_measured": headline[name] is not None,
            **searches[name],
        }
    results["methods"]["naive O(m n) DeLong"]["headline_extrapolated_seconds"] = naive_extrapolated
    results["checks"] = {
        "max_abs_auc_difference_fast_vs_sklearn": max_auc_difference,
        "max_relative_covariance_difference_fast_vs_naive_4000_cases": (
            max_covariance_relative_difference
        ),
    }
    fast_seconds = headline["analysis fast DeLong (Sun & Xu)"]
    results["target_met"] = bool(fast_seconds is not None and fast_seconds <= 2.0)
    results["total_seconds"] = time.perf_counter() - started

    print(
        f"DeLong benchmark: {args.readers} readers, {os.cpu_count()} CPUs, "
        f"numpy {np.__version__}, Python {platform.python_version()}"
    )
    print()
    header = f"{'method':34} {'computes':30} {args.cases:>11,} cases   largest in {args.cap:g} s"
    print(header)
    print("-" * len(header))
    for name, entry in results["methods"].items():
        if entry["headline_measured"]:
            shown = f"{entry['headline_seconds']:9.3f} s"
        else:
            shown = f"~{entry['headline_extrapolated_seconds']:,.0f} s (extrap.)"
        largest = entry["largest_within_cap"]
        print(f"{name:34} {entry['computes']:30} {shown:>20}   {largest or 0:>12,}")
    print()
    for name, entry in results["methods"].items():
        steps = ", ".join(f"{p['cases']:,}: {p['seconds']:.2f}s" for p in entry["measured"])
        print(f"{name}: {steps}; {entry['stopped']}")
    print()
    print(
        f"target <= 2 s for {args.cases:,} cases: "
        f"{'met' if results['target_met'] else 'NOT met'} ({fast_seconds:.3f} s)"
    )
    print(
        f"max |AUC fast - sklearn| = {max_auc_difference:.2e}; max relative covariance "
        f"difference fast vs naive (4,000 cases) = {max_covariance_relative_difference:.2e}"
    )
    print(f"total {results['total_seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
