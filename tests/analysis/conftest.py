"""Fixtures for the statistics engine's tests: the reference data set and its tolerances.

Reference data (``expected.json`` and the CSV data sets) live in the repository, in
``tests/data/reference/`` (provenance in its README.md). This module is their only loader. A
missing or unreadable reference file FAILS the test that needs it (never a skip): a clone that
lacks them is broken, not partially tested.

These tests need no Django. With pytest-django loaded (the repository's configuration) they run as
any other test; with ``-p no:django`` the ``settings`` fixture that ``tests/conftest.py``'s autouse
fixtures request is replaced by a stand-in.
"""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
REFERENCE_DIR = REPOSITORY_ROOT / "tests" / "data" / "reference"


def reference_path(name: str) -> Path:
    """Path of one reference file in ``tests/data/reference``; fails the calling test if missing."""
    path = REFERENCE_DIR / name
    if not path.is_file():
        pytest.fail(f"reference data file {path} is missing from the repository", pytrace=False)
    return path


@functools.cache
def _read_table(name: str) -> pd.DataFrame:
    return pd.read_csv(reference_path(name))


def reference_table(name: str) -> pd.DataFrame:
    """A reference CSV as a DataFrame (read once per session; each call gets its own copy)."""
    return _read_table(name).copy()


@dataclass(frozen=True)
class Tolerance:
    """Pass if |actual - expected| <= max(abs, rel * |expected|) (expected.json semantics)."""

    absolute: float
    relative: float
    name: str

    def allows(self, actual: float, expected: float) -> bool:
        if expected is None:
            return actual is None or (isinstance(actual, float) and math.isnan(actual))
        if isinstance(expected, str):  # "Inf" / "-Inf" in the JSON
            return float(actual) == float(expected)
        return abs(actual - expected) <= max(self.absolute, self.relative * abs(expected))


class Reference:
    """``expected.json`` with lookup of cases, datasets and per-field tolerances."""

    def __init__(self, raw: dict[str, Any], directory: Path) -> None:
        self.raw = raw
        self.directory = directory
        self.cases = {case["id"]: case for case in raw["cases"]}
        self.named_tolerances = raw["conventions"]["tolerances"]

    def __getitem__(self, case_id: str) -> dict[str, Any]:
        return self.cases[case_id]

    def ids(self, prefix: str = "") -> list[str]:
        return [case_id for case_id in self.cases if case_id.startswith(prefix)]

    def path(self, name: str) -> Path:
        return reference_path(name)

    def tolerance(self, case_id: str, field: str) -> Tolerance:
        """Tolerance of ``field`` (its own entry, else ``default``, else the ``full`` class)."""
        table = self.cases[case_id].get("tolerance", {})
        spec = table.get(field, table.get("default", "full"))
        if isinstance(spec, str):
            name = spec
            spec = self.named_tolerances[spec]
        else:
            name = "explicit"
        return Tolerance(
            absolute=float(spec.get("abs", 0.0)), relative=float(spec.get("rel", 0.0)), name=name
        )

    def assert_close(self, case_id: str, field: str, actual: Any, expected: Any = None) -> None:
        """Assert ``actual`` equals the case's ``expected[field]`` within the field's tolerance.

        ``expected`` may be given explicitly for nested values (e.g. one bound of an interval) while
        the tolerance still comes from ``field``.
        """
        if expected is None:
            expected = self.cases[case_id]["expected"][field]
        tolerance = self.tolerance(case_id, field)
        assert tolerance.allows(actual, expected), (
            f"{case_id} {field}: got {actual!r}, expected {expected!r} "
            f"(tolerance {tolerance.name}: abs {tolerance.absolute}, rel {tolerance.relative})"
        )


@functools.cache
def load_reference() -> Reference:
    """``expected.json`` parsed once per session."""
    path = reference_path("expected.json")
    return Reference(json.loads(path.read_text(encoding="utf-8")), path.parent)


@pytest.fixture(scope="session")
def reference() -> Reference:
    """The reference values (``expected.json``)."""
    return load_reference()


@pytest.fixture(scope="session")
def reference_file() -> Callable[[str], Path]:
    """Function ``name -> Path`` to a reference file (fails the test if missing)."""
    return reference_path


@pytest.fixture(scope="session")
def reference_frame() -> Callable[[str], pd.DataFrame]:
    """Function ``name -> DataFrame`` of a reference CSV, parsed once per session, copied per call."""
    return reference_table


class _SettingsStandIn:
    """Absorbs what the autouse fixtures of ``tests/conftest.py`` do to Django settings.

    Attributes written are kept; an attribute never written reads as an empty dict (those
    fixtures extend mappings such as ``STORAGES``). Used only when pytest-django is not loaded.
    """

    def __getattr__(self, name: str) -> Any:
        return {}


if "pytest_django" not in sys.modules:
    # Running with ``-p no:django``: the statistics tests need no Django, so the repository's
    # autouse fixtures that ask for pytest-django's ``settings`` get a stand-in instead.
    @pytest.fixture
    def settings() -> _SettingsStandIn:
        return _SettingsStandIn()
