"""Multi-reader multi-case (MRMC) analysis of the empirical ROC AUC.

Methods
-------
* :func:`or_analysis`: Obuchowski-Rockette (OR) ANOVA of reader x modality AUCs with Hillis'
  denominator degrees of freedom, for random readers and random cases (RRRC), fixed readers
  (FRRC) and fixed cases (RRFC). AUC covariances by case jackknife, DeLong, or the unbiased
  U-statistic estimator.
  Obuchowski NA, Rockette HE. Hypothesis testing of diagnostic accuracy for multiple readers and
  multiple tests: an ANOVA approach with dependent observations. Commun Stat Simul Comput
  1995;24:285-308. Hillis SL, Obuchowski NA, Schartz KM, Berbaum KS. A comparison of the
  Dorfman-Berbaum-Metz and Obuchowski-Rockette methods for receiver operating characteristic
  (ROC) data. Stat Med 2005;24:1579-1607. Hillis SL. A comparison of denominator degrees of
  freedom methods for multiple observer ROC analysis. Stat Med 2007;26:596-619. Hillis SL,
  Berbaum KS, Metz CE. Recent developments in the Dorfman-Berbaum-Metz procedure for
  multireader ROC study analysis. Acad Radiol 2008;15:647-661.
* :func:`clustered_or_analysis`: the same OR analysis when cases (nodes) are nested in clusters
  (patients): AUC covariance by the jackknife over clusters or Obuchowski's clustered DeLong
  estimator (Obuchowski NA. Nonparametric analysis of clustered ROC curve data. Biometrics
  1997;53:567-578), see :mod:`.clustered`.
* :func:`dbm_analysis`: Dorfman-Berbaum-Metz ANOVA of case-jackknife pseudovalues (Dorfman DD,
  Berbaum KS, Metz CE. Invest Radiol 1992;27:723-731), with Hillis' (2007) ddf; its RRRC F equals
  the OR F with jackknife covariance (Hillis et al. 2005).
* :func:`standalone_vs_readers`: a standalone model (CAD) against a group of random readers on
  the same cases: single-modality OR analysis of the reader-minus-model AUC differences (Hillis
  2007, section 5.3; Chakraborty DP, Observer Performance Methods for Diagnostic Imaging, CRC
  Press 2017, chapter "Standalone CAD vs. radiologists"; RJafroc ``StCadVsRad``, method
  ``1T-RRRC``).
* :func:`imrmc_analysis`: U-statistic (and V-statistic / MLE) variance of the reader-averaged
  AUC and of differences, as in iMRMC (Gallas BD. One-shot estimate of MRMC variance: AUC.
  Acad Radiol 2006;13:353-362; Gallas BD, Bandos A, Samuelson FW, Wagner RF. A framework for
  random-effects ROC analysis: biases with the bootstrap and other variance estimators. Commun
  Stat Theory Methods 2009;38:2586-2603), with the BDG/Hillis degrees of freedom.

Input is the package's long ratings table (one row per rating: ``case``, ``reader``, ``score``,
``truth``, ``modality``); every reader must rate every case in every modality (fully crossed).
The AUC is the empirical (Mann-Whitney) AUC, ties counting one half.

Leave-one-case-out AUCs (jackknife) come from DeLong's placements in O(k n log n): removing
positive case i gives ``(m * auc - v10_i) / (m - 1)``, removing negative case j gives
``(n * auc - v01_j) / (n - 1)`` (an exact identity), so the jackknife covariance is
``(c - 1) / c * (S10 / (m - 1) + S01 / (n - 1))`` with ``S10``, ``S01`` the placement
covariances (c = m + n cases).

Modules: :mod:`.data` (the crossed table), :mod:`.covariance` (AUC covariance estimators),
:mod:`.obuchowski_rockette`, :mod:`.dbm`, :mod:`.standalone`, :mod:`.imrmc`; every public name is
importable from ``analysis.mrmc`` (and the main ones from ``analysis``).
"""

from __future__ import annotations

from ._common import ANALYSES, COVARIANCE_METHODS
from .clustered import (
    ClusteredORResult,
    cluster_jackknife_aucs,
    clustered_auc_covariance,
    clustered_or_analysis,
)
from .covariance import auc_covariance, leave_one_out_aucs
from .data import MRMCData, mrmc_data
from .dbm import DBMResult, dbm_analysis
from .imrmc import IMRMCResult, imrmc_analysis
from .obuchowski_rockette import ORResult, or_analysis, or_from_aucs
from .standalone import StandaloneResult, standalone_vs_readers

__all__ = [
    "ANALYSES",
    "ClusteredORResult",
    "COVARIANCE_METHODS",
    "DBMResult",
    "IMRMCResult",
    "MRMCData",
    "ORResult",
    "StandaloneResult",
    "auc_covariance",
    "cluster_jackknife_aucs",
    "clustered_auc_covariance",
    "clustered_or_analysis",
    "dbm_analysis",
    "imrmc_analysis",
    "leave_one_out_aucs",
    "mrmc_data",
    "or_analysis",
    "or_from_aucs",
    "standalone_vs_readers",
]
