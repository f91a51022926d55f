"""Fixtures for the statistics engine's tests: the reference data set and its tolerances.

Reference data (``expected.json`` and the CSV data sets) are located by the environment variable
``READERSTUDY_REFERENCE_DATA``, defaulting to ``<repository root>/../shared/reference-data`` (CI
runs in a fresh clone with ``shared/`` beside it). Tests that need them are skipped, saying why,
when the folder is missing.

These tests need no Django. With pytest-django loaded (the repository's configuration) they run as
any other test; with ``-p no:django`` the ``settings`` fixture that ``tests/conftest.py``'s autouse
fixtures request is replaced by a stand-in.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


def reference_dir() -> Path:
    """Folder holding ``expected.json`` and the reference CSV files."""
    configured = os.environ.get("READERSTUDY_REFERENCE_DATA")
    if configured:
        return Path(configured).expanduser().resolve()
    return (REPOSITORY_ROOT.parent / "shared" / "reference-data").resolve()


def reference_path(name: str) -> Path:
    """Path of one reference file; skips the calling test if it is missing."""
    path = reference_dir() / name
    if not path.is_file():
        pytest.skip(
            f"reference data {path} not found (set READERSTUDY_REFERENCE_DATA to the folder "
            "holding expected.json)"
        )
    return path


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


@pytest.fixture(scope="session")
def reference() -> Reference:
    """The reference values (``expected.json``), or skip when the folder is not available."""
    path = reference_path("expected.json")
    return Reference(json.loads(path.read_text(encoding="utf-8")), path.parent)


@pytest.fixture(scope="session")
def reference_file() -> Any:
    """Function ``name -> Path`` to a reference CSV (skips if missing)."""
    return reference_path


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
