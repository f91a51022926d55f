"""The statistician's PDF report: methods, then per cohort and task the ROC figure and 001's table.

Drawn with matplotlib's PDF backend (already a dependency for the realism montage), so no
browser, LaTeX or office suite is needed on the server. Every number comes from the
:class:`~readerstudy.reporting.tables.ReportView`, the same rows the dashboard shows.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from datetime import datetime

import matplotlib

matplotlib.use("Agg")  # a server has no display; must precede pyplot

from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from readerstudy.reporting.tables import (  # noqa: E402
    OperatingPoint,
    Proportion,
    ReportView,
    TaskView,
)

A4 = (8.27, 11.69)


def _ci(ci: tuple[float, float] | None, digits: int = 3) -> str:
    return f"{ci[0]:.{digits}f}-{ci[1]:.{digits}f}" if ci else "-"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "<.001" if value < 0.001 else f"{value:.3f}"


def _prop(p: Proportion) -> str:
    if p.estimate is None:
        return "-"
    return f"{100 * p.estimate:.1f}% ({p.numerator}/{p.denominator})"


def _text_page(pdf: PdfPages, title: str, paragraphs: Sequence[str]) -> None:
    figure = plt.figure(figsize=A4)
    figure.text(0.08, 0.95, title, fontsize=15, weight="bold", va="top")
    y = 0.91
    for paragraph in paragraphs:
        lines = textwrap.wrap(paragraph, width=95) or [""]
        for line in lines:
            figure.text(0.08, y, line, fontsize=9, va="top")
            y -= 0.017
        y -= 0.012
    pdf.savefig(figure)
    plt.close(figure)


def _task_page(pdf: PdfPages, view: TaskView, curves: dict[str, tuple[list, list]]) -> None:
    figure = plt.figure(figsize=A4)
    header = f"{view.cohort} - {view.task_label}"
    if view.modality:
        header += f" - {view.modality}"
    figure.text(0.08, 0.96, header, fontsize=12, weight="bold", va="top")
    figure.text(
        0.08,
        0.935,
        f"{view.n_cases} nodes: {view.n_positive} positive, {view.n_negative} negative",
        fontsize=9,
        va="top",
    )
    axes = figure.add_axes((0.12, 0.6, 0.42, 0.3))
    axes.plot([0, 1], [0, 1], linestyle="--", color="#9ca3af", linewidth=0.8)
    for name, (fpr, tpr) in curves.items():
        auc = next((m.auc.auc for m in view.models if m.auc.name == name), None)
        label = f"{name} (AUC {auc:.3f})" if auc is not None else name
        axes.plot(fpr, tpr, linewidth=1.5, label=label)
    for reader in view.readers:
        point = reader.operating_point
        if point and point.fpr is not None and point.sensitivity.estimate is not None:
            axes.scatter(point.fpr, point.sensitivity.estimate, s=18, label=reader.auc.name)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("1 - specificity", fontsize=8)
    axes.set_ylabel("Sensitivity", fontsize=8)
    axes.tick_params(labelsize=7)
    axes.legend(fontsize=6, loc="lower right")

    rows: list[list[str]] = []
    for model in view.models:
        points: list[OperatingPoint] = [p for p in [model.youden, *model.fixed_fpr] if p]
        for k, point in enumerate(points):
            rows.append(
                [
                    model.auc.name if k == 0 else "",
                    f"{model.auc.auc:.3f} ({_ci(model.auc.ci)})" if k == 0 else "",
                    _ci(model.auc.ci_clustered) if k == 0 else "",
                    "",
                    point.label,
                    _prop(point.sensitivity),
                    _prop(point.specificity),
                    _prop(point.accuracy),
                ]
            )
    for reader in view.readers:
        point = reader.operating_point
        rows.append(
            [
                reader.auc.name,
                f"{reader.auc.auc:.3f} ({_ci(reader.auc.ci)})",
                _ci(reader.auc.ci_clustered),
                _p(reader.p_vs_model),
                "call",
                _prop(point.sensitivity) if point else "-",
                _prop(point.specificity) if point else "-",
                _prop(point.accuracy) if point else "-",
            ]
        )
    if view.reader_mean_auc is not None:
        rows.append(
            ["Reader mean", f"{view.reader_mean_auc:.3f} ({_ci(view.reader_mean_ci)})"] + [""] * 6
        )
    columns = [
        "",
        "AUC (95% CI)",
        "Patient-clustered CI",
        "DeLong p vs model",
        "Threshold",
        "Sensitivity",
        "Specificity",
        "Accuracy",
    ]
    table_axes = figure.add_axes((0.04, 0.08, 0.92, 0.46))
    table_axes.axis("off")
    if rows:
        table = table_axes.table(cellText=rows, colLabels=columns, loc="upper center")
        table.auto_set_font_size(False)
        table.set_fontsize(6)
        table.scale(1, 1.25)
    if view.fleiss_kappa is not None:
        figure.text(
            0.08,
            0.05,
            f"Fleiss kappa among readers: {view.fleiss_kappa:.3f} ({_ci(view.fleiss_ci)})",
            fontsize=8,
        )
    pdf.savefig(figure)
    plt.close(figure)


def report_pdf(
    view: ReportView,
    *,
    title: str,
    computed_at: datetime,
    n_reads: int,
    methods: Sequence[str],
    curves: dict[tuple[str, str, str | None], dict[str, tuple[list, list]]] | None = None,
) -> bytes:
    """The PDF: a title and methods page, then one page per cohort x task x modality.

    ``curves`` maps (cohort, task, modality) to {model name: (fpr, tpr)} for the ROC figures
    (from the report's ``curve`` entries).
    """
    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Title": title, "Creator": "readerstudy"}) as pdf:
        front = [
            f"Computed {computed_at:%Y-%m-%d %H:%M} UTC from {n_reads} reads.",
            *[f"Warning: {w}" for w in view.warnings],
            "Methods",
            *methods,
        ]
        _text_page(pdf, title, front)
        for cohort in view.cohorts:
            for task in cohort.tasks:
                key = (task.cohort, task.task, task.modality)
                _task_page(pdf, task, (curves or {}).get(key, {}))
    return buffer.getvalue()


def report_curves(report: dict) -> dict[tuple[str, str, str | None], dict[str, tuple[list, list]]]:
    """Model ROC curves of a report computed with ``curves=True``, keyed for :func:`report_pdf`."""
    found: dict[tuple[str, str, str | None], dict[str, tuple[list, list]]] = {}
    for cohort in report["cohorts"]:
        name = cohort["cohort"] or "all"
        for task in cohort["tasks"]:
            for modality in task["modalities"]:
                models = set(modality.get("models") or [])
                key = (name, task["task"], modality["modality"])
                for roc in modality["roc"]:
                    if roc["reader"] in models and roc.get("curve"):
                        found.setdefault(key, {})[roc["reader"]] = (
                            roc["curve"]["fpr"],
                            roc["curve"]["tpr"],
                        )
    return found
