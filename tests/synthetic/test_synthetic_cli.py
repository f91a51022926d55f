"""Command lines: python -m synthetic and the Django management command (lightly)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from synthetic.cli import main


def test_module_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "c"
    assert (
        main(
            [
                str(out),
                "--patients",
                "1",
                "--seed",
                "3",
                "--profile",
                "external",
                "--prevalence",
                "0,0,1",
                "--mask-format",
                "npy",
                "--name",
                "X",
            ]
        )
        == 0
    )
    assert "1 patients" in capsys.readouterr().out
    assert json.loads((out / "cohort.json").read_text())["name"] == "X"
    rows = (out / "manifest.csv").read_text().splitlines()[1:]
    assert rows and all(",ene," in r for r in rows)
    assert (out / "SYN-EXT-0001" / "nodes.npy").is_file()
    with pytest.raises(SystemExit):
        main([str(out), "--patients", "1", "--seed", "3"])  # exists, no --force
    assert main([str(out), "--patients", "1", "--seed", "4", "--force", "--quiet"]) == 0


def test_management_command(tmp_path: Path) -> None:
    pytest.importorskip("django")
    from django.conf import settings

    if not settings.configured:
        try:
            import django

            django.setup()
        except Exception as exc:  # the Django project is not importable here
            pytest.skip(f"Django settings not available: {exc}")
    from django.core.management import call_command

    buf = io.StringIO()
    call_command(
        "make_synthetic_cohort",
        str(tmp_path / "m"),
        patients=1,
        seed=1,
        profile="external",
        stdout=buf,
    )
    assert "1 patients" in buf.getvalue()
    assert (tmp_path / "m" / "manifest.csv").is_file()
