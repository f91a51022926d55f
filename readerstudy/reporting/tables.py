"""The results tables of seed 001 (Tables 3-6, S7-S10) from an ``analysis.report`` document.

:func:`report_view` turns the JSON of :func:`analysis.report.study_report` (and optionally a
second run of it with patient-clustered variances) into plain rows for the dashboard page and
the PDF report. It computes nothing statistical itself: every number is read from the report,
so the page, the PDF and ``python -m analysis report`` on the downloaded CSV show the same
values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from readerstudy.core.charts import Curve, Point, calibration_chart, roc_chart

TASK_ORDER = ("ene", "metastasis", "ene_vs_meta")


@dataclass(frozen=True)
class Proportion:
    """An estimate with its numerator, denominator and CI (001's Tables S7-S10)."""

    estimate: float | None
    numerator: int | None
    denominator: int | None
    ci: tuple[float, float] | None

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> Proportion:
        if not data:
            return cls(None, None, None, None)
        ci = data.get("ci95")
        return cls(
            data.get("estimate"),
            data.get("numerator"),
            data.get("denominator"),
            (ci[0], ci[1]) if ci else None,
        )


@dataclass(frozen=True)
class OperatingPoint:
    """Sensitivity, specificity and accuracy at one threshold."""

    label: str
    threshold: float | None
    fpr: float | None
    sensitivity: Proportion
    specificity: Proportion
    accuracy: Proportion

    @classmethod
    def of(cls, label: str, data: dict[str, Any]) -> OperatingPoint:
        return cls(
            label=label,
            threshold=data.get("threshold"),
            fpr=data.get("fpr"),
            sensitivity=Proportion.of(data.get("sensitivity")),
            specificity=Proportion.of(data.get("specificity")),
            accuracy=Proportion.of(data.get("accuracy")),
        )


@dataclass(frozen=True)
class AucRow:
    """One reader's or model's AUC: node-level CI, and patient-clustered CI when computed."""

    name: str
    auc: float
    ci: tuple[float, float]
    ci_method: str
    ci_clustered: tuple[float, float] | None
    n_clusters: int | None


@dataclass(frozen=True)
class ReaderRow:
    auc: AucRow
    p_vs_model: float | None  # paired DeLong, two-sided
    difference_vs_model: float | None  # model AUC - reader AUC
    operating_point: OperatingPoint | None


@dataclass(frozen=True)
class ModelRow:
    auc: AucRow
    youden: OperatingPoint | None
    fixed_fpr: list[OperatingPoint]
    versus_reader_mean_p: float | None
    standalone: dict[str, Any] | None  # OR-1T model vs readers as random (Hillis df)
    calibration_svg: str | None


@dataclass
class TaskView:
    cohort: str
    task: str
    task_label: str
    modality: str | None
    n_cases: int
    n_positive: int
    n_negative: int
    models: list[ModelRow] = field(default_factory=list)
    readers: list[ReaderRow] = field(default_factory=list)
    reader_mean_auc: float | None = None
    reader_mean_ci: tuple[float, float] | None = None
    fleiss_kappa: float | None = None
    fleiss_ci: tuple[float, float] | None = None
    roc_svg: str = ""

    @property
    def anchor(self) -> str:
        modality = f"-{self.modality}" if self.modality else ""
        return f"{self.cohort}-{self.task}{modality}".replace(" ", "-").lower()


@dataclass(frozen=True)
class ConfusionView:
    who: str
    modality: str | None
    labels: list[str]
    matrix: list[list[int]]
    accuracy: float | None


@dataclass
class CohortView:
    name: str
    tasks: list[TaskView]
    confusion: list[ConfusionView]
    fleiss_3way: list[dict[str, Any]]


@dataclass(frozen=True)
class TransferRow:
    """A model threshold fixed on the derivation cohort, applied to another cohort (003)."""

    task: str
    model: str
    derivation_cohort: str
    validation_cohort: str
    rule: str
    derivation: OperatingPoint
    validation: OperatingPoint


@dataclass
class ReportView:
    cohorts: list[CohortView]
    threshold_transfers: list[TransferRow]
    warnings: list[str]
    options: dict[str, Any]


def _pair(values: Iterable[float] | None) -> tuple[float, float] | None:
    if values is None:
        return None
    low, high = list(values)
    return (low, high)


def _clustered_cis(report: dict[str, Any] | None) -> dict[tuple, tuple[tuple[float, float], int]]:
    """(cohort, task, modality, name) -> (clustered CI, number of clusters)."""
    found: dict[tuple, tuple[tuple[float, float], int]] = {}
    if not report:
        return found
    for cohort in report["cohorts"]:
        for task in cohort["tasks"]:
            for modality in task["modalities"]:
                for roc in modality["roc"]:
                    name = cohort["cohort"] or "all"
                    key = (name, task["task"], modality["modality"], roc["reader"])
                    found[key] = (_pair(roc["ci95"]), roc.get("n_clusters"))
    return found


def _auc_row(roc: dict[str, Any], key: tuple, clustered: dict) -> AucRow:
    ci_clustered, n_clusters = clustered.get(key, (None, None))
    return AucRow(
        name=roc["reader"],
        auc=roc["auc"],
        ci=_pair(roc["ci95"]),
        ci_method=roc.get("ci_method", ""),
        ci_clustered=ci_clustered,
        n_clusters=n_clusters,
    )


def _roc_svg(view: TaskView, rocs: list[dict[str, Any]], points: list[dict[str, Any]]) -> str:
    model_names = {row.auc.name for row in view.models}
    curves = [
        Curve(f"{roc['reader']} (AUC {roc['auc']:.3f})", roc["curve"]["fpr"], roc["curve"]["tpr"])
        for roc in rocs
        if roc["reader"] in model_names and roc.get("curve")
    ]
    marks = [
        Point(point["reader"], point["fpr"], point["sensitivity"]["estimate"])
        for point in points
        if point.get("fpr") is not None
    ]
    if marks:
        mean_fpr = sum(p.x for p in marks) / len(marks)
        mean_tpr = sum(p.y for p in marks) / len(marks)
        marks.append(Point("Reader mean", mean_fpr, mean_tpr))
    title = f"{view.cohort}: {view.task_label}"
    return roc_chart(title=title, curves=curves, points=marks)


def _calibration_svg(model: str, calibration: dict[str, Any] | None) -> str | None:
    bins = ((calibration or {}).get("reliability") or {}).get("bins") or []
    if not bins:
        return None
    return calibration_chart(
        title=f"Calibration of {model}",
        predicted=[b["mean_predicted"] for b in bins],
        observed=[b["observed"] for b in bins],
    )


def _task_view(cohort: str, task: dict[str, Any], modality: dict[str, Any], clustered) -> TaskView:
    view = TaskView(
        cohort=cohort,
        task=task["task"],
        task_label=task["task_label"],
        modality=modality["modality"],
        n_cases=modality["n_cases"],
        n_positive=modality["n_positive"],
        n_negative=modality["n_negative"],
    )
    by_name = {roc["reader"]: roc for roc in modality["roc"]}
    key = (cohort, task["task"], modality["modality"])
    points = {p["reader"]: p for p in modality.get("reader_operating_points") or []}
    versus: dict[str, dict[str, Any]] = {}
    for detail in modality.get("models_detail") or []:
        name = detail["model"]
        thresholds = detail.get("thresholds") or {}
        youden = thresholds.get("youden")
        view.models.append(
            ModelRow(
                auc=_auc_row(by_name[name], (*key, name), clustered),
                youden=OperatingPoint.of("Youden", youden) if youden else None,
                fixed_fpr=[
                    OperatingPoint.of(f"FPR {round(100 * row['target_fpr'])}%", row)
                    for row in thresholds.get("fixed_fpr") or []
                ],
                versus_reader_mean_p=(detail.get("versus_reader_mean") or {}).get("p_value"),
                standalone=detail.get("standalone_vs_readers"),
                calibration_svg=_calibration_svg(name, detail.get("calibration")),
            )
        )
        if not versus:  # readers are compared with the first model
            versus = {row["b"]: row for row in detail.get("versus_readers") or []}
    for reader in modality["readers"]:
        comparison = versus.get(reader, {})
        point = points.get(reader)
        view.readers.append(
            ReaderRow(
                auc=_auc_row(by_name[reader], (*key, reader), clustered),
                p_vs_model=comparison.get("p_value"),
                difference_vs_model=comparison.get("difference"),
                operating_point=OperatingPoint.of(reader, point) if point else None,
            )
        )
    mean = modality.get("reader_mean") or {}
    view.reader_mean_auc = mean.get("mean_auc")
    view.reader_mean_ci = _pair(mean.get("ci95"))
    kappa = modality.get("fleiss_kappa") or {}
    view.fleiss_kappa = kappa.get("fleiss_kappa")
    view.fleiss_ci = _pair(kappa.get("ci95"))
    view.roc_svg = _roc_svg(view, modality["roc"], list(points.values()))
    return view


def report_view(report: dict[str, Any], *, clustered: dict[str, Any] | None = None) -> ReportView:
    """Rows for the results page and the PDF from ``study_report`` output.

    ``clustered``: the same report computed with ``cluster=True`` (patient-clustered
    variances); its AUC CIs are shown beside the node-level ones.
    """
    clustered_cis = _clustered_cis(clustered)
    cohorts = []
    for cohort in report["cohorts"]:
        name = cohort["cohort"] or "all"
        tasks = sorted(
            cohort["tasks"],
            key=lambda t: TASK_ORDER.index(t["task"]) if t["task"] in TASK_ORDER else 99,
        )
        cohorts.append(
            CohortView(
                name=name,
                tasks=[
                    _task_view(name, task, modality, clustered_cis)
                    for task in tasks
                    for modality in task["modalities"]
                ],
                confusion=[
                    ConfusionView(
                        who=m["reader"],
                        modality=m.get("modality"),
                        labels=m["labels"],
                        matrix=m["matrix"],
                        accuracy=m.get("accuracy"),
                    )
                    for m in cohort.get("confusion_matrices") or []
                ],
                fleiss_3way=cohort.get("fleiss_kappa_3way") or [],
            )
        )
    return ReportView(
        cohorts=cohorts,
        threshold_transfers=[
            TransferRow(
                task=transfer["task"],
                model=transfer["model"],
                derivation_cohort=transfer["derivation_cohort"],
                validation_cohort=row["validation_cohort"],
                rule=row["rule"],
                derivation=OperatingPoint.of(row["rule"], row["derivation"]),
                validation=OperatingPoint.of(row["rule"], row["validation"]),
            )
            for transfer in report.get("threshold_transfer") or []
            for row in transfer.get("validation") or []
        ],
        warnings=list(report.get("warnings") or []),
        options=dict(report.get("options") or {}),
    )
