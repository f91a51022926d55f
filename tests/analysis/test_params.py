"""One check of ``alpha`` for every public function, with one behaviour and one message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import (
    AnalysisInputError,
    auc_confidence_interval,
    cohen_kappa,
    operating_point,
    study_report,
)
from analysis._params import check_alpha
from analysis.calibration import calibration_analysis
from analysis.cli import main
from analysis.mrmc import or_analysis


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5, float("nan"), "x", None, True])
def test_check_alpha_rejects(bad):
    with pytest.raises(AnalysisInputError, match="alpha must be"):
        check_alpha(bad)


def test_check_alpha_accepts_numbers_and_numeric_text():
    assert check_alpha(0.05) == 0.05
    assert check_alpha(np.float32(0.1)) == pytest.approx(0.1)
    assert check_alpha("0.2") == 0.2


def _ratings() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for modality in ("unaided", "aided"):
        for reader in ("R1", "R2", "R3"):
            for case in range(20):
                truth = case % 2
                rows.append((f"c{case}", reader, modality, truth + rng.normal(), truth))
    return pd.DataFrame(rows, columns=["case", "reader", "modality", "score", "truth"])


@pytest.mark.parametrize("bad", [1.5, float("nan")])
def test_every_module_uses_the_same_check(bad, capsys):
    # NaN passed the old `not (0 < alpha < 1)` copies in some modules and not in others.
    scores, truth = [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]
    calls = [
        lambda: auc_confidence_interval(scores, truth, alpha=bad),
        lambda: operating_point(scores, truth, threshold=0.4, alpha=bad),
        lambda: cohen_kappa([0, 1, 1], [0, 1, 0], alpha=bad),
        lambda: or_analysis(_ratings(), alpha=bad),
        lambda: calibration_analysis(
            pd.DataFrame({"case": list("abcd"), "reader": "M", "score": scores, "truth": truth}),
            reader="M",
            alpha=bad,
        ),
        lambda: study_report(_ratings(), alpha=bad),
    ]
    for call in calls:
        with pytest.raises(AnalysisInputError, match="alpha must be in \\(0, 1\\)"):
            call()
    assert main(["roc", "--input", "unused.csv", "--alpha", str(bad)]) == 2
    assert "alpha must be in (0, 1)" in capsys.readouterr().err
