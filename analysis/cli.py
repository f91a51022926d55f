"""Command line: ``python -m analysis SUBCOMMAND --input FILE.csv [--format json|csv|md]``.

Subcommands: ``roc``, ``compare``, ``thresholds``, ``kappa``, ``mrmc``, ``report`` (JSON schemas in
``docs/analysis.md``). Output goes to stdout (or ``--output FILE``). JSON is strict: NaN and
infinities are written as ``null``.

Exit codes: 0 success; 2 bad input or options (one line on stderr naming the file, row or
column); 1 an unexpected internal error (one line; ``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from . import calibration, characteristics, mrmc
from ._params import check_alpha
from .agreement import THREE_WAY_LABELS, fleiss_kappa_from_ratings, pairwise_cohen_kappa
from .data import (
    CALL_DECISION_THRESHOLDS,
    TASKS,
    encode_calls,
    has_three_way_calls,
    load_ratings,
    task_ratings,
    validate_ratings,
)
from .delong import cluster_bootstrap_difference, compare_readers
from .errors import AnalysisInputError
from .report import study_report, to_jsonable
from .roc import roc_analysis
from .thresholds import DEFAULT_TARGET_FPRS, threshold_analysis

PROGRAM = "python -m analysis"


class _UsageError(Exception):
    """Raised instead of argparse's exit so the message stays on one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: {message} (see --help)")


def _fpr_list(text: str) -> list[float]:
    values = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r} is not a number") from None
        if not (0.0 <= value <= 1.0):
            raise argparse.ArgumentTypeError(f"FPR {part} is outside [0, 1] (for 5% write 0.05)")
        values.append(value)
    if not values:
        raise argparse.ArgumentTypeError("no FPR given")
    return values


def _alpha(text: str) -> float:
    try:
        return check_alpha(text)
    except AnalysisInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    common = _Parser(add_help=False)
    common.add_argument("--input", required=True, type=Path, help="ratings CSV (long format)")
    common.add_argument("--format", choices=("json", "csv", "md"), default="json")
    common.add_argument("--output", type=Path, help="write here instead of stdout")
    common.add_argument("--alpha", type=_alpha, default=0.05, help="1 - confidence level")
    common.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")

    three_way = _Parser(add_help=False)
    three_way.add_argument(
        "--calls",
        action="store_true",
        help="3-way input (reference + call or p_benign/p_meta/p_ene); detected if omitted",
    )
    three_way.add_argument("--task", choices=TASKS, help="binary task for 3-way input")

    parser = _Parser(
        prog=PROGRAM,
        description="Reader-study statistics: ROC/AUC, DeLong, thresholds, kappa, MRMC, report.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    roc = commands.add_parser(
        "roc", parents=[common, three_way], help="AUC with CI per reader (and modality)"
    )
    roc.add_argument("--cluster", action="store_true", help="Obuchowski clustered variance")
    roc.add_argument("--logit-ci", action="store_true", help="ci95 is the logit-transformed CI")
    roc.add_argument("--reader", action="append", help="only this reader (repeatable)")
    roc.add_argument("--curve", action="store_true", help="add ROC points (JSON only)")
    roc.add_argument(
        "--allow-different-cases",
        action="store_true",
        help="analyse readers of one modality who rated different cases, each on its own cases "
        "(default: refuse); the output's warnings say so",
    )

    compare = commands.add_parser(
        "compare", parents=[common, three_way], help="paired DeLong test of two readers"
    )
    compare.add_argument("--a", required=True, help="first reader / model")
    compare.add_argument("--b", required=True, help="second reader / model")
    compare.add_argument("--modality", help="modality of both")
    compare.add_argument("--modality-a", help="modality of --a (one reader across modalities)")
    compare.add_argument("--modality-b", help="modality of --b")
    compare.add_argument("--cluster", action="store_true", help="Obuchowski clustered variance")
    compare.add_argument(
        "--bootstrap", type=_positive_int, default=0, help="cluster-bootstrap replicates"
    )
    compare.add_argument("--seed", type=int, default=0)

    thresholds = commands.add_parser(
        "thresholds", parents=[common, three_way], help="Youden and fixed-FPR operating points"
    )
    thresholds.add_argument(
        "--fpr", type=_fpr_list, default=list(DEFAULT_TARGET_FPRS), help="e.g. 0.05,0.1,0.2"
    )
    thresholds.add_argument("--reader", action="append", help="only this reader (repeatable)")

    kappa = commands.add_parser(
        "kappa", parents=[common, three_way], help="Fleiss kappa (columns case, reader, call)"
    )
    kappa.add_argument("--call-column", default="call")
    kappa.add_argument("--modality", help="only this modality")
    kappa.add_argument("--reader", action="append", help="only this reader (repeatable)")
    kappa.add_argument("--ci", choices=("gwet", "bootstrap"), default="gwet")
    kappa.add_argument("--n-boot", type=_positive_int, default=2000)
    kappa.add_argument("--seed", type=int, default=0)
    kappa.add_argument("--pairwise", action="store_true", help="add pairwise Cohen kappas")
    kappa.add_argument("--weights", choices=("none", "linear", "quadratic"), default="none")
    kappa.add_argument(
        "--pair-categories",
        choices=("table", "pair"),
        default="table",
        help="categories of a pair's weighted kappa: the whole table's scale (default; same "
        "weights for every pair) or only those the two readers used (irr kappa2, scikit-learn "
        "without labels)",
    )

    mrmc = commands.add_parser(
        "mrmc", parents=[common, three_way], help="Obuchowski-Rockette MRMC (analysis.mrmc)"
    )
    mrmc.add_argument(
        "--covariance", choices=("jackknife", "DeLong", "unbiased"), default="jackknife"
    )
    mrmc.add_argument("--analysis", choices=("RRRC", "FRRC", "RRFC"), default="RRRC")
    mrmc.add_argument(
        "--cluster",
        action="store_true",
        help="cases nested in patients: AUC covariance over clusters (jackknife over patients, "
        "or Obuchowski 1997 with --covariance DeLong)",
    )
    mrmc.add_argument(
        "--cluster-column", help="the column holding the cluster (e.g. patient); implies --cluster"
    )
    mrmc.add_argument("--model", help="standalone model vs the readers instead of modalities")
    mrmc.add_argument("--modality", help="modality of the readers (with --model)")

    report = commands.add_parser(
        "report", parents=[common, three_way], help="everything for one study as one document"
    )
    report.add_argument("--model", action="append", help="a reader that is a model (repeatable)")
    report.add_argument(
        "--fpr", type=_fpr_list, default=list(DEFAULT_TARGET_FPRS), help="e.g. 0.05,0.1,0.2"
    )
    report.add_argument("--cluster", action="store_true", help="Obuchowski clustered variance")
    report.add_argument(
        "--cluster-column", help="the column holding the cluster (e.g. patient); implies --cluster"
    )
    report.add_argument("--derivation-cohort", help="fix thresholds here, apply to the others")
    report.add_argument(
        "--bootstrap", type=_positive_int, default=0, help="cluster-bootstrap replicates"
    )
    report.add_argument("--seed", type=int, default=0)
    report.add_argument("--curves", action="store_true", help="add ROC points to each AUC")
    calibration = commands.add_parser(
        "calibration",
        parents=[common, three_way],
        help="calibration and decision curve of a model's probabilities (analysis.calibration)",
    )
    calibration.add_argument("--reader", required=True, help="the model (scores in [0, 1])")
    calibration.add_argument("--modality")
    calibration.add_argument("--bins", type=_positive_int, default=10)
    calibration.add_argument("--strategy", choices=("quantile", "uniform"), default="quantile")

    characteristics = commands.add_parser(
        "characteristics",
        parents=[common],
        help="patient / node characteristics by group (analysis.characteristics)",
    )
    characteristics.add_argument("--group", required=True, help="column defining the groups")
    characteristics.add_argument("--categorical", type=_name_list, default=[])
    characteristics.add_argument("--continuous", type=_name_list, default=[])
    characteristics.add_argument("--nonparametric", type=_name_list, default=[])
    characteristics.add_argument("--unique-by", help="count each value once (e.g. patient_id)")
    characteristics.add_argument("--overall", action="store_true", help="add an Overall column")
    return parser


def _name_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _binary_table(frame: pd.DataFrame, args: argparse.Namespace) -> tuple[pd.DataFrame, str | None]:
    """The score/truth table: 3-way input is turned into the task's binary table."""
    if args.calls or has_three_way_calls(frame):
        if not args.task:
            raise AnalysisInputError(
                "3-way input (columns 'reference' and 'call' or probabilities): choose "
                f"--task {'|'.join(TASKS)}"
            )
        return task_ratings(frame, task=args.task), args.task
    if args.task:
        raise AnalysisInputError(
            "--task needs 3-way input (columns 'reference' and 'call' or p_benign, p_meta, p_ene)"
        )
    return frame, None


def _run_roc(frame: pd.DataFrame, args: argparse.Namespace) -> tuple[dict[str, Any], list[dict]]:
    table, task = _binary_table(frame, args)
    results = roc_analysis(
        table,
        alpha=args.alpha,
        cluster=args.cluster,
        readers=args.reader,
        curves=args.curve,
        allow_different_cases=args.allow_different_cases,
    )
    entries = [result.to_dict(logit_ci=args.logit_ci) for result in results]
    rows = [{key: value for key, value in entry.items() if key != "curve"} for entry in entries]
    document = {
        "results": entries,
        "task": task,
        "confidence_level": 1.0 - args.alpha,
        "ci_method": "logit" if args.logit_ci else "wald_clipped",
        "variance_method": "obuchowski" if args.cluster else "delong",
        "warnings": list(dict.fromkeys(w for result in results for w in result.warnings)),
    }
    return document, rows


def _run_compare(
    frame: pd.DataFrame, args: argparse.Namespace
) -> tuple[dict[str, Any], list[dict]]:
    table, task = _binary_table(frame, args)
    test = compare_readers(
        table,
        a=args.a,
        b=args.b,
        modality=args.modality,
        modality_a=args.modality_a,
        modality_b=args.modality_b,
        alpha=args.alpha,
        cluster=args.cluster,
    )
    document = test.to_dict()
    document["task"] = task
    if args.bootstrap > 0:
        if "cluster" not in {str(c).strip().lower() for c in table.columns}:
            raise AnalysisInputError(
                "--bootstrap resamples clusters: the input needs a 'cluster' column"
            )
        valid = validate_ratings(table, require_cluster=True)

        def rows_of(reader: str, modality: str | None) -> pd.DataFrame:
            selected = valid[valid["reader"] == reader]
            if modality is not None:
                selected = selected[selected["modality"] == modality]
            return selected.set_index("case")

        first = rows_of(args.a, args.modality_a or args.modality)
        second = rows_of(args.b, args.modality_b or args.modality).loc[first.index]
        document["bootstrap"] = cluster_bootstrap_difference(
            first["score"],
            second["score"],
            first["truth"],
            first["cluster"],
            n_boot=args.bootstrap,
            seed=args.seed,
            alpha=args.alpha,
        ).to_dict()
    return document, [document]


def _run_thresholds(
    frame: pd.DataFrame, args: argparse.Namespace
) -> tuple[dict[str, Any], list[dict]]:
    table, task = _binary_table(frame, args)
    results = [
        item.to_dict()
        for item in threshold_analysis(
            table, target_fprs=args.fpr, alpha=args.alpha, readers=args.reader
        )
    ]
    rows = []
    for item in results:
        base = {"reader": item["reader"], "modality": item["modality"]}
        rows.append({**base, "criterion": "youden", "target_fpr": None, **item["youden"]})
        for point in item["fixed_fpr"]:
            rows.append({**base, "criterion": "fixed_fpr", **point})
    document = {
        "results": results,
        "task": task,
        "target_fprs": list(args.fpr),
        "threshold_rule": "score >= threshold",
        "confidence_level": 1.0 - args.alpha,
    }
    return document, rows


def _run_kappa(frame: pd.DataFrame, args: argparse.Namespace) -> tuple[dict[str, Any], list[dict]]:
    table = frame
    if args.modality is not None:
        if "modality" not in table.columns:
            raise AnalysisInputError(
                f"--modality {args.modality} but there is no 'modality' column"
            )
        table = table[table["modality"].astype(str).str.strip() == args.modality]
        if table.empty:
            raise AnalysisInputError(f"modality {args.modality!r} not found")
    three_way = args.calls or has_three_way_calls(table)
    call_column = args.call_column
    categories: list[Any] | None = None
    if three_way and call_column in table.columns:
        # Model rows of 3-way input carry probabilities, not calls: agreement is among readers.
        table = table[table[call_column].notna()]
        if not args.task:
            codes = encode_calls(table[call_column], column=call_column, table=table)
            table = table.assign(**{call_column: [THREE_WAY_LABELS[code] for code in codes]})
            categories = list(THREE_WAY_LABELS)
    if args.task:
        if not (args.calls or has_three_way_calls(table)):
            raise AnalysisInputError("--task needs 3-way input (columns 'reference' and 'call')")
        binary = task_ratings(table, task=args.task)
        decision = CALL_DECISION_THRESHOLDS[args.task]
        table = binary.assign(call=(binary["score"] >= decision).astype(int))
        call_column, categories = "call", [0, 1]
    result = fleiss_kappa_from_ratings(
        table,
        call_column=call_column,
        categories=categories,
        readers=args.reader,
        alpha=args.alpha,
        ci_method=args.ci,
        n_boot=args.n_boot,
        seed=args.seed,
    )
    document = result.to_dict()
    document["task"] = args.task
    rows = [
        {
            "scope": "overall",
            "kappa": result.kappa,
            "se": result.se,
            "ci95": list(result.ci),
            "se0": result.se0,
            "z": result.z,
            "p_value": result.p_value,
            "n_cases": result.n_cases,
            "n_readers": result.n_raters,
        }
    ]
    rows += [
        {"scope": f"category {item.category}", **item.to_dict()} for item in result.category_kappas
    ]
    if args.pairwise:
        weights = None if args.weights == "none" else args.weights
        pairs = pairwise_cohen_kappa(
            table,
            call_column=call_column,
            weights=weights,
            categories=categories,
            readers=args.reader,
            alpha=args.alpha,
            category_scale=args.pair_categories,
        )
        document["pairwise_cohen_kappa"] = [pair.to_dict() for pair in pairs]
        document["pairwise_category_scale"] = args.pair_categories
        rows += [{"scope": f"pair {pair.a} vs {pair.b}", **pair.to_dict()} for pair in pairs]
    return document, rows


def _with_cluster_column(frame: pd.DataFrame, args: argparse.Namespace) -> pd.DataFrame:
    """``--cluster-column NAME``: that column becomes ``cluster`` (and turns ``--cluster`` on)."""
    name = getattr(args, "cluster_column", None)
    if not name:
        return frame
    if name not in frame.columns:
        raise AnalysisInputError(
            f"--cluster-column {name!r}: no such column (columns: {list(frame.columns)})"
        )
    args.cluster = True
    if name == "cluster":
        return frame
    return frame.drop(columns=[c for c in frame.columns if c == "cluster"]).rename(
        columns={name: "cluster"}
    )


def _run_mrmc(frame: pd.DataFrame, args: argparse.Namespace) -> tuple[dict[str, Any], list[dict]]:
    frame = _with_cluster_column(frame, args)
    table, task = _binary_table(frame, args)
    if args.model and args.cluster:
        raise AnalysisInputError("--cluster is not available with --model (standalone) yet")
    if args.model:
        result = mrmc.standalone_vs_readers(
            table,
            model=args.model,
            modality=args.modality,
            covariance=args.covariance,
            analysis=args.analysis,
            alpha=args.alpha,
        ).to_dict()
        rows = [
            {"reader": reader, **values} for reader, values in result.get("readers", {}).items()
        ]
    else:
        or_function = mrmc.clustered_or_analysis if args.cluster else mrmc.or_analysis
        result = or_function(
            table, covariance=args.covariance, analysis=args.analysis, alpha=args.alpha
        ).to_dict()
        rows = [
            {
                "test": "F",
                "f": result.get("f"),
                "df1": result.get("df1"),
                "df2": result.get("df2"),
                "p_value": result.get("p_value"),
            }
        ] + [{"test": "difference", **difference} for difference in result.get("differences", [])]
    if task is not None:
        result["task"] = task
    return result, rows


def _run_report(frame: pd.DataFrame, args: argparse.Namespace) -> tuple[dict[str, Any], list[dict]]:
    frame = _with_cluster_column(frame, args)
    if args.bootstrap and not args.cluster:
        raise AnalysisInputError(
            "--bootstrap resamples clusters: add --cluster (and a 'cluster' column)"
        )
    document = study_report(
        frame,
        models=args.model,
        tasks=[args.task] if args.task else None,
        calls=True if args.calls else None,
        target_fprs=args.fpr,
        alpha=args.alpha,
        cluster=args.cluster,
        derivation_cohort=args.derivation_cohort,
        n_boot=args.bootstrap,
        seed=args.seed,
        curves=args.curves,
    )
    return document, report_rows(document)


def report_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat AUC table of a report (seed 001's Tables 4-6): one row per cohort/task/reader."""
    rows = []
    for cohort in document.get("cohorts", []):
        for task in cohort.get("tasks", []):
            for block in task.get("modalities", []):
                versus = {}
                for detail in block.get("models_detail", []):
                    for test in detail.get("versus_readers") or []:
                        if isinstance(test, dict) and "b" in test:
                            versus[test["b"]] = test
                own_points = {
                    point["reader"]: point
                    for point in block.get("reader_operating_points") or []
                    if isinstance(point, dict) and "reader" in point
                }
                for entry in block.get("roc") or []:
                    if not isinstance(entry, dict) or "reader" not in entry:
                        continue
                    test = versus.get(entry["reader"], {})
                    point = own_points.get(entry["reader"], {})
                    rows.append(
                        {
                            "cohort": cohort.get("cohort"),
                            "task": task.get("task"),
                            "modality": block.get("modality"),
                            "reader": entry["reader"],
                            "auc": entry.get("auc"),
                            "ci95": entry.get("ci95"),
                            "p_vs_model": test.get("p_value"),
                            "sensitivity": (point.get("sensitivity") or {}).get("estimate"),
                            "specificity": (point.get("specificity") or {}).get("estimate"),
                            "accuracy": (point.get("accuracy") or {}).get("estimate"),
                        }
                    )
                mean = block.get("reader_mean")
                if isinstance(mean, dict) and "mean_auc" in mean:
                    rows.append(
                        {
                            "cohort": cohort.get("cohort"),
                            "task": task.get("task"),
                            "modality": block.get("modality"),
                            "reader": "reader mean",
                            "auc": mean["mean_auc"],
                            "ci95": mean.get("ci95"),
                        }
                    )
    return rows


def _run_calibration(
    frame: pd.DataFrame, args: argparse.Namespace
) -> tuple[dict[str, Any], list[dict]]:
    table, task = _binary_table(frame, args)
    result = calibration.calibration_analysis(
        table,
        reader=args.reader,
        modality=args.modality,
        n_bins=args.bins,
        strategy=args.strategy,
        alpha=args.alpha,
    ).to_dict()
    curve = calibration.decision_curve_analysis(
        table, readers=[args.reader], modality=args.modality
    ).to_dict()
    document = {"reader": args.reader, "task": task, "calibration": result, "decision_curve": curve}
    reliability = result.get("reliability") or {}
    bins = reliability.get("bins") if isinstance(reliability, dict) else None
    rows = (
        bins
        if isinstance(bins, list) and bins and isinstance(bins[0], dict)
        else [{key: value for key, value in result.items() if not isinstance(value, (dict, list))}]
    )
    return document, rows


def _run_characteristics(
    frame: pd.DataFrame, args: argparse.Namespace
) -> tuple[dict[str, Any], list[dict]]:
    # Characteristics need numbers as numbers: re-read with type inference.
    try:
        table = pd.read_csv(args.input)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise AnalysisInputError(f"cannot read CSV: {exc}") from None
    named = [args.group, *args.categorical, *args.continuous, *args.nonparametric]
    if args.unique_by:
        named.append(args.unique_by)
    missing = [name for name in named if name not in table.columns]
    if missing:
        raise AnalysisInputError(f"missing column(s) {missing}; found {list(table.columns)}")
    result = characteristics.characteristics_table(
        table,
        group=args.group,
        categorical=args.categorical,
        continuous=[*args.continuous, *args.nonparametric],
        nonparametric=args.nonparametric,
        overall=args.overall,
        unique_by=args.unique_by,
    )
    document = result.to_dict()
    return document, list(document.get("rows", []))


RUNNERS = {
    "roc": _run_roc,
    "compare": _run_compare,
    "thresholds": _run_thresholds,
    "kappa": _run_kappa,
    "mrmc": _run_mrmc,
    "report": _run_report,
    "calibration": _run_calibration,
    "characteristics": _run_characteristics,
}


def _flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)) and len(value) == 2 and name.endswith("ci95"):
            flat[f"{name}.lower"], flat[f"{name}.upper"] = value
        elif isinstance(value, (list, tuple)):
            flat[name] = ";".join("" if item is None else str(item) for item in value)
        else:
            flat[name] = value
    return flat


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    return columns


def render(document: dict[str, Any], rows: list[dict[str, Any]], output_format: str) -> str:
    """Text of the result in ``json`` (the document), ``csv`` or ``md`` (the flat rows)."""
    if output_format == "json":
        return json.dumps(to_jsonable(document), indent=2, allow_nan=False) + "\n"
    flat = [_flatten(to_jsonable(row)) for row in rows]
    columns = _columns(flat)
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in flat:
            writer.writerow({key: "" if row.get(key) is None else row.get(key) for key in columns})
        return buffer.getvalue()

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(key)) for key in columns) + " |" for row in flat]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    source = args.input
    try:
        frame = load_ratings(source)
        document, rows = RUNNERS[args.command](frame, args)
        text = render(document, rows, args.format)
    except AnalysisInputError as exc:
        message = str(exc)
        if not message.startswith(str(source)):
            message = f"{source}: {message}"
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug, not bad input: one line and exit code 1 unless --debug
        if args.debug:
            traceback.print_exc()
        else:
            print(
                f"internal error ({type(exc).__name__}: {' '.join(str(exc).split())}); "
                "rerun with --debug for the traceback",
                file=sys.stderr,
            )
        return 1
    if args.output is not None:
        try:
            args.output.write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"error: {args.output}: cannot write: {exc.strerror}", file=sys.stderr)
            return 2
    else:
        sys.stdout.write(text)
    return 0
