"""Statistics engine for reader studies: radiologists and AI models scoring lymph nodes.

Pure Python (numpy, scipy, pandas, statsmodels, scikit-learn; no Django). Input is a tidy long
table, one row per rating: ``case``, ``reader``, ``score``, ``truth`` (0/1) and optionally
``modality``, ``cluster`` (patient) and ``cohort``; 3-way calls (benign / metastasis / ENE) and
3-class model probabilities are turned into the three binary tasks of the ENE study by
:func:`task_ratings`. Command line: ``python -m analysis --help``; overview and JSON schemas in
``docs/analysis.md``.

Modules
-------
``analysis.data``
    loading, validation, readers x cases matrices, 3-way task helpers.
``analysis.roc``
    ROC curve, AUC, DeLong / clustered / logit confidence intervals.
``analysis.delong``
    DeLong covariance (fast Sun & Xu and naive), paired tests, contrasts, reader-mean AUC,
    Obuchowski's clustered covariance, cluster bootstrap.
``analysis.thresholds``
    Youden, fixed-FPR operating points, Wilson intervals, threshold transfer, McNemar.
``analysis.agreement``
    Fleiss' kappa (null SE, Gwet SE, category kappas, Conger, Randolph), Cohen's (weighted)
    kappa, confusion matrices.
``analysis.report``
    one JSON document with all of the above per cohort, task and modality.
``analysis.mrmc``, ``analysis.calibration``, ``analysis.characteristics``
    MRMC (Obuchowski-Rockette, DBM, iMRMC), calibration / decision curves, cohort
    characteristics (import them directly; the report uses them when present).
"""

from ._core import DeLongComponents, fast_delong
from .agreement import (
    CategoryKappa,
    CohenKappa,
    ConfusionMatrix,
    FleissKappa,
    RatingTable,
    category_counts,
    cohen_kappa,
    confusion_matrices,
    confusion_matrix,
    fleiss_kappa,
    fleiss_kappa_from_ratings,
    pairwise_cohen_kappa,
    rating_table,
)
from .data import (
    CALL_CODES,
    CALL_DECISION_THRESHOLDS,
    TASK_LABELS,
    TASKS,
    encode_calls,
    has_three_way_calls,
    load_ratings,
    ratings_matrix,
    task_from_probabilities,
    task_ratings,
    validate_ratings,
)
from .delong import (
    AucCovariance,
    BootstrapInterval,
    ContrastTest,
    MeanAuc,
    PairedAucTest,
    UnpairedAucTest,
    auc_contrast,
    cluster_bootstrap_auc,
    cluster_bootstrap_difference,
    clustered_covariance,
    compare_readers,
    delong_covariance,
    delong_naive,
    model_vs_reader_mean,
    paired_auc_test,
    reader_mean_auc,
    unpaired_auc_test,
)
from .errors import AnalysisInputError
from .report import (
    cohort_section_count,
    study_report,
    study_report_merge,
    study_reports,
    to_jsonable,
)
from .roc import (
    AucEstimate,
    ReaderAuc,
    RocCurve,
    auc_confidence_interval,
    logit_interval,
    roc_analysis,
    roc_auc,
    roc_curve,
    wald_interval,
)
from .thresholds import (
    DEFAULT_TARGET_FPRS,
    FprOperatingPoint,
    McNemarResult,
    OperatingPoint,
    Proportion,
    ReaderThresholds,
    ThresholdTransfer,
    YoudenPoint,
    closest_to_top_left,
    mcnemar_sensitivity_specificity,
    mcnemar_test,
    operating_point,
    threshold_analysis,
    threshold_at_fpr,
    thresholds_at_fprs,
    transfer_threshold,
    wilson_interval,
    youden_threshold,
)

__all__ = [
    "CALL_CODES",
    "CALL_DECISION_THRESHOLDS",
    "DEFAULT_TARGET_FPRS",
    "TASKS",
    "TASK_LABELS",
    "AnalysisInputError",
    "AucCovariance",
    "AucEstimate",
    "BootstrapInterval",
    "CategoryKappa",
    "CohenKappa",
    "ConfusionMatrix",
    "ContrastTest",
    "DeLongComponents",
    "FleissKappa",
    "FprOperatingPoint",
    "McNemarResult",
    "MeanAuc",
    "OperatingPoint",
    "PairedAucTest",
    "UnpairedAucTest",
    "Proportion",
    "RatingTable",
    "ReaderAuc",
    "ReaderThresholds",
    "RocCurve",
    "ThresholdTransfer",
    "YoudenPoint",
    "auc_confidence_interval",
    "auc_contrast",
    "category_counts",
    "closest_to_top_left",
    "cluster_bootstrap_auc",
    "cluster_bootstrap_difference",
    "clustered_covariance",
    "cohen_kappa",
    "cohort_section_count",
    "compare_readers",
    "confusion_matrices",
    "confusion_matrix",
    "delong_covariance",
    "delong_naive",
    "encode_calls",
    "fast_delong",
    "fleiss_kappa",
    "fleiss_kappa_from_ratings",
    "has_three_way_calls",
    "load_ratings",
    "logit_interval",
    "mcnemar_sensitivity_specificity",
    "mcnemar_test",
    "model_vs_reader_mean",
    "operating_point",
    "pairwise_cohen_kappa",
    "paired_auc_test",
    "rating_table",
    "ratings_matrix",
    "reader_mean_auc",
    "roc_analysis",
    "roc_auc",
    "roc_curve",
    "study_report",
    "study_report_merge",
    "study_reports",
    "task_from_probabilities",
    "task_ratings",
    "threshold_analysis",
    "threshold_at_fpr",
    "thresholds_at_fprs",
    "to_jsonable",
    "transfer_threshold",
    "unpaired_auc_test",
    "validate_ratings",
    "wald_interval",
    "wilson_interval",
    "youden_threshold",
]
