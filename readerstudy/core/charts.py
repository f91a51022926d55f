"""Server-side SVG charts for the results pages: no chart library, no CDN, no script.

Each function returns a complete ``<svg>`` element as a string, with every text escaped, so a
template can include it with ``|safe``. Coordinates are in the unit square of the plotted
quantity (false positive rate, true positive rate, predicted risk ...); the functions map them
to pixels. Colours come from one qualitative palette (Okabe & Ito, colour-blind safe).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#F0E442",
    "#000000",
)


@dataclass(frozen=True)
class Curve:
    """A polyline in the unit square, e.g. a model's empirical ROC curve."""

    label: str
    x: Sequence[float]
    y: Sequence[float]


@dataclass(frozen=True)
class Point:
    """One marked point, e.g. a reader's operating point (FPR, sensitivity)."""

    label: str
    x: float
    y: float


@dataclass(frozen=True)
class _Frame:
    width: int
    height: int
    left: int = 52
    right: int = 16
    top: int = 16
    bottom: int = 44

    def px(self, x: float) -> float:
        return self.left + x * (self.width - self.left - self.right)

    def py(self, y: float) -> float:
        return self.height - self.bottom - y * (self.height - self.top - self.bottom)


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _axes(frame: _Frame, *, x_label: str, y_label: str, ticks: Sequence[float]) -> list[str]:
    parts = [
        f'<rect x="{frame.left}" y="{frame.top}" width="{frame.width - frame.left - frame.right}" '
        f'height="{frame.height - frame.top - frame.bottom}" fill="#fff" stroke="#9ca3af"/>'
    ]
    for tick in ticks:
        x, y = frame.px(tick), frame.py(tick)
        parts.append(
            f'<line x1="{_fmt(x)}" y1="{frame.top}" x2="{_fmt(x)}" '
            f'y2="{frame.height - frame.bottom}" stroke="#eef0f3"/>'
        )
        parts.append(
            f'<line x1="{frame.left}" y1="{_fmt(y)}" x2="{frame.width - frame.right}" '
            f'y2="{_fmt(y)}" stroke="#eef0f3"/>'
        )
        parts.append(
            f'<text x="{_fmt(x)}" y="{frame.height - frame.bottom + 14}" '
            f'text-anchor="middle">{tick:g}</text>'
        )
        parts.append(
            f'<text x="{frame.left - 6}" y="{_fmt(y + 4)}" text-anchor="end">{tick:g}</text>'
        )
    parts.append(
        f'<text x="{_fmt((frame.left + frame.width - frame.right) / 2)}" '
        f'y="{frame.height - 8}" text-anchor="middle">{escape(x_label)}</text>'
    )
    middle = (frame.top + frame.height - frame.bottom) / 2
    parts.append(
        f'<text x="14" y="{_fmt(middle)}" text-anchor="middle" '
        f'transform="rotate(-90 14 {_fmt(middle)})">{escape(y_label)}</text>'
    )
    return parts


def _svg(frame: _Frame, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {frame.width} {frame.height}" width="{frame.width}" '
        f'height="{frame.height}" font-family="system-ui, sans-serif" font-size="11">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _legend(frame: _Frame, entries: list[tuple[str, str, str]]) -> list[str]:
    """entries: (label, colour, kind) with kind 'line' or 'point'; drawn inside, bottom right."""
    parts = []
    row_height = 14
    x = frame.width - frame.right - 150
    y0 = frame.height - frame.bottom - 8 - row_height * len(entries)
    for i, (label, colour, kind) in enumerate(entries):
        y = y0 + i * row_height + 10
        if kind == "line":
            parts.append(
                f'<line x1="{x}" y1="{y - 4}" x2="{x + 16}" y2="{y - 4}" stroke="{colour}" '
                f'stroke-width="2"/>'
            )
        else:
            parts.append(f'<circle cx="{x + 8}" cy="{y - 4}" r="4" fill="{colour}"/>')
        parts.append(f'<text x="{x + 22}" y="{y}">{escape(label)}</text>')
    return parts


def roc_chart(
    *,
    title: str,
    curves: Sequence[Curve],
    points: Sequence[Point] = (),
    size: int = 360,
) -> str:
    """ROC plot: curves (model), points (readers' operating points, reader mean), chance line."""
    frame = _Frame(width=size, height=size)
    body = _axes(
        frame,
        x_label="1 - specificity (false positive rate)",
        y_label="Sensitivity",
        ticks=(0, 0.2, 0.4, 0.6, 0.8, 1.0),
    )
    body.append(
        f'<line x1="{_fmt(frame.px(0))}" y1="{_fmt(frame.py(0))}" x2="{_fmt(frame.px(1))}" '
        f'y2="{_fmt(frame.py(1))}" stroke="#9ca3af" stroke-dasharray="4 4"/>'
    )
    legend: list[tuple[str, str, str]] = []
    for i, curve in enumerate(curves):
        colour = PALETTE[i % len(PALETTE)]
        path = " ".join(
            f"{_fmt(frame.px(x))},{_fmt(frame.py(y))}"
            for x, y in zip(curve.x, curve.y, strict=True)
        )
        body.append(
            f'<polyline class="curve" points="{path}" fill="none" stroke="{colour}" '
            f'stroke-width="2"><title>{escape(curve.label)}</title></polyline>'
        )
        legend.append((curve.label, colour, "line"))
    for j, point in enumerate(points):
        colour = PALETTE[(len(curves) + j) % len(PALETTE)]
        body.append(
            f'<circle class="point" cx="{_fmt(frame.px(point.x))}" cy="{_fmt(frame.py(point.y))}" '
            f'r="4.5" fill="{colour}" stroke="#fff"><title>{escape(point.label)}: FPR '
            f"{point.x:.3f}, sensitivity {point.y:.3f}</title></circle>"
        )
        legend.append((point.label, colour, "point"))
    body.extend(_legend(frame, legend))
    return _svg(frame, title, body)


def calibration_chart(
    *, title: str, predicted: Sequence[float], observed: Sequence[float], size: int = 300
) -> str:
    """Reliability diagram: mean predicted risk vs observed frequency per bin, with the diagonal."""
    frame = _Frame(width=size, height=size)
    body = _axes(
        frame,
        x_label="Predicted probability",
        y_label="Observed frequency",
        ticks=(0, 0.25, 0.5, 0.75, 1.0),
    )
    body.append(
        f'<line x1="{_fmt(frame.px(0))}" y1="{_fmt(frame.py(0))}" x2="{_fmt(frame.px(1))}" '
        f'y2="{_fmt(frame.py(1))}" stroke="#9ca3af" stroke-dasharray="4 4"/>'
    )
    path = " ".join(
        f"{_fmt(frame.px(x))},{_fmt(frame.py(y))}" for x, y in zip(predicted, observed, strict=True)
    )
    body.append(f'<polyline points="{path}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>')
    for x, y in zip(predicted, observed, strict=True):
        body.append(
            f'<circle cx="{_fmt(frame.px(x))}" cy="{_fmt(frame.py(y))}" r="3.5" '
            f'fill="{PALETTE[0]}"/>'
        )
    return _svg(frame, title, body)


def line_chart(
    *,
    title: str,
    curves: Sequence[Curve],
    x_label: str,
    y_label: str,
    x_max: float,
    y_min: float,
    y_max: float,
    width: int = 420,
    height: int = 300,
) -> str:
    """Curves in a box [0, x_max] x [y_min, y_max], e.g. decision curves (net benefit)."""
    frame = _Frame(width=width, height=height)
    span_y = (y_max - y_min) or 1.0

    def unit(x: float, y: float) -> tuple[float, float]:
        return x / x_max, (min(max(y, y_min), y_max) - y_min) / span_y

    body = _axes(frame, x_label=x_label, y_label=y_label, ticks=())
    for k in range(5):
        tx, ty = k / 4, k / 4
        body.append(
            f'<text x="{_fmt(frame.px(tx))}" y="{height - frame.bottom + 14}" '
            f'text-anchor="middle">{tx * x_max:.2g}</text>'
        )
        body.append(
            f'<text x="{frame.left - 6}" y="{_fmt(frame.py(ty) + 4)}" '
            f'text-anchor="end">{y_min + ty * span_y:.2g}</text>'
        )
    legend = []
    for i, curve in enumerate(curves):
        colour = PALETTE[i % len(PALETTE)]
        path = " ".join(
            "{},{}".format(*(_fmt(v) for v in (frame.px(u[0]), frame.py(u[1]))))
            for u in (unit(x, y) for x, y in zip(curve.x, curve.y, strict=True))
        )
        body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        legend.append((curve.label, colour, "line"))
    body.extend(_legend(frame, legend))
    return _svg(frame, title, body)


def histogram_chart(
    *,
    title: str,
    groups: Sequence[tuple[str, Sequence[float]]],
    bin_edges: Sequence[float],
    x_label: str,
    width: int = 420,
    height: int = 260,
) -> str:
    """Counts per bin for each group, bars side by side (e.g. short axis per reference class)."""
    frame = _Frame(width=width, height=height)
    counts = []
    for _, values in groups:
        row = [0] * (len(bin_edges) - 1)
        for value in values:
            for b in range(len(bin_edges) - 1):
                last = b == len(bin_edges) - 2
                if bin_edges[b] <= value < bin_edges[b + 1] or (last and value == bin_edges[-1]):
                    row[b] += 1
                    break
        counts.append(row)
    top = max((max(row) for row in counts if row), default=0) or 1
    body = _axes(frame, x_label=x_label, y_label="Nodes", ticks=())
    n_bins = len(bin_edges) - 1
    bin_width = 1 / n_bins
    bar = bin_width / (len(groups) + 1)
    for g, row in enumerate(counts):
        colour = PALETTE[g % len(PALETTE)]
        for b, count in enumerate(row):
            x0 = frame.px(b * bin_width + (g + 0.5) * bar)
            x1 = frame.px(b * bin_width + (g + 1.5) * bar)
            y = frame.py(count / top)
            body.append(
                f'<rect x="{_fmt(x0)}" y="{_fmt(y)}" width="{_fmt(x1 - x0)}" '
                f'height="{_fmt(frame.py(0) - y)}" fill="{colour}">'
                f"<title>{escape(groups[g][0])}: {count} in [{bin_edges[b]:g}, "
                f"{bin_edges[b + 1]:g})</title></rect>"
            )
    for b, edge in enumerate(bin_edges):
        body.append(
            f'<text x="{_fmt(frame.px(b * bin_width))}" y="{height - frame.bottom + 14}" '
            f'text-anchor="middle">{edge:g}</text>'
        )
    body.append(
        f'<text x="{frame.left - 6}" y="{_fmt(frame.py(1) + 4)}" text-anchor="end">{top}</text>'
    )
    body.extend(
        _legend(
            frame,
            [(name, PALETTE[g % len(PALETTE)], "point") for g, (name, _) in enumerate(groups)],
        )
    )
    return _svg(frame, title, body)
