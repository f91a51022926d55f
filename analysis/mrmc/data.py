"""The fully crossed reader x modality x case table every MRMC method starts from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data import matrix_of_valid_ratings, validate_ratings
from ..errors import AnalysisInputError

# --------------------------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MRMCData:
    """A fully crossed MRMC data set as arrays.

    Attributes
    ----------
    modalities : list of str
        Modality names, in order of first appearance in the table.
    readers : list of str
        Reader names, in order of first appearance.
    cases : list of str
        Case identifiers (column order of ``scores``).
    scores : ndarray, shape (t, r, n)
        ``scores[i, j, k]``: reader j's score of case k in modality i.
    truth : ndarray of int, shape (n,)
        0/1 truth per case.
    n_clusters : int or None
        Number of distinct values of the optional ``cluster`` column (None without it).
    """

    modalities: list[str]
    readers: list[str]
    cases: list[str]
    scores: np.ndarray
    truth: np.ndarray
    n_clusters: int | None = None

    def notes(self) -> list[str]:
        """Warnings about the design that every MRMC result repeats."""
        if self.n_clusters is not None and self.n_clusters < len(self.cases):
            return [
                f"the {len(self.cases)} cases belong to {self.n_clusters} clusters (column "
                "'cluster'), but cases are treated as independent: variances ignore the "
                "within-cluster correlation and may be too small"
            ]
        return []


def mrmc_data(
    ratings: pd.DataFrame,
    *,
    min_modalities: int = 2,
    min_readers: int = 2,
    modality_column: str = "modality",
) -> MRMCData:
    """Check a long ratings table and arrange it as a (modality, reader, case) score array.

    Parameters
    ----------
    ratings : DataFrame
        Long table with ``case``, ``reader``, ``score``, ``truth`` and ``modality`` (see
        :mod:`analysis.data`). With ``min_modalities=1`` the ``modality`` column may be absent
        (one modality named ``""``).
    min_modalities, min_readers : int
        Minimum numbers of modalities and readers.
    modality_column : str
        Name of the modality column.

    Returns
    -------
    MRMCData

    Raises
    ------
    AnalysisInputError
        Missing columns, bad values (see :func:`analysis.data.validate_ratings`); fewer
        modalities or readers than required; a reader missing in a modality (named); readers
        or modalities that did not rate the same cases (named); fewer than two positive or two
        negative cases.
    """
    frame = ratings
    if modality_column != "modality" and modality_column in frame.columns:
        frame = frame.rename(columns={modality_column: "modality"})
    has_modality = "modality" in {str(c).strip().lower() for c in frame.columns}
    frame = validate_ratings(frame, require_modality=min_modalities > 1)
    modalities = [str(m) for m in pd.unique(frame["modality"])] if has_modality else [""]
    if len(modalities) < min_modalities:
        raise AnalysisInputError(
            f"MRMC comparison needs at least {min_modalities} modalities; column 'modality' has "
            f"only {modalities}"
        )
    readers = [str(r) for r in pd.unique(frame["reader"])]
    if has_modality:
        for modality in modalities:
            present = set(frame.loc[frame["modality"] == modality, "reader"])
            missing = [reader for reader in readers if reader not in present]
            if missing:
                raise AnalysisInputError(
                    f"reader(s) {missing} have no ratings in modality {modality!r}; every reader "
                    "must read every case in every modality (fully crossed design)"
                )
    if len(readers) < min_readers:
        raise AnalysisInputError(
            f"MRMC analysis needs at least {min_readers} readers; found {len(readers)} "
            f"({readers}); for a single reader use the paired DeLong test"
        )
    blocks = []
    cases: list[str] | None = None
    truth: np.ndarray | None = None
    for modality in modalities:
        _, mod_cases, scores, mod_truth = matrix_of_valid_ratings(
            frame, modality=modality if has_modality else None, readers=readers
        )
        if cases is None:
            cases, truth = mod_cases, mod_truth
            blocks.append(scores)
            continue
        if set(mod_cases) != set(cases):
            only_here = sorted(set(mod_cases) - set(cases))[:5]
            only_first = sorted(set(cases) - set(mod_cases))[:5]
            raise AnalysisInputError(
                f"modality {modality!r} and modality {modalities[0]!r} do not have the same cases "
                f"(only in {modality!r}: {only_here}; only in {modalities[0]!r}: {only_first})"
            )
        order = pd.Index(mod_cases).get_indexer(cases)
        blocks.append(scores[:, order])
    assert cases is not None and truth is not None
    m = int((truth == 1).sum())
    n = int((truth == 0).sum())
    if m < 2 or n < 2:
        raise AnalysisInputError(
            f"MRMC analysis needs at least 2 positive and 2 negative cases; found {m} positive "
            f"and {n} negative"
        )
    n_clusters = None
    if "cluster" in frame.columns:
        n_clusters = int(frame.loc[frame["case"].isin(cases), "cluster"].nunique())
    return MRMCData(
        modalities=modalities,
        readers=readers,
        cases=list(cases),
        scores=np.stack(blocks, axis=0),
        truth=np.asarray(truth, dtype=int),
        n_clusters=n_clusters,
    )
