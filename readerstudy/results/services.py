"""Computing a study's results with the ``analysis`` package, cached by a fingerprint.

The analysis is ``analysis.report.study_report`` of the tidy reads table
(``selectors.reads_frame``), in 3-way mode: per cohort and pooled, for each of 001's three
tasks (ENE vs rest, metastasis vs benign, ENE vs metastasis without ENE): reader AUCs with CIs,
the model against each reader (paired DeLong) and against the reader mean, sensitivity /
specificity / accuracy at the Youden and fixed-FPR (5, 10, 15, 20, 30%) thresholds with
numerators and denominators (thresholds fixed on the first cohort and carried to the others, as
003 does), reader mean AUC, Fleiss' kappa, 3x3 confusion matrices, and the OR-MRMC comparison
of the arms. It runs twice: with node-level variances (``node_level``) and with patients as
clusters (``patient_clustered``: Obuchowski 1997 CIs, and the OR-MRMC with the jackknife over
patients beside the node-level one). The CSV download fed to ``python -m analysis report`` with
the options in ``reproduce`` gives the same numbers.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import IntegrityError, transaction

from analysis.errors import AnalysisInputError
from analysis.report import cohort_section_count, study_report_merge, study_reports
from readerstudy.results import selectors
from readerstudy.results.models import ResultSnapshot
from readerstudy.results.report_process import (
    ReportProcessLost,
    report_process_result,
    report_process_submit,
)
from readerstudy.studies.models import ReaderStudy

#: Bump when the computation changes, so old snapshots stop matching.
RESULTS_VERSION = 1

#: Snapshots kept per study (the newest); older ones are deleted when a new one is stored.
KEEP_SNAPSHOTS = 3


def _options(study: ReaderStudy) -> dict[str, Any]:
    cohorts = list(study.cohorts.order_by("pk").values_list("name", flat=True))
    models = selectors.model_names(study=study)
    return {
        "version": RESULTS_VERSION,
        "alpha": 0.05,
        # 003: thresholds are fixed on the internal (first) cohort and carried to the others;
        # only meaningful when there is a model whose thresholds can be carried.
        "derivation_cohort": cohorts[0] if models and len(cohorts) > 1 else None,
        "models": models,
    }


def _reproduce_command(options: dict[str, Any], *, clustered: bool) -> str:
    parts = ["python -m analysis report --input reads.csv --calls"]
    if clustered:
        parts.append("--cluster-column patient")
    else:
        parts.append("--curves")
    for model in options["models"]:
        parts.append(f"--model {model!r}")
    if options["derivation_cohort"]:
        parts.append(f"--derivation-cohort {options['derivation_cohort']!r}")
    return " ".join(parts)


def results_compute(*, study: ReaderStudy) -> dict[str, Any]:
    """The study's analysis as one strict-JSON dict (not cached; see :func:`results_current`)."""
    options = _options(study)
    frame = selectors.reads_frame(study=study)
    out: dict[str, Any] = {
        "study": {"id": study.pk, "name": study.name},
        "n_reads": int(frame["call"].notna().sum()),
        "n_nodes": int(frame["case"].nunique()),
        "n_patients": int(frame["patient"].nunique()),
        # The people who made calls (a model's rows carry probabilities and no call).
        "readers": sorted(
            {
                (str(code), bool(sim))
                for code, sim in frame.loc[
                    frame["call"].notna(), ["reader", "reader_simulated"]
                ].itertuples(index=False)
            }
        ),
        "models": options["models"],
        "options": options,
    }
    if frame.empty or frame["call"].notna().sum() == 0:
        out["node_level"] = out["patient_clustered"] = None
        out["warnings"] = ["no reads yet"]
        return out
    common = {
        "calls": True,
        "models": options["models"],
        "alpha": options["alpha"],
        "derivation_cohort": options["derivation_cohort"],
    }
    out["warnings"] = []
    # As the CLI reads the CSV: clustered = the patient column becomes the cluster. The
    # node-level run carries the ROC curves the dashboard draws (CLI: --curves). The two share
    # what clustering does not change (computed once).
    variants = [
        (frame, {"cluster": False, "curves": True}),
        (frame.rename(columns={"patient": "cluster"}), {"cluster": True, "curves": False}),
    ]
    # Side by side: the first half of the cohort sections here, the rest (with the pooled
    # section, as large as the others together, and the threshold transfers) in the report
    # process, which has nothing else to do meanwhile.
    split = cohort_section_count(frame) // 2
    theirs_part = slice(split, None)
    elsewhere = report_process_submit(study_reports, variants, cohorts=theirs_part, **common)
    if elsewhere is None:
        parts = [study_reports(variants, **common)]
    else:
        here = study_reports(variants, cohorts=slice(0, split), **common)
        try:
            theirs = report_process_result(elsewhere)
        except ReportProcessLost:
            theirs = study_reports(variants, cohorts=theirs_part, **common)
        parts = [here, theirs]
    keys = ("node_level", "patient_clustered")
    for key, reports in zip(keys, zip(*parts, strict=True), strict=True):
        errors = [report for report in reports if isinstance(report, AnalysisInputError)]
        if errors:
            # Too few reads for any analysis yet (e.g. one class only): said, not a failure.
            out[key] = None
            out["warnings"].append(f"{key.replace('_', ' ')}: {errors[0]}")
        else:
            out[key] = study_report_merge(reports)
    out["reproduce"] = {
        "node_level": _reproduce_command(options, clustered=False),
        "patient_clustered": _reproduce_command(options, clustered=True),
    }
    return out


def results_current(*, study: ReaderStudy) -> ResultSnapshot:
    """The snapshot for the study's current inputs: the cached one if its fingerprint still
    matches, else computed now and stored (concurrent computations store it once)."""
    fingerprint, n_reads = selectors.results_fingerprint(study=study, options=_options(study))
    cached = ResultSnapshot.objects.filter(study=study, fingerprint=fingerprint).first()
    if cached is not None:
        return cached
    started = time.perf_counter()
    results = results_compute(study=study)
    seconds = time.perf_counter() - started
    try:
        with transaction.atomic():
            snapshot = ResultSnapshot.objects.create(
                study=study,
                fingerprint=fingerprint,
                seconds=seconds,
                n_reads=n_reads,
                results=results,
            )
            # Older inputs' results are kept a little (a page may still show one as stale).
            keep = ResultSnapshot.objects.filter(study=study).order_by("-computed_at", "-pk")
            ResultSnapshot.objects.filter(study=study).exclude(
                pk__in=list(keep.values_list("pk", flat=True)[:KEEP_SNAPSHOTS])
            ).delete()
            return snapshot
    except IntegrityError:
        # another worker stored the same inputs' results meanwhile
        return ResultSnapshot.objects.get(study=study, fingerprint=fingerprint)


def results_latest(*, study: ReaderStudy) -> tuple[ResultSnapshot | None, bool]:
    """The newest stored snapshot (maybe stale) and whether it is up to date; computes nothing."""
    # The results themselves are loaded when first used (the page has them rendered already).
    latest = (
        ResultSnapshot.objects.filter(study=study).order_by("-computed_at").defer("results").first()
    )
    if latest is None:
        return None, False
    fingerprint, _ = selectors.results_fingerprint(study=study, options=_options(study))
    return latest, latest.fingerprint == fingerprint
