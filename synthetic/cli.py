"""Command line of the generator, shared by ``python -m synthetic`` and the
``make_synthetic_cohort`` management command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .generator import MASK_FILES, generate_cohort
from .profiles import PROFILES

__all__ = ["add_arguments", "main", "run"]

DEFAULT_MASK_FORMAT = "nifti"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the generator's options to ``parser`` (argparse or Django's CommandParser)."""
    parser.add_argument("out", help="output folder (created; must not exist or be empty)")
    parser.add_argument("--patients", type=int, required=True, help="number of patients")
    parser.add_argument(
        "--seed", type=int, required=True, help="random seed (same seed = same bytes)"
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="internal",
        help="internal (001's internal set) or external (001's external test set 2)",
    )
    parser.add_argument(
        "--prevalence",
        default=None,
        metavar="BENIGN,META,ENE",
        help="node class mix, fractions or percentages (default: the profile's)",
    )
    parser.add_argument(
        "--mask-format",
        choices=sorted(MASK_FILES),
        default=DEFAULT_MASK_FORMAT,
        help="node masks as NIfTI label map (default), NumPy label map or DICOM SEG",
    )
    parser.add_argument("--workers", type=int, default=1, help="render patients in N processes")
    parser.add_argument(
        "--name", default=None, help="cohort name in cohort.json (default from profile/seed)"
    )
    parser.add_argument(
        "--no-truth",
        action="store_true",
        help="do not write the .truth/ side files (tissue maps used by the realism check)",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace an existing generated cohort folder"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def run(options: dict, stdout=None) -> int:
    """Generate the cohort described by parsed ``options``; returns an exit status."""
    out = stdout or sys.stdout

    def progress(done: int, total: int) -> None:
        step = max(1, total // 10)
        if not options.get("quiet") and (done % step == 0 or done == total):
            out.write(f"patient {done}/{total}\n")
            out.flush()

    res = generate_cohort(
        options["out"],
        n_patients=options["patients"],
        seed=options["seed"],
        profile=options.get("profile") or "internal",
        prevalence=options.get("prevalence"),
        mask_format=options.get("mask_format") or DEFAULT_MASK_FORMAT,
        workers=max(1, int(options.get("workers") or 1)),
        truth=not options.get("no_truth"),
        force=bool(options.get("force")),
        name=options.get("name"),
        progress=progress,
    )
    counts = ", ".join(f"{k} {v}" for k, v in res.class_counts.items())
    out.write(
        f"wrote {res.out_dir}: {res.n_patients} patients, {res.n_nodes} nodes ({counts}) in {res.seconds:.1f} s\n"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m synthetic``."""
    parser = argparse.ArgumentParser(
        prog="python -m synthetic",
        description="Write a synthetic contrast-enhanced neck CT cohort in the import format.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(vars(args))
    except (ValueError, FileExistsError) as exc:
        parser.exit(2, f"error: {exc}\n")
    return 1
