"""Dependencies point one way: the Django-free packages import nothing of the web stack.

Every module of ``analysis/``, ``inference/``, ``synthetic/`` and ``cohortformat/`` is parsed
(not imported, so a lazy import inside a function counts too) and each ``import``, ``from ...
import`` and ``importlib.import_module("...")`` / ``__import__("...")`` with a literal name is
checked: none may reach Django, DRF, Celery or the ``readerstudy`` project, and each package may
use only the repository packages listed for it below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: Third-party and project packages no pure package may import.
FORBIDDEN = ("django", "rest_framework", "celery", "readerstudy")

#: The repository's Django-free packages and the other repository packages each may import.
PURE_PACKAGES: dict[str, frozenset[str]] = {
    "analysis": frozenset(),
    "inference": frozenset({"cohortformat"}),
    "cohortformat": frozenset(),
    "synthetic": frozenset({"cohortformat"}),
}


@pytest.fixture(autouse=True)
def _media_root() -> None:
    """Plain Python: the project's Django fixture is not needed (``-p no:django`` works)."""


@pytest.fixture(autouse=True)
def _test_settings() -> None:
    """Plain Python: the project's Django fixture is not needed."""


@pytest.fixture(autouse=True)
def _import_work_dir() -> None:
    """Plain Python: the project's Django fixture is not needed."""


def repository_packages(root: Path) -> set[str]:
    """Top-level importable packages of the repository (folders with an ``__init__.py``)."""
    return {p.parent.name for p in root.glob("*/__init__.py")}


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``tree``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # relative: resolve against the importing module's package
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((node.lineno, target))
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__"):
                found.append((node.lineno, node.args[0].value))
    return sorted(found)


def import_violations(
    root: Path, package: str, allowed_repo_packages: frozenset[str], repo_packages: set[str]
) -> list[str]:
    """Every forbidden import in ``root/package``, as ``path:line: message``."""
    problems = []
    for path in sorted((root / package).rglob("*.py")):
        module = _module_name(root, path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, target in _imported_names(tree, module, path.name == "__init__.py"):
            top = target.split(".")[0]
            where = f"{path.relative_to(root).as_posix()}:{line}"
            if top in FORBIDDEN:
                problems.append(f"{where}: imports {target!r} ({package}/ must stay Django-free)")
            elif top in repo_packages and top != package and top not in allowed_repo_packages:
                allowed = ", ".join(sorted(allowed_repo_packages)) or "none"
                problems.append(
                    f"{where}: imports {target!r} (repository packages {package}/ may use: {allowed})"
                )
    return problems


@pytest.mark.parametrize("package", sorted(PURE_PACKAGES))
def test_pure_package_imports_point_one_way(package: str) -> None:
    assert (REPO / package / "__init__.py").is_file(), f"{package}/ is not a package"
    problems = import_violations(REPO, package, PURE_PACKAGES[package], repository_packages(REPO))
    assert not problems, "\n".join(problems)


def test_the_check_catches_violations(tmp_path: Path) -> None:
    """The checker itself: a planted violation of each kind is reported with file and line."""
    (tmp_path / "readerstudy").mkdir()
    (tmp_path / "readerstudy" / "__init__.py").write_text("")
    (tmp_path / "cohortformat").mkdir()
    (tmp_path / "cohortformat" / "__init__.py").write_text("")
    pure = tmp_path / "pure"
    (pure / "sub").mkdir(parents=True)
    (pure / "__init__.py").write_text("from . import sub\nfrom .sub import ok\n")
    (pure / "sub" / "__init__.py").write_text("")
    (pure / "sub" / "ok.py").write_text("import numpy\nfrom .. import sub\n")
    (pure / "sub" / "bad.py").write_text(
        "import os\n"
        "from django.conf import settings\n"
        "def lazy():\n"
        "    import rest_framework.fields\n"
        "    from celery import shared_task\n"
        "    import importlib\n"
        "    return importlib.import_module('readerstudy.cohorts')\n"
        "from cohortformat import vocabulary\n"
        "from ...readerstudy import models\n"
    )
    problems = import_violations(tmp_path, "pure", frozenset(), repository_packages(tmp_path))
    assert [p.split(": ")[0] for p in problems] == [
        "pure/sub/bad.py:2",
        "pure/sub/bad.py:4",
        "pure/sub/bad.py:5",
        "pure/sub/bad.py:7",
        "pure/sub/bad.py:8",
        "pure/sub/bad.py:9",
    ], problems
    assert "imports 'django.conf'" in problems[0]
    assert "repository packages pure/ may use: none" in problems[4]
    assert import_violations(
        tmp_path, "pure", frozenset({"cohortformat"}), repository_packages(tmp_path)
    ) == [p for p in problems if "cohortformat" not in p]
