"""The methods paragraph of a results report: every method, its reference, software versions."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

#: Distribution packages whose versions a report names (the statistics and their inputs).
REPORTED_PACKAGES = ("numpy", "scipy", "pandas", "statsmodels", "scikit-learn", "torch", "Django")


def software_versions() -> dict[str, str]:
    """Python, the numerical packages and the code's git commit (when run from a checkout)."""
    versions = {"python": platform.python_version()}
    for package in REPORTED_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    if commit:
        versions["readerstudy (git)"] = commit
    return versions


def methods_paragraphs(report: dict[str, Any], *, versions: dict[str, str]) -> list[str]:
    """Methods text for ``report`` (``analysis.report`` JSON), naming each method's source."""
    options = report.get("options", {})
    level = round(100 * float(options.get("confidence_level", 0.95)))
    fprs = ", ".join(f"{round(100 * f)}%" for f in options.get("target_fprs", []))
    derivation = options.get("derivation_cohort")
    three_way = report.get("mode") == "three_way_calls"
    paragraphs = []
    if three_way:
        paragraphs.append(
            "Readers called each node benign, metastasis without extranodal extension (ENE) or "
            "metastasis with ENE. Three binary tasks were analysed as in DeepENE (Shen, Wang et al., Radiology 2026;318:e250332): "
            "ENE vs the rest, metastasis (with or without ENE) vs benign, and ENE vs metastasis "
            "without ENE; a reader's call gives one operating point per task, the model's "
            "class probabilities a continuous score."
        )
    paragraphs.append(
        "Areas under the ROC curve (AUC) are the empirical (Mann-Whitney) estimates with "
        f"{level}% confidence intervals from DeLong's variance (DeLong, DeLong & Clarke-Pearson, "
        "Biometrics 1988;44:837-845). The model was compared with each reader by the paired "
        "DeLong test and with the reader mean by a contrast of the same covariance matrix. "
        "Patient-clustered intervals use Obuchowski's nonparametric variance for clustered ROC "
        "data (Biometrics 1997;53:567-578), treating each patient's nodes as one cluster."
    )
    paragraphs.append(
        "Sensitivity, specificity and accuracy are given with numerators, denominators and "
        f"Wilson score intervals (Wilson, JASA 1927;22:209-212) at the Youden-index threshold "
        f"(Youden, Cancer 1950;3:32-35) and at fixed false-positive rates of {fprs}. "
        + (
            f"Thresholds were fixed on the {derivation} cohort and applied unchanged to the "
            "other cohorts (as Wang et al., eClinicalMedicine 2024, fixed cutoffs on the training set). "
            if derivation
            else ""
        )
        + "Model and reader sensitivity and specificity were compared with McNemar's exact test."
    )
    paragraphs.append(
        "Agreement among readers is Fleiss' kappa (Psychol Bull 1971;76:378-382) with the test "
        "of Fleiss, Nee & Landis (1979) and Gwet's confidence interval. Multi-reader multi-case "
        "comparisons use the Obuchowski-Rockette model (Commun Stat Simul Comput "
        "1995;24:285-308) with Hillis' denominator degrees of freedom (Stat Med "
        "2007;26:596-619; Acad Radiol 2008;15:647-661), readers and cases random; the model "
        "against readers as random uses the one-treatment OR method. The model's calibration "
        "is summarised by the Brier score and logistic calibration slope and intercept (Cox, "
        "Biometrika 1958;45:562-565) with a reliability diagram."
    )
    paragraphs.append(
        "Computed with the readerstudy analysis package (report schema "
        f"{report.get('schema', '?')}); software: "
        + ", ".join(f"{name} {version}" for name, version in versions.items())
        + ". Every number can be re-derived with `python -m analysis report` on the downloaded "
        "reads CSV."
    )
    return paragraphs
