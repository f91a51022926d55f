"""What the results page shows, taken from a snapshot's JSON: 001's Tables 4-6 per cohort and
task (reader AUCs with node-level and patient-clustered CIs, each reader's own sensitivity /
specificity / accuracy with numerators and denominators, the reader mean, the MRMC comparison of
arms both ways) and an SVG plot of the readers' operating points in ROC space, drawn here on
the server (no script, no external library)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from readerstudy.reporting.tables import ReportView, report_view
from readerstudy.results.models import ResultSnapshot

#: One colour per arm (position order), readable on white.
ARM_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def _fmt_ci(ci: Any) -> str:
    if not isinstance(ci, list) or len(ci) != 2 or None in ci:
        return "n/a"
    return f"{ci[0]:.3f}-{ci[1]:.3f}"


def _proportion(entry: Any) -> str:
    if not isinstance(entry, dict) or entry.get("estimate") is None:
        return "n/a"
    return f"{100 * entry['estimate']:.1f}% ({entry['numerator']}/{entry['denominator']})"


def roc_svg(points: list[dict[str, Any]], arms: list[str], *, size: int = 260) -> SafeString:
    """Readers' operating points (1 - specificity, sensitivity), one colour per arm."""
    pad = 30
    inner = size - 2 * pad

    def x(fpr: float) -> float:
        return pad + fpr * inner

    def y(tpr: float) -> float:
        return size - pad - tpr * inner

    parts = [
        format_html(
            '<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#999"/>',
            pad,
            pad,
            inner,
            inner,
        ),
        format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#ccc" stroke-dasharray="4 3"/>',
            x(0),
            y(0),
            x(1),
            y(1),
        ),
        format_html(
            '<text x="{}" y="{}" font-size="10" text-anchor="middle">1 - specificity</text>',
            size / 2,
            size - 6,
        ),
        format_html(
            '<text x="10" y="{}" font-size="10" text-anchor="middle" '
            'transform="rotate(-90 10 {})">sensitivity</text>',
            size / 2,
            size / 2,
        ),
    ]
    for point in points:
        colour = ARM_COLOURS[arms.index(point["arm"]) % len(ARM_COLOURS)]
        parts.append(
            format_html(
                '<circle cx="{}" cy="{}" r="4" fill="{}"><title>{} ({}): sensitivity '
                "{}, specificity {}</title></circle>",
                f"{x(point['fpr']):.1f}",
                f"{y(point['tpr']):.1f}",
                colour,
                point["reader"],
                point["arm"],
                f"{point['tpr']:.2f}",
                f"{1 - point['fpr']:.2f}",
            )
        )
        parts.append(
            format_html(
                '<text x="{}" y="{}" font-size="9">{}</text>',
                f"{x(point['fpr']) + 5:.1f}",
                f"{y(point['tpr']) - 5:.1f}",
                point["reader"],
            )
        )
    legend = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="10" fill="{}">&#9679; {}</text>',
        (
            (pad + 4, pad + 14 + 12 * i, ARM_COLOURS[i % len(ARM_COLOURS)], arm)
            for i, arm in enumerate(arms)
        ),
    )
    body = mark_safe("".join(str(p) for p in parts) + str(legend))  # noqa: S308 - escaped parts
    return format_html(
        '<svg class="roc" role="img" aria-label="Readers in ROC space" width="{}" height="{}" '
        'viewBox="0 0 {} {}" xmlns="http://www.w3.org/2000/svg">{}</svg>',
        size,
        size,
        size,
        size,
        body,
    )


def _auc_by_reader(block: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    if not block or not isinstance(block.get("roc"), list):
        return {}
    return {entry["reader"]: entry for entry in block["roc"] if "reader" in entry}


def _task_view(node_task: dict[str, Any], clustered_task: dict[str, Any] | None) -> dict[str, Any]:
    arms = [block.get("modality") or "" for block in node_task.get("modalities", [])]
    clustered_blocks = {
        (block.get("modality") or ""): block
        for block in (clustered_task or {}).get("modalities", [])
    }
    rows = []
    points = []
    means = []
    for block in node_task.get("modalities", []):
        arm = block.get("modality") or ""
        node_auc = _auc_by_reader(block)
        clustered_auc = _auc_by_reader(clustered_blocks.get(arm))
        own = {
            p["reader"]: p
            for p in (block.get("reader_operating_points") or [])
            if isinstance(p, dict) and "reader" in p
        }
        for reader, entry in node_auc.items():
            point = own.get(reader, {})
            rows.append(
                {
                    "arm": arm,
                    "reader": reader,
                    "auc": entry.get("auc"),
                    "ci_node": _fmt_ci(entry.get("ci95")),
                    "ci_patient": _fmt_ci(clustered_auc.get(reader, {}).get("ci95")),
                    "sensitivity": _proportion(point.get("sensitivity")),
                    "specificity": _proportion(point.get("specificity")),
                    "accuracy": _proportion(point.get("accuracy")),
                }
            )
            sens = (point.get("sensitivity") or {}).get("estimate")
            spec = (point.get("specificity") or {}).get("estimate")
            if sens is not None and spec is not None:
                points.append({"reader": reader, "arm": arm, "tpr": sens, "fpr": 1 - spec})
        mean = block.get("reader_mean") or {}
        clustered_mean = (clustered_blocks.get(arm) or {}).get("reader_mean") or {}
        if mean.get("mean_auc") is not None:
            means.append(
                {
                    "arm": arm,
                    "auc": mean["mean_auc"],
                    "ci_node": _fmt_ci(mean.get("ci95")),
                    "ci_patient": _fmt_ci(clustered_mean.get("ci95")),
                }
            )
    mrmc = []
    for label, source in (
        ("node-level", node_task.get("mrmc")),
        ("patient-clustered", (clustered_task or {}).get("mrmc_clustered")),
    ):
        if not isinstance(source, dict) or "differences" not in source:
            continue
        for difference in source["differences"]:
            mrmc.append(
                {
                    "analysis": label,
                    "a": difference["a"],
                    "b": difference["b"],
                    "estimate": difference["estimate"],
                    "ci": _fmt_ci(difference.get("ci95")),
                    "p_value": difference.get("p_value"),
                }
            )
    return {
        "task": node_task.get("task"),
        "label": node_task.get("task_label") or node_task.get("task"),
        "error": node_task.get("error"),
        "rows": rows,
        "means": means,
        "mrmc": mrmc,
        "svg": roc_svg(points, arms) if points else None,
    }


def dashboard_context(results: dict[str, Any]) -> dict[str, Any]:
    """Cohorts (each cohort, then pooled) x tasks, ready for the template."""
    node = results.get("node_level") or {}
    clustered = results.get("patient_clustered") or {}
    clustered_cohorts = {c.get("cohort"): c for c in clustered.get("cohorts", [])}
    cohorts = []
    for cohort in node.get("cohorts", []):
        other = clustered_cohorts.get(cohort.get("cohort")) or {}
        other_tasks = {t.get("task"): t for t in other.get("tasks", [])}
        kappa = cohort.get("fleiss_kappa_3way")
        cohorts.append(
            {
                "name": cohort.get("cohort") or "all",
                "kappa": kappa if isinstance(kappa, list) else [],
                "tasks": [_task_view(t, other_tasks.get(t.get("task"))) for t in cohort["tasks"]],
            }
        )
    return {
        "cohorts": cohorts,
        "warnings": (node.get("warnings") or []) + (results.get("warnings") or []),
        "readers": results.get("readers", []),
        "n_reads": results.get("n_reads"),
        "n_nodes": results.get("n_nodes"),
        "n_patients": results.get("n_patients"),
    }


def snapshot_report_view(snapshot: ResultSnapshot) -> ReportView | None:
    """001's Tables 4-6 (model and readers, thresholds, confusion matrices) of the snapshot, as
    the page and the PDF report show them; None before there are results to report."""
    node_level = snapshot.results.get("node_level")
    if not node_level:
        return None
    return report_view(node_level, clustered=snapshot.results.get("patient_clustered"))


#: Bump when the snapshot templates or their context change, so cached pages stop matching.
SNAPSHOT_HTML_VERSION = 1
#: How long a rendered snapshot stays cached (a snapshot never changes; this only bounds memory).
SNAPSHOT_HTML_SECONDS = 24 * 3600


@dataclass(frozen=True)
class SnapshotHtml:
    """The dashboard's parts that depend on one snapshot only: its summary and its tables."""

    summary: SafeString
    details: SafeString


def snapshot_html(snapshot: ResultSnapshot) -> SnapshotHtml:
    """The snapshot's part of the results page, rendered once per snapshot and then taken from
    the cache: a snapshot's results never change (a new computation is a new snapshot), and
    decoding and rendering them is most of the page's time."""
    # A snapshot's id with its time: an id SQLite hands out again after a deletion is not
    # mistaken for the old snapshot.
    key = (
        f"results:snapshot-html:{SNAPSHOT_HTML_VERSION}:{snapshot.pk}"
        f":{snapshot.computed_at.isoformat()}"
    )
    cached = cache.get(key)
    if cached is not None:
        summary, details = cached
    else:
        context = {
            "snapshot": snapshot,
            "view": dashboard_context(snapshot.results),
            "report": snapshot_report_view(snapshot),
        }
        summary = render_to_string("results/_snapshot_summary.html", context)
        details = render_to_string("results/_snapshot_details.html", context)
        cache.set(key, (summary, details), SNAPSHOT_HTML_SECONDS)
    # Rendered by our own templates, which escape every value from the results.
    return SnapshotHtml(summary=mark_safe(summary), details=mark_safe(details))
