"""Result objects serialise themselves to strict-JSON-ready dicts (JsonResult)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from analysis import operating_point
from analysis._jsonable import JsonResult, Merge, confidence_level, constant


@dataclass(frozen=True)
class _Inner(JsonResult):
    count: int
    ratio: float


@dataclass(frozen=True)
class _Outer(JsonResult):
    name: str
    ci: tuple[float, float]
    alpha: float
    inner: _Inner
    values: np.ndarray

    JSON = (
        "name",
        ("ci95", "ci"),
        ("confidence_level", confidence_level),
        ("rule", constant("score >= threshold")),
        ("double", lambda self: 2 * self.inner.count),
        Merge("inner"),
        "values",
    )


def test_declared_entries_in_order_with_strict_json_values():
    result = _Outer(
        name="R1",
        ci=(float("nan"), np.float64(0.9)),
        alpha=0.05,
        inner=_Inner(count=np.int64(3), ratio=float("inf")),
        values=np.array([1.0, np.nan, -np.inf]),
    )
    document = result.to_dict()
    assert list(document) == [
        "name", "ci95", "confidence_level", "rule", "double", "count", "ratio", "values",
    ]  # fmt: skip
    assert document == {
        "name": "R1",
        "ci95": [None, 0.9],
        "confidence_level": 0.95,
        "rule": "score >= threshold",
        "double": 6,
        "count": 3,
        "ratio": None,
        "values": [1.0, None, None],
    }
    assert type(document["count"]) is int and type(document["ci95"][1]) is float
    json.dumps(document, allow_nan=False)


def test_without_a_declaration_every_field_is_written():
    assert _Inner(count=1, ratio=float("nan")).to_dict() == {"count": 1, "ratio": None}


def test_a_real_result_with_undefined_rates_is_strict_json():
    # Nobody called positive: PPV is 0/0. to_dict() itself is strict now (not only the CLI).
    document = operating_point([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], threshold=0.9).to_dict()
    assert document["ppv"]["estimate"] is None
    json.dumps(document, allow_nan=False)
