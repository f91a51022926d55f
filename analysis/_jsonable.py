"""Strict-JSON conversion shared by every result's ``to_dict()``: NaN and infinities become
``None`` (JSON has no NaN), numpy scalars and arrays become Python numbers and lists."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, cast

import numpy as np
import pandas as pd

_UNCHANGED = frozenset({str, int, bool, type(None)})


def to_jsonable(value: Any) -> Any:
    """Convert results to strict-JSON types, recursing into dicts, sequences and ``to_dict()``."""
    # Exact built-in types first: a report converts hundreds of thousands of plain values (and
    # converts its sections' output once more as a whole), so they skip the checks below.
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind in _UNCHANGED:
        return value
    if kind is dict:
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [to_jsonable(item) for item in value]
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


@dataclass(frozen=True)
class Merge:
    """A :class:`JsonResult` entry: merge this attribute's own dict into the parent's, in place."""

    attribute: str


JsonEntry = str | tuple[str, str | Callable[[Any], Any]] | Merge


def constant(value: Any) -> Callable[[Any], Any]:
    """A :class:`JsonResult` source that is always ``value`` (a method name, a rule...)."""
    return lambda _result: value


def confidence_level(result: Any) -> float:
    """A :class:`JsonResult` source: ``1 - result.alpha``."""
    return 1.0 - float(result.alpha)


class JsonResult:
    """Mixin for result dataclasses: ``to_dict()`` built from a declaration, strict-JSON ready.

    ``JSON`` lists the output keys in order. An entry is an attribute name (the key is the
    name), a pair ``(key, source)`` where ``source`` is an attribute name or a function of the
    result (derived values, constants), or :class:`Merge` (a nested result's keys inlined).
    Without ``JSON`` every dataclass field is written under its own name. Every value goes
    through :func:`to_jsonable`: NaN and infinities become None, numpy scalars and arrays Python
    numbers and lists, tuples lists, nested results their ``to_dict()``.
    """

    JSON: ClassVar[tuple[JsonEntry, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-ready dict of this result (see the class's ``JSON``)."""
        entries: Sequence[JsonEntry] = self.JSON or [
            item.name
            for item in fields(cast(Any, self))  # subclasses are dataclasses
        ]
        out: dict[str, Any] = {}
        for entry in entries:
            if isinstance(entry, Merge):
                out.update(to_jsonable(getattr(self, entry.attribute)))
                continue
            key, source = (entry, entry) if isinstance(entry, str) else entry
            value = source(self) if callable(source) else getattr(self, source)
            out[key] = to_jsonable(value)
        return out
