"""One JSON document with every analysis of a reader study (seed 001's Tables 3-6 and more).

:func:`study_report` takes the long ratings table, either

* *scores*: ``case``, ``reader``, ``score``, ``truth`` (+ ``modality``, ``cluster``, ``cohort``), or
* *3-way calls*: ``case``, ``reader``, ``reference`` (benign / metastasis / ene) and per row a
  reader's ``call`` or a model's ``p_benign``, ``p_meta``, ``p_ene``; each of seed 001's three
  binary tasks is then analysed (:func:`analysis.data.task_ratings`),

and reports, per cohort (and pooled when there are several), per task and per modality: AUCs with
CIs, the model against each reader (paired DeLong) and against the reader mean, the reader-mean
AUC, Youden / fixed-FPR operating points of models, each reader's own operating point (3-way
calls), McNemar tests of model vs reader sensitivity/specificity, Fleiss' kappa and 3x3 confusion
matrices, the MRMC (Obuchowski-Rockette) comparison of modalities, the standalone-model-vs-readers
test and the model's calibration. A section that cannot be computed for a legitimate data reason
(e.g. a cohort without ENE nodes: :class:`~analysis.errors.AnalysisInputError`) holds
``{"error": message}`` and the message is added to ``warnings``; any other failure propagates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis._jsonable import to_jsonable

from . import calibration, mrmc
from ._params import check_alpha
from .agreement import (
    THREE_WAY_LABELS,
    confusion_matrix,
    fleiss_kappa,
    fleiss_kappa_from_ratings,
)
from .data import (
    CALL_DECISION_THRESHOLDS,
    PROBABILITY_COLUMNS,
    TASK_LABELS,
    TASKS,
    encode_calls,
    has_three_way_calls,
    load_ratings,
    map_distinct,
    matrix_of_valid_ratings,
    reader_rows_by_case,
    task_ratings,
    trust_validated_frame,
    trusting_validated_frames,
    validate_ratings,
)
from .delong import (
    cluster_bootstrap_auc,
    cluster_bootstrap_difference,
    compare_readers,
    model_vs_reader_mean,
    reader_mean_auc,
)
from .errors import AnalysisInputError
from .roc import roc_analysis_of_valid
from .thresholds import (
    DEFAULT_TARGET_FPRS,
    mcnemar_sensitivity_specificity,
    operating_point,
    threshold_analysis,
    transfer_threshold,
    youden_threshold,
)

__all__ = [
    "REPORT_SCHEMA",
    "cohort_section_count",
    "study_report",
    "study_report_merge",
    "study_reports",
    "to_jsonable",
]

REPORT_SCHEMA = "readerstudy.analysis.report/1"
POOLED_COHORT = "all cohorts"


class _Sections:
    """Runs report sections; a data-dependent failure becomes ``{"error": ...}`` plus a warning.

    Only :class:`AnalysisInputError` (the data do not allow the section, e.g. a cohort without
    ENE nodes) is caught, and its message is recorded in the report's ``warnings``; anything else
    (a bug, a missing dependency) propagates and fails the report.
    """

    def __init__(self, shared: dict[str, Any] | None = None) -> None:
        self.warnings: list[str] = []
        self._shared = shared
        self._independent_seen: set[str] = set()

    def run(
        self, where: str, compute: Callable[..., Any], *, cluster_independent: bool = False
    ) -> Any:
        """The section's JSON. ``cluster_independent``: its numbers and messages are the same
        with and without a ``cluster`` column, so another report sharing ``shared_sections``
        may have computed it already (``where`` names it)."""
        if cluster_independent:
            if where in self._independent_seen:
                raise RuntimeError(f"two report sections are both named {where!r}")
            self._independent_seen.add(where)
            if self._shared is not None and where in self._shared:
                value, warning = self._shared[where]
                if warning is not None:
                    self.warnings.append(warning)
                return value
        warning = None
        try:
            value = to_jsonable(compute())
        except AnalysisInputError as exc:
            warning = f"{where}: {exc}"
            self.warnings.append(warning)
            value = {"error": str(exc)}
        if cluster_independent and self._shared is not None:
            self._shared[where] = (value, warning)
        return value


def _model_rows_for_modality(
    frame: pd.DataFrame, modality: str | None, models: Sequence[str]
) -> pd.DataFrame:
    """Rows of one modality; a model rated in another single modality is reused for it."""
    if modality is None or "modality" not in frame.columns:
        return frame
    selected = frame[frame["modality"] == modality]
    extra = []
    for model in models:
        if (selected["reader"] == model).any():
            continue
        model_rows = frame[frame["reader"] == model]
        if model_rows["modality"].nunique() == 1:
            extra.append(model_rows)
    if extra:
        # No ignore_index: the data row numbers stay, so messages name the user's own rows.
        selected = pd.concat([selected, *extra])
    return selected.drop(columns=["modality"])


def _case_clusters(rows: pd.DataFrame, cases: list[str]) -> np.ndarray:
    return rows.groupby("case", sort=False)["cluster"].first().reindex(cases).to_numpy()


def _reader_vector(rows: pd.DataFrame, reader: str) -> pd.DataFrame:
    return reader_rows_by_case(rows, reader)


def _single_modality_sections(
    rows: pd.DataFrame,
    *,
    models: list[str],
    task: str | None,
    three_way: bool,
    target_fprs: Sequence[float],
    alpha: float,
    cluster: bool,
    n_boot: int,
    seed: int,
    curves: bool,
    sections: _Sections,
    where: str,
) -> dict[str, Any]:
    decision = CALL_DECISION_THRESHOLDS[task] if three_way and task is not None else None
    readers_present = [str(reader) for reader in pd.unique(rows["reader"])]
    present_models = [model for model in models if model in readers_present]
    humans = [reader for reader in readers_present if reader not in models]
    out: dict[str, Any] = {
        "readers": humans,
        "models": present_models,
        "n_cases": int(rows["case"].nunique()),
        "n_positive": int(rows.groupby("case")["truth"].first().sum()),
        "n_negative": int((1 - rows.groupby("case")["truth"].first()).sum()),
    }
    out["roc"] = sections.run(
        f"{where} roc",
        lambda: [
            result.to_dict()
            for result in roc_analysis_of_valid(rows, alpha=alpha, cluster=cluster, curves=curves)
        ],
    )
    if n_boot > 0 and cluster:

        def bootstrap_aucs() -> list[dict[str, Any]]:
            results = []
            for reader in readers_present:
                own = _reader_vector(rows, reader)
                interval = cluster_bootstrap_auc(
                    own["score"],
                    own["truth"],
                    own["cluster"],
                    n_boot=n_boot,
                    seed=seed,
                    alpha=alpha,
                )
                results.append({"reader": reader, **interval.to_dict()})
            return results

        out["bootstrap_auc"] = sections.run(f"{where} bootstrap", bootstrap_aucs)

    if humans:

        def mean_of_readers() -> dict[str, Any]:
            names, cases, scores, truth = matrix_of_valid_ratings(rows, readers=humans)
            clusters = _case_clusters(rows, cases) if cluster else None
            return reader_mean_auc(
                scores, truth, names=names, alpha=alpha, clusters=clusters
            ).to_dict()

        out["reader_mean"] = sections.run(f"{where} reader mean", mean_of_readers)

    if decision is not None:

        def reader_points() -> list[dict[str, Any]]:
            points = []
            for reader in humans:
                own = _reader_vector(rows, reader)
                point = operating_point(own["score"], own["truth"], threshold=decision, alpha=alpha)
                points.append({"reader": reader, **point.to_dict()})
            return points

        out["reader_operating_points"] = sections.run(
            f"{where} reader calls", reader_points, cluster_independent=True
        )
        if len(humans) >= 2:

            def decision_kappa() -> dict[str, Any]:
                # The validated rows give the complete readers x cases matrix directly; as
                # fleiss_kappa_from_ratings(calls, categories=[0, 1]) would build it.
                _, _, scores, _ = matrix_of_valid_ratings(rows, readers=humans)
                codes = (scores >= decision).astype(int).T  # cases x readers
                counts = np.stack([np.bincount(row, minlength=2) for row in codes]).astype(float)
                return fleiss_kappa(
                    counts, categories=["0", "1"], alpha=alpha, rater_codes=codes
                ).to_dict()

            out["fleiss_kappa"] = sections.run(
                f"{where} Fleiss kappa", decision_kappa, cluster_independent=True
            )
    elif humans:
        out["reader_thresholds"] = sections.run(
            f"{where} reader thresholds",
            lambda: [
                item.to_dict()
                for item in threshold_analysis(
                    rows, target_fprs=target_fprs, alpha=alpha, readers=humans
                )
            ],
            cluster_independent=True,
        )

    model_sections = []
    for model in present_models:
        section: dict[str, Any] = {"model": model}
        section["thresholds"] = sections.run(
            f"{where} {model} thresholds",
            lambda model=model: threshold_analysis(
                rows, target_fprs=target_fprs, alpha=alpha, readers=[model]
            )[0].to_dict(),
            cluster_independent=True,
        )

        def versus_readers(model: str = model) -> list[dict[str, Any]]:
            results = []
            for reader in humans:
                test = compare_readers(rows, a=model, b=reader, alpha=alpha, cluster=cluster)
                entry = test.to_dict()
                if n_boot > 0 and cluster:
                    first = _reader_vector(rows, model)
                    second = _reader_vector(rows, reader)
                    if not second.index.equals(first.index):
                        second = second.loc[first.index]
                    entry["bootstrap"] = cluster_bootstrap_difference(
                        first["score"],
                        second["score"],
                        first["truth"],
                        first["cluster"],
                        n_boot=n_boot,
                        seed=seed,
                        alpha=alpha,
                    ).to_dict()
                results.append(entry)
            return results

        section["versus_readers"] = sections.run(f"{where} {model} vs readers", versus_readers)
        if humans:

            def versus_mean(model: str = model) -> dict[str, Any]:
                names, cases, scores, truth = matrix_of_valid_ratings(
                    rows, readers=[model, *humans]
                )
                clusters = _case_clusters(rows, cases) if cluster else None
                return model_vs_reader_mean(
                    scores[0],
                    scores[1:],
                    truth,
                    model_name=model,
                    reader_names=names[1:],
                    alpha=alpha,
                    clusters=clusters,
                ).to_dict()

            section["versus_reader_mean"] = sections.run(
                f"{where} {model} vs reader mean", versus_mean
            )
        if decision is not None and humans:

            def mcnemar(model: str = model) -> list[dict[str, Any]]:
                own = _reader_vector(rows, model)
                youden = youden_threshold(own["score"], own["truth"], alpha=alpha).point
                results = []
                for reader in humans:
                    other = _reader_vector(rows, reader)
                    if own.index.equals(other.index):
                        mine, theirs = own, other
                    else:
                        common = own.index.intersection(other.index)
                        mine, theirs = own.loc[common], other.loc[common]
                    tests = mcnemar_sensitivity_specificity(
                        mine["score"] >= youden.threshold,
                        theirs["score"] >= decision,
                        mine["truth"],
                    )
                    results.append(
                        {
                            "reader": reader,
                            "model_threshold": youden.threshold,
                            "model_rule": "Youden threshold on this cohort",
                            **{name: test.to_dict() for name, test in tests.items()},
                        }
                    )
                return results

            section["mcnemar_versus_readers"] = sections.run(
                f"{where} {model} McNemar", mcnemar, cluster_independent=True
            )
        if len(humans) >= 2:
            section["standalone_vs_readers"] = sections.run(
                f"{where} {model} standalone vs readers (OR)",
                lambda model=model: mrmc.standalone_vs_readers(
                    trust_validated_frame(rows[rows["reader"].isin([model, *humans])]),
                    model=model,
                    alpha=alpha,
                ).to_dict(),
            )
        model_scores = rows.loc[rows["reader"] == model, "score"]
        if model_scores.between(0.0, 1.0).all() and not model_scores.isin([0.0, 1.0]).all():
            section["calibration"] = sections.run(
                f"{where} {model} calibration",
                lambda model=model: calibration.calibration_analysis(
                    rows, reader=model, alpha=alpha
                ).to_dict(),
                cluster_independent=True,
            )
        model_sections.append(section)
    if model_sections:
        out["models_detail"] = model_sections
    return out


def _three_way_agreement(
    frame: pd.DataFrame, *, models: list[str], alpha: float, sections: _Sections, where: str
) -> dict[str, Any]:
    """Per modality: 3-category Fleiss kappa of the readers and 3x3 confusion matrices.

    Models' 3-way call is their most probable class.
    """
    has_calls = "call" in frame.columns
    if "modality" in frame.columns:
        labels = frame["modality"].astype(str).str.strip()
        blocks: list[tuple[str | None, pd.DataFrame]] = [
            (str(m), frame[labels == m]) for m in pd.unique(labels)
        ]
    else:
        blocks = [(None, frame)]
    kappas: list[Any] = []
    matrices: list[Any] = []
    for modality, block in blocks:
        label = f"{where}, modality {modality}" if modality is not None else where
        human_rows = (
            block[block["call"].notna() & ~block["reader"].isin(models)]
            if has_calls
            else block.iloc[0:0]
        )
        if human_rows["reader"].nunique() >= 2:
            kappa = sections.run(
                f"{label} 3-way Fleiss kappa",
                lambda human_rows=human_rows: fleiss_kappa_from_ratings(
                    human_rows.assign(call=lambda f: map_distinct(f["call"], _call_name)),
                    categories=list(THREE_WAY_LABELS),
                    alpha=alpha,
                ).to_dict(),
                cluster_independent=True,
            )
            kappas.append({"modality": modality, **kappa})

        def block_matrices(
            block: pd.DataFrame = block, modality: str | None = modality
        ) -> list[dict[str, Any]]:
            results = []
            for reader, group in block.groupby("reader", sort=False):
                if has_calls and group["call"].notna().all():
                    calls = group["call"].tolist()
                elif all(column in group.columns for column in PROBABILITY_COLUMNS):
                    probabilities = group[list(PROBABILITY_COLUMNS)].apply(
                        pd.to_numeric, errors="coerce"
                    )
                    if probabilities.isna().any().any():
                        raise AnalysisInputError(
                            f"reader {reader!r}: neither calls nor probabilities"
                        )
                    calls = probabilities.to_numpy().argmax(axis=1).tolist()
                else:
                    raise AnalysisInputError(f"reader {reader!r}: missing calls")
                matrix = confusion_matrix(calls, group["reference"].tolist(), reader=str(reader))
                results.append({"modality": modality, **matrix.to_dict()})
            return results

        computed = sections.run(
            f"{label} confusion matrices", block_matrices, cluster_independent=True
        )
        if isinstance(computed, list):
            matrices.extend(computed)
        else:
            matrices.append({"modality": modality, **computed})
    return {"fleiss_kappa_3way": kappas, "confusion_matrices": matrices}


def _call_name(value: Any) -> str:
    """A 3-way call as benign / metastasis / ene (codes and spellings accepted)."""
    return THREE_WAY_LABELS[int(encode_calls([value])[0])]


def study_report(
    ratings: pd.DataFrame,
    *,
    models: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
    calls: bool | None = None,
    target_fprs: Sequence[float] = DEFAULT_TARGET_FPRS,
    alpha: float = 0.05,
    cluster: bool = False,
    derivation_cohort: str | None = None,
    n_boot: int = 0,
    seed: int = 0,
    include_mrmc: bool = True,
    curves: bool = False,
    shared_sections: dict[str, Any] | None = None,
    cohorts: slice | None = None,
) -> dict[str, Any]:
    """Every analysis of one study as one strict-JSON-ready dict.

    Parameters
    ----------
    ratings : DataFrame
        Long table (scores or 3-way calls, see the module docstring).
    models : sequence of str, optional
        Readers that are models (compared with the others). Default: none for scores; for 3-way
        input, the readers whose rows carry probabilities instead of calls.
    tasks : sequence of str, optional
        Subset of ``ene``, ``metastasis``, ``ene_vs_meta`` (3-way input only; default all three).
    calls : bool, optional
        Force (True) or forbid (False) the 3-way mode; default: detected from the columns.
    target_fprs : sequence of float
        False-positive rates for the fixed-FPR operating points (default 5, 10, 15, 20, 30%).
    alpha : float
        1 - confidence level.
    cluster : bool
        Use Obuchowski's clustered variance (needs a ``cluster`` column); with several
        modalities, ``mrmc_clustered`` (OR with the jackknife over clusters,
        :func:`analysis.mrmc.clustered_or_analysis`) is added beside the node-level ``mrmc``.
    derivation_cohort : str, optional
        Cohort whose Youden / fixed-FPR thresholds are applied unchanged to the other cohorts
        (seed 003's practice); needs a ``cohort`` column and a model.
    n_boot, seed : int
        With ``cluster`` and ``n_boot > 0``: cluster-bootstrap percentile intervals too.
    include_mrmc : bool
        Run the OR MRMC comparison of modalities when there are several.
    curves : bool
        Add each reader's ROC points (``curve``: thresholds, fpr, tpr) to its ``roc`` entry.
    shared_sections : dict, optional
        One dict (start with ``{}``) passed to reports of the same ratings that differ only in
        ``cluster`` (and ``curves``), such as the node-level and patient-clustered reports of a
        study: the sections clustering does not change (operating points, thresholds, Fleiss
        kappas, confusion matrices, McNemar tests, calibration, threshold transfers) are
        computed by the first report and taken unchanged by the next. The other options must be
        the same; :class:`ValueError` if they are not.
    cohorts : slice, optional
        Compute only these of the report's cohort sections (each cohort in order of first
        appearance, then the pooled one), and the threshold transfers only if the slice reaches
        the last section: a part of the report, for computing parts side by side (for example
        ``slice(0, -1)`` and ``slice(-1, None)`` in two processes).
        :func:`study_report_merge` of the parts, in order, is the whole report.

    Returns
    -------
    dict
        ``{"schema", "mode", "options", "cohorts": [...], "threshold_transfer": [...],
        "warnings": [...]}``; see ``docs/analysis.md``.
    """
    check_alpha(alpha)
    frame, three_way, task_list, model_list, task_tables = _prepared_input(
        ratings, models=models, tasks=tasks, calls=calls, cluster=cluster
    )
    _check_derivation_cohort(frame, derivation_cohort)
    options = _ReportOptions(
        models=model_list,
        tasks=task_list,
        three_way=three_way,
        target_fprs=list(target_fprs),
        alpha=alpha,
        cluster=cluster,
        n_boot=n_boot,
        seed=seed,
        include_mrmc=include_mrmc,
        curves=curves,
        task_tables=task_tables,
    )
    if shared_sections is not None:
        # The shared sections are valid only for the same rows analysed the same way.
        same_analysis = repr(
            (
                len(frame),
                model_list,
                task_list,
                three_way,
                list(target_fprs),
                alpha,
                derivation_cohort,
                n_boot,
                seed,
                include_mrmc,
            )
        )
        if shared_sections.setdefault("__analysis__", same_analysis) != same_analysis:
            raise ValueError(
                "shared_sections was filled by a report of other ratings or options: "
                f"{shared_sections['__analysis__']} != {same_analysis}"
            )
    sections = _Sections(shared_sections)
    all_cohorts = _cohorts_of(frame)
    positions = range(len(all_cohorts)) if cohorts is None else range(len(all_cohorts))[cohorts]
    with trusting_validated_frames():
        cohort_results = [
            _cohort_section(*all_cohorts[position], options, sections) for position in positions
        ]
        transfers = (
            _threshold_transfers(frame, derivation_cohort, options, sections)
            if derivation_cohort is not None and len(all_cohorts) - 1 in positions
            else []
        )
    return to_jsonable(
        {
            "schema": REPORT_SCHEMA,
            "mode": "three_way_calls" if three_way else "scores",
            "options": {
                "models": model_list,
                "tasks": task_list,
                "target_fprs": list(target_fprs),
                "alpha": alpha,
                "confidence_level": 1.0 - alpha,
                "variance": "obuchowski_clustered" if cluster else "delong",
                "derivation_cohort": derivation_cohort,
                "n_boot": n_boot,
                "seed": seed,
                "curves": curves,
            },
            "cohorts": cohort_results,
            "threshold_transfer": transfers,
            "warnings": sections.warnings,
        }
    )


def cohort_section_count(ratings: pd.DataFrame) -> int:
    """How many cohort sections :func:`study_report` computes for ``ratings``: one per cohort
    (``cohort`` column), plus the pooled one when there are several; 1 without that column.
    For choosing the ``cohorts`` slices of report parts."""
    if "cohort" not in ratings.columns:
        return 1
    n_cohorts = int(ratings["cohort"].astype(str).str.strip().nunique())
    return n_cohorts + 1 if n_cohorts > 1 else n_cohorts


def study_report_merge(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The whole report from its parts (:func:`study_report` with ``cohorts`` slices that cover
    every section once, in order): the cohort sections, threshold transfers and warnings of the
    parts one after the other, which is the order the whole report has them in.

    Raises :class:`ValueError` if the parts are not of one report (schema, mode or options
    differ)."""
    if not parts:
        raise ValueError("no report parts to merge")
    first = parts[0]
    for part in parts[1:]:
        for key in ("schema", "mode", "options"):
            if part[key] != first[key]:
                raise ValueError(f"report parts differ in {key!r}: {part[key]} != {first[key]}")
    return {
        **first,
        "cohorts": [section for part in parts for section in part["cohorts"]],
        "threshold_transfer": [item for part in parts for item in part["threshold_transfer"]],
        "warnings": [warning for part in parts for warning in part["warnings"]],
    }


def study_reports(
    variants: Sequence[tuple[pd.DataFrame, dict[str, Any]]],
    *,
    cohorts: slice | None = None,
    **common: Any,
) -> list[dict[str, Any] | AnalysisInputError]:
    """Reports of the same ratings that differ only in ``cluster`` and ``curves`` (each variant:
    its table, e.g. with a ``cluster`` column, and those options), sharing the sections
    clustering does not change (``shared_sections``); ``cohorts`` and ``common`` as in
    :func:`study_report`. A variant the data do not allow gives its
    :class:`AnalysisInputError` in its place, so one call (e.g. in another process) answers for
    all of them."""
    shared: dict[str, Any] = {}
    reports: list[dict[str, Any] | AnalysisInputError] = []
    for table, options in variants:
        try:
            reports.append(
                study_report(table, shared_sections=shared, cohorts=cohorts, **options, **common)
            )
        except AnalysisInputError as error:
            reports.append(error)
    return reports


@dataclass(frozen=True)
class _ReportOptions:
    """What every section of one report needs besides its rows."""

    models: list[str]
    tasks: list[str | None]
    three_way: bool
    target_fprs: list[float]
    alpha: float
    cluster: bool
    n_boot: int
    seed: int
    include_mrmc: bool
    curves: bool
    # Each task's validated binary table of the whole study (see _prepared_input): a cohort's
    # part is a subset of its rows, valid without being validated again.
    task_tables: dict[str | None, pd.DataFrame]


def _prepared_input(
    ratings: pd.DataFrame,
    *,
    models: Sequence[str] | None,
    tasks: Sequence[str] | None,
    calls: bool | None,
    cluster: bool,
) -> tuple[pd.DataFrame, bool, list[str | None], list[str], dict[str | None, pd.DataFrame]]:
    """Load and validate the whole table up front: bad input fails the report, not a section.

    Returns the table, whether it is 3-way input, the tasks (``[None]`` for scores), the models
    (for 3-way input by default the readers whose rows carry probabilities, not calls) and each
    task's validated binary table (scores: the validated table, under ``None``), whose rows keep
    the input's data row numbers so that a cohort's part is taken by index.
    """
    frame = load_ratings(ratings)
    three_way = has_three_way_calls(frame) if calls is None else bool(calls)
    if calls and not has_three_way_calls(frame):
        raise AnalysisInputError(
            "3-way mode needs a 'reference' column and a 'call' column (or p_benign, p_meta, "
            f"p_ene); found {list(frame.columns)}"
        )
    task_list: list[str | None]
    if three_way:
        three_way_tasks = list(tasks) if tasks else list(TASKS)
        for task in three_way_tasks:
            if task not in TASKS:
                raise AnalysisInputError(f"unknown task {task!r}; choose from {list(TASKS)}")
        if models is None:
            has_call = (
                frame["call"].notna() & (frame["call"].astype(str).str.strip() != "")
                if "call" in frame.columns
                else pd.Series(False, index=frame.index)
            )
            models = [str(reader) for reader in pd.unique(frame.loc[~has_call, "reader"])]
        task_tables: dict[str | None, pd.DataFrame] = {
            task: validate_ratings(task_ratings(frame, task=task), require_cluster=cluster)
            for task in three_way_tasks
        }
        task_list = list(three_way_tasks)
    else:
        if tasks:
            raise AnalysisInputError("tasks apply to 3-way input (reference and call columns)")
        task_list = [None]
        frame = validate_ratings(frame, require_cluster=cluster)
        task_tables = {None: frame}
    model_list = [str(model) for model in (models or [])]
    known_readers = {str(reader) for reader in frame["reader"].astype(str).str.strip()}
    unknown = [model for model in model_list if model not in known_readers]
    if unknown:
        raise AnalysisInputError(f"model(s) {unknown} not found in column 'reader'")
    return frame, three_way, task_list, model_list, task_tables


def _check_derivation_cohort(frame: pd.DataFrame, derivation_cohort: str | None) -> None:
    if derivation_cohort is None:
        return
    if "cohort" not in frame.columns:
        raise AnalysisInputError("derivation cohort given but there is no 'cohort' column")
    known_cohorts = list(pd.unique(frame["cohort"].astype(str).str.strip()))
    if derivation_cohort not in known_cohorts:
        raise AnalysisInputError(
            f"derivation cohort {derivation_cohort!r} not found; cohorts: {known_cohorts}"
        )


def _cohorts_of(frame: pd.DataFrame) -> list[tuple[str | None, pd.DataFrame]]:
    """Each cohort's rows, and all rows pooled when there are several cohorts."""
    if "cohort" not in frame.columns:
        return [(None, frame)]
    cohort_labels = frame["cohort"].astype(str).str.strip()
    names = list(pd.unique(cohort_labels))
    cohorts: list[tuple[str | None, pd.DataFrame]] = [
        (name, frame[cohort_labels == name]) for name in names
    ]
    if len(names) > 1:
        cohorts.append((POOLED_COHORT, frame))
    return cohorts


def _cohort_section(
    cohort_name: str | None,
    cohort_frame: pd.DataFrame,
    options: _ReportOptions,
    sections: _Sections,
) -> dict[str, Any]:
    """One cohort: 3-way agreement (3-way input) and every task's sections."""
    where_cohort = f"cohort {cohort_name!r}" if cohort_name is not None else "study"
    cohort_out: dict[str, Any] = {"cohort": cohort_name}
    if options.three_way:
        cohort_out.update(
            _three_way_agreement(
                cohort_frame,
                models=options.models,
                alpha=options.alpha,
                sections=sections,
                where=where_cohort,
            )
        )
    cohort_out["tasks"] = [
        _task_section(cohort_frame, task, options, sections, where_cohort) for task in options.tasks
    ]
    return cohort_out


def _task_section(
    cohort_frame: pd.DataFrame,
    task: str | None,
    options: _ReportOptions,
    sections: _Sections,
    where_cohort: str,
) -> dict[str, Any]:
    """One task of one cohort: each modality's sections and the MRMC comparison of modalities."""
    where_task = f"{where_cohort}, task {task}" if task else where_cohort
    whole = options.task_tables[task]
    binary = whole[whole.index.isin(cohort_frame.index)]
    modalities = (
        [str(m) for m in pd.unique(binary.loc[~binary["reader"].isin(options.models), "modality"])]
        if "modality" in binary.columns
        else [None]
    )
    task_out: dict[str, Any] = {
        "task": task,
        "task_label": TASK_LABELS.get(task) if task else None,
        "modalities": [],
    }
    for modality in modalities:
        rows = trust_validated_frame(_model_rows_for_modality(binary, modality, options.models))
        where = f"{where_task}, modality {modality}" if modality else where_task
        task_out["modalities"].append(
            {
                "modality": modality,
                **_single_modality_sections(
                    rows,
                    models=options.models,
                    task=task,
                    three_way=options.three_way,
                    target_fprs=options.target_fprs,
                    alpha=options.alpha,
                    cluster=options.cluster,
                    n_boot=options.n_boot,
                    seed=options.seed,
                    curves=options.curves,
                    sections=sections,
                    where=where,
                ),
            }
        )
    if len(modalities) > 1 and options.include_mrmc:
        readers_only = binary[~binary["reader"].isin(options.models)]
        task_out["mrmc"] = sections.run(
            f"{where_task} MRMC",
            lambda: mrmc.or_analysis(readers_only, alpha=options.alpha).to_dict(),
        )
        if options.cluster:
            # Beside the node-level analysis, not instead of it: readers of the report compare
            # the two to see how much the patients' several nodes matter.
            task_out["mrmc_clustered"] = sections.run(
                f"{where_task} MRMC (clustered)",
                lambda: mrmc.clustered_or_analysis(readers_only, alpha=options.alpha).to_dict(),
            )
    return task_out


def _threshold_transfers(
    frame: pd.DataFrame,
    derivation_cohort: str,
    options: _ReportOptions,
    sections: _Sections,
) -> list[dict[str, Any]]:
    """Each model's thresholds from the derivation cohort applied to every other cohort."""
    labels = frame["cohort"].astype(str).str.strip()
    transfers = []
    for task in options.tasks:
        for model in options.models:
            transfers.append(
                {
                    "task": task,
                    "model": model,
                    "derivation_cohort": derivation_cohort,
                    "validation": sections.run(
                        f"threshold transfer {model} {task or ''}".strip(),
                        lambda task=task, model=model: _transfer(
                            options.task_tables[task],
                            labels,
                            model=model,
                            derivation=derivation_cohort,
                            target_fprs=options.target_fprs,
                            alpha=options.alpha,
                        ),
                        cluster_independent=True,
                    ),
                }
            )
    return transfers


def _transfer(
    task_table: pd.DataFrame,
    labels: pd.Series,
    *,
    model: str,
    derivation: str,
    target_fprs: Sequence[float],
    alpha: float,
) -> list[dict[str, Any]]:
    """``task_table``: the task's validated binary table; ``labels``: each input row's cohort."""

    def model_rows(cohort: str) -> pd.DataFrame:
        in_cohort = labels.index[labels == cohort]
        rows = task_table[task_table.index.isin(in_cohort) & (task_table["reader"] == model)]
        if rows.empty:
            raise AnalysisInputError(f"model {model!r} has no ratings in cohort {cohort!r}")
        return rows

    source = model_rows(derivation)
    results = []
    for cohort in pd.unique(labels):
        if cohort == derivation:
            continue
        target = model_rows(cohort)
        for target_fpr in [None, *target_fprs]:
            transfer = transfer_threshold(
                source["score"],
                source["truth"],
                target["score"],
                target["truth"],
                target_fpr=target_fpr,
                alpha=alpha,
            )
            results.append({"validation_cohort": str(cohort), **transfer.to_dict()})
    return results
