"""Strict-JSON conversion shared by every result's ``to_dict()``: NaN and infinities become
``None`` (JSON has no NaN), numpy scalars and arrays become Python numbers and lists."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def finite_or_none(value: Any) -> float | None:
    """``float(value)``, or None for None, NaN and +-inf."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def to_jsonable(value: Any) -> Any:
    """Convert results to strict-JSON types, recursing into dicts, sequences and ``to_dict()``."""
    if (
        hasattr(value, "to_dict")
        and callable(value.to_dict)
        and not isinstance(value, pd.DataFrame)
    ):
        return to_jsonable(value.to_dict())
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def show_value(value: Any) -> str:
    """repr without numpy type noise (np.float64(1.5) -> 1.5), for error messages."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)
