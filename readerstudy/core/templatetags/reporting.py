"""Number formats of the results pages (as in 001's tables: 3 decimals, percentages with n/d)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html

register = template.Library()


@register.filter
def f3(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@register.filter
def ci(pair: Any) -> str:
    if not pair:
        return "-"
    low, high = pair
    return f"{low:.3f}-{high:.3f}"


@register.filter
def pvalue(value: float | None) -> str:
    if value is None:
        return "-"
    return "<.001" if value < 0.001 else f"{value:.3f}"


@register.filter
def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


@register.filter
def prop(p: Any) -> str:
    """A proportion with its numerator/denominator and CI, the denominators one hover away."""
    if p is None or p.estimate is None:
        return "-"
    title = f"95% CI {100 * p.ci[0]:.1f}-{100 * p.ci[1]:.1f}%" if p.ci else ""
    return format_html(
        '<span title="{}">{}%</span> <span class="nd">({}/{})</span>',
        title,
        f"{100 * p.estimate:.1f}",
        p.numerator,
        p.denominator,
    )


@register.filter
def index(sequence: Any, position: int) -> Any:
    return sequence[position]
