"""Loading and validation of the long ratings table, and the 3-way task helpers.

The engine's input is a tidy long table with one row per rating:

``case``
    identifier of the rated unit (a lymph node);
``reader``
    a reader or a model;
``score``
    numeric: an ordinal call or a continuous probability (higher = more likely positive);
``truth``
    reference standard, 0 or 1;
``modality`` (optional)
    e.g. ``unaided`` / ``aided``;
``cluster`` (optional)
    the unit cases are nested in (the patient a node belongs to);
``cohort`` (optional)
    a cohort label (internal / external test set).

3-way calls (benign / metastasis without ENE / metastasis with ENE) are turned into the three binary
tasks of the ENE study (seed 001) by :func:`task_ratings` (calls) and :func:`task_from_probabilities`
(model probabilities).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._types import ArrayLike
from .errors import AnalysisInputError

REQUIRED_COLUMNS: tuple[str, ...] = ("case", "reader", "score", "truth")

#: Name of the index :func:`load_ratings` gives a table: the data row number of each row, 1 for the
#: first row under the CSV header (so data row N is line N + 1 of the file). Filters and subsets keep
#: it, so every error message names the row of the user's own file, whatever was dropped before.
ROW_INDEX_NAME = "data_row"
OPTIONAL_COLUMNS: tuple[str, ...] = ("modality", "cluster", "cohort")

#: Task names: ENE vs rest; metastasis (with or without ENE) vs benign; ENE vs metastasis without
#: ENE among metastatic nodes only.
TASKS: tuple[str, ...] = ("ene", "metastasis", "ene_vs_meta")

TASK_LABELS: dict[str, str] = {
    "ene": "ENE vs rest (benign or metastasis without ENE)",
    "metastasis": "metastasis (with or without ENE) vs benign",
    "ene_vs_meta": "ENE vs metastasis without ENE (metastatic nodes only)",
}

#: A reader's own decision in each task, as a threshold on the score :func:`task_ratings` gives a
#: 3-way call (``score >= threshold`` is a positive call): ENE called (ordinal score 2); metastasis
#: called (binary score 1); ENE called among metastatic nodes (binary score 1).
CALL_DECISION_THRESHOLDS: dict[str, float] = {"ene": 2.0, "metastasis": 1.0, "ene_vs_meta": 1.0}

#: Codes of a 3-way call. Strings accepted (case-insensitive) and their code.
CALL_CODES: dict[str, int] = {
    "0": 0,
    "benign": 0,
    "1": 1,
    "metastasis": 1,
    "metastasis_without_ene": 1,
    "meta": 1,
    "2": 2,
    "ene": 2,
    "metastasis_with_ene": 2,
}

__all__ = [
    "CALL_CODES",
    "CALL_DECISION_THRESHOLDS",
    "REQUIRED_COLUMNS",
    "TASKS",
    "TASK_LABELS",
    "PROBABILITY_COLUMNS",
    "ROW_INDEX_NAME",
    "encode_calls",
    "map_distinct",
    "has_three_way_calls",
    "load_ratings",
    "ratings_matrix",
    "task_from_probabilities",
    "task_ratings",
    "validate_ratings",
]


def load_ratings(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Read a ratings table from a CSV file or take a copy of a DataFrame.

    Column names are stripped and lower-cased; nothing else is changed (call
    :func:`validate_ratings` to check and normalise the content).

    Parameters
    ----------
    source : str, Path or DataFrame
        Path of a comma-separated file with a header row, or a DataFrame.

    Returns
    -------
    DataFrame
        A new DataFrame (the caller's is never modified), indexed by data row number
        (:data:`ROW_INDEX_NAME`; 1 = the first row under the header). A DataFrame with its own
        unique index (not the default 0..n-1) keeps it, and messages then name that index label.

    Raises
    ------
    AnalysisInputError
        If the file does not exist, cannot be parsed or is empty (the message names the file).
    """
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
        numbered = frame.index.name == ROW_INDEX_NAME
        default_index = isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0
        if not numbered and (default_index or not frame.index.is_unique):
            # Messages point at rows through the index: it must identify one row.
            _number_rows(frame)
    else:
        path = Path(source)
        if not path.is_file():
            raise AnalysisInputError(f"{path}: no such file")
        try:
            # Identifiers stay strings ("007" must not become 7); score/truth are converted later.
            frame = pd.read_csv(path, dtype=str, keep_default_na=True, skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            raise AnalysisInputError(f"{path}: cannot read CSV: {first_line}") from None
        _number_rows(frame)
    frame.columns = [str(column).strip().lower() for column in frame.columns]
    if frame.empty:
        where = "input table" if isinstance(source, pd.DataFrame) else str(source)
        raise AnalysisInputError(f"{where}: no rows")
    return frame


def _number_rows(frame: pd.DataFrame) -> None:
    """Index ``frame`` by data row number (1 = first row under the header), in place."""
    frame.index = pd.RangeIndex(1, len(frame) + 1, name=ROW_INDEX_NAME)


def row_label(frame: pd.DataFrame, index: object) -> str:
    """Where a row is: ``data row N`` (1 = first row under the header) or the caller's index label."""
    if frame.index.name == ROW_INDEX_NAME:
        return f"data row {index}"
    return f"row with index {_show(index)}"


def describe_row(frame: pd.DataFrame, index: object) -> str:
    """``data row N (reader 'R1', case 'n3')``: the row and the identifiers it carries."""
    parts = [
        f"{column} {_show(frame.at[index, column])}"
        for column in ("reader", "case", "modality")
        if column in frame.columns and not pd.isna(frame.at[index, column])
    ]
    where = row_label(frame, index)
    return f"{where} ({', '.join(parts)})" if parts else where


def _show(value: object) -> str:
    """repr of a cell value without numpy type noise (np.int64(2) -> 2)."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _to_numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    """Convert a column to float; raise naming the first value that is not a number."""
    converted = pd.to_numeric(frame[column], errors="coerce")
    bad = converted.isna() & frame[column].notna()
    if bad.any():
        index = bad[bad].index[0]
        raise AnalysisInputError(
            f"column {column!r}: {_show(frame.at[index, column])} at {describe_row(frame, index)} "
            f"is not a number ({int(bad.sum())} such rows)"
        )
    return converted.astype(float)


# Column kinds in which values that compare equal are the same value, so a function of a value
# can be computed once per distinct value. (Mixed columns are left out: True == 1 == 1.0.)
_SAFE_TO_FACTORIZE = frozenset({"string", "integer", "floating", "boolean", "empty"})


def map_distinct(series: pd.Series, func: Callable[[Any], Any]) -> pd.Series:
    """``series.map(func)``, calling ``func`` once per distinct value instead of once per row.

    Case, reader and call labels repeat across readers, arms and tasks, so a study report maps
    the same few thousand values over millions of rows. Same result as ``Series.map``: a column
    with missing values or of a mixed kind is mapped row by row; an exception ``func`` raises
    for a value is raised as ``Series.map`` would raise it.
    """
    if len(series) == 0 or series.isna().any():
        return series.map(func)
    if pd.api.types.infer_dtype(series, skipna=False) not in _SAFE_TO_FACTORIZE:
        return series.map(func)
    if series.dtype.kind == "f" and np.signbit(series.to_numpy()[series.to_numpy() == 0]).any():
        return series.map(func)  # -0.0 == 0.0
    codes, uniques = pd.factorize(series, sort=False)
    distinct = np.asarray(uniques, dtype=object)
    mapped = np.empty(len(distinct), dtype=object)
    for position, value in enumerate(distinct):
        mapped[position] = func(value)
    return pd.Series(mapped[codes], index=series.index, name=series.name).infer_objects()


def _clean_labels(series: pd.Series) -> pd.Series:
    """Identifiers as stripped strings (so 1, "1" and " 1" name the same case)."""

    def clean(value: object) -> object:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return np.nan
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value).strip()

    return map_distinct(series, clean).astype(object)


# Frames that validate_ratings has returned (or parts of them), which a study report hands to many
# public functions in turn; each would otherwise validate the same rows again (most of a
# report's time). Keyed by id() with the frame itself held, so an id is never reused meanwhile.
class _RowCaches:
    """What is built from a trusted frame's rows, once asked for; shared by its shallow copies
    (same rows)."""

    def __init__(self) -> None:
        self._reader_positions: dict[Any, np.ndarray] | None = None
        self.reader_rows_by_case: dict[tuple[Any, Any], pd.DataFrame] = {}
        self.indexed_by_case: dict[Any, pd.DataFrame] = {}
        self.case_codes: np.ndarray | None = None
        self.matrices: dict[
            tuple[Any, ...], tuple[list[str], list[str], np.ndarray, np.ndarray]
        ] = {}

    def reader_positions(self, frame: pd.DataFrame) -> dict[Any, np.ndarray]:
        """Row positions of each reader of ``frame`` (the frame these caches belong to)."""
        if self._reader_positions is None:
            self._reader_positions = frame.groupby("reader", sort=False).indices
        return self._reader_positions


class _Trusted:
    """A trusted frame and the caches built from its rows."""

    def __init__(self, frame: pd.DataFrame, caches: _RowCaches | None = None) -> None:
        self.frame = frame
        self.caches = caches if caches is not None else _RowCaches()


_TRUSTED_FRAMES: ContextVar[dict[int, _Trusted] | None] = ContextVar(
    "analysis_trusted_frames", default=None
)


@contextmanager
def trusting_validated_frames() -> Iterator[None]:
    """Within the block, :func:`validate_ratings` accepts a frame passed to
    :func:`trust_validated_frame` without checking it again (it returns a shallow copy, which
    copy-on-write keeps independent, and trusts that too). Internal to the package: for callers
    that validated a table once and run many analyses on it and its parts, and do not modify
    those frames in place."""
    token = _TRUSTED_FRAMES.set({})
    try:
        yield
    finally:
        _TRUSTED_FRAMES.reset(token)


def trust_validated_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Mark ``frame`` (a result of :func:`validate_ratings`, or rows of one) as valid for the rest
    of the enclosing :func:`trusting_validated_frames` block; outside one, does nothing."""
    trusted = _TRUSTED_FRAMES.get()
    if trusted is not None:
        trusted[id(frame)] = _Trusted(frame)
    return frame


def _trusted_entry(df: object) -> _Trusted | None:
    trusted = _TRUSTED_FRAMES.get()
    if not trusted:
        return None
    entry = trusted.get(id(df))
    return entry if entry is not None and entry.frame is df else None


def _already_validated(df: object, *, require_modality: bool, require_cluster: bool) -> bool:
    if _trusted_entry(df) is None:
        return False
    assert isinstance(df, pd.DataFrame)
    # validate_ratings checks a modality or cluster column whenever there is one.
    return (not require_modality or "modality" in df.columns) and (
        not require_cluster or "cluster" in df.columns
    )


def _trusted_copy(df: pd.DataFrame) -> pd.DataFrame:
    """A shallow copy of a trusted frame, trusted too (same rows: it shares the caches built
    from them)."""
    entry = _trusted_entry(df)
    trusted = _TRUSTED_FRAMES.get()
    assert entry is not None and trusted is not None
    copy = df.copy(deep=False)
    trusted[id(copy)] = _Trusted(copy, entry.caches)
    return copy


def rows_of_reader(frame: pd.DataFrame, reader: object) -> pd.DataFrame:
    """``frame[frame["reader"] == reader]``; for a trusted frame (see
    :func:`trusting_validated_frames`) from row positions found once per frame, since a report
    takes each reader's rows of the same table many times."""
    entry = _trusted_entry(frame)
    if entry is None:
        return frame[frame["reader"] == reader]
    positions = entry.caches.reader_positions(frame).get(reader)
    if positions is None:
        return frame.iloc[0:0]
    return frame.iloc[positions]


def reader_rows_by_case(
    frame: pd.DataFrame, reader: object, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """``rows_of_reader(frame, reader).set_index("case")`` (only ``columns``, if given); for a
    trusted frame taken from the whole table indexed by case once per ``columns`` and handed out
    as shallow copies (copy-on-write keeps each caller's copy independent), since a report pairs
    each reader's rows with every other reader's."""
    entry = _trusted_entry(frame)
    if entry is None:
        rows = rows_of_reader(frame, reader).set_index("case")
        return rows if columns is None else rows[list(columns)]
    caches = entry.caches
    key = (reader, None if columns is None else tuple(columns))
    rows = caches.reader_rows_by_case.get(key)
    if rows is None:
        indexed = caches.indexed_by_case.get(key[1])
        if indexed is None:
            indexed = frame.set_index("case")
            if columns is not None:
                indexed = indexed[list(columns)]
            caches.indexed_by_case[key[1]] = indexed
        positions = caches.reader_positions(frame).get(reader)
        rows = indexed.iloc[0:0] if positions is None else indexed.iloc[positions]
        caches.reader_rows_by_case[key] = rows
    return rows.copy(deep=False)


def validate_ratings(
    df: pd.DataFrame,
    *,
    require_modality: bool = False,
    require_cluster: bool = False,
    score_column: str = "score",
) -> pd.DataFrame:
    """Check a long ratings table and return a normalised copy.

    Checks (each failure raises :class:`AnalysisInputError` naming the column, row, reader or case):

    * the columns ``case``, ``reader``, ``score`` (or ``score_column``), ``truth`` exist
      (and ``modality`` / ``cluster`` when required);
    * ``case``, ``reader`` (and ``modality`` / ``cluster`` when present) have no missing values;
    * ``score`` is numeric and finite, no missing values;
    * ``truth`` is 0 or 1 with no missing values (``True``/``False`` and ``"0"``/``"1"`` accepted);
    * each case has a single truth value, and a single cluster when ``cluster`` is present;
    * each (case, reader, modality) combination appears once.

    Parameters
    ----------
    df : DataFrame
        The long table (see the module docstring).
    require_modality, require_cluster : bool
        Require the optional ``modality`` / ``cluster`` columns.
    score_column : str
        Name of the score column (``call`` for kappa input); renamed to ``score`` in the output.

    Returns
    -------
    DataFrame
        Copy with lower-case column names; ``case``, ``reader``, ``modality``, ``cluster``,
        ``cohort`` as strings; ``score`` float; ``truth`` int (0/1). A missing ``modality`` column is
        *not* added.
    """
    if score_column == "score" and _already_validated(
        df, require_modality=require_modality, require_cluster=require_cluster
    ):
        return _trusted_copy(df)
    frame = load_ratings(df)
    if score_column != "score" and score_column in frame.columns:
        frame = frame.rename(columns={score_column: "score"})
    required = ["case", "reader", "score", "truth"]
    if require_modality:
        required.append("modality")
    if require_cluster:
        required.append("cluster")
    missing = [column for column in required if column not in frame.columns]
    if missing:
        shown = [score_column if column == "score" else column for column in missing]
        raise AnalysisInputError(
            f"missing column(s) {', '.join(repr(c) for c in shown)}; "
            f"found {', '.join(repr(c) for c in frame.columns)}"
        )

    for column in ("case", "reader", "modality", "cluster", "cohort"):
        if column not in frame.columns:
            continue
        frame[column] = _clean_labels(frame[column])
        empty = frame[column].isna() | (frame[column] == "")
        if empty.any():
            index = empty[empty].index[0]
            raise AnalysisInputError(
                f"column {column!r}: missing value at {describe_row(frame, index)} "
                f"({int(empty.sum())} such rows)"
            )

    shown_score = score_column
    scores = _to_numeric(frame.rename(columns={"score": shown_score}), shown_score)
    scores.index = frame.index
    bad_score = ~np.isfinite(scores.to_numpy())
    if bad_score.any():
        index = frame.index[np.flatnonzero(bad_score)[0]]
        raise AnalysisInputError(
            f"column {shown_score!r}: missing or non-finite value at "
            f"{describe_row(frame, index)} ({int(bad_score.sum())} such rows)"
        )
    frame["score"] = scores

    truth_text = map_distinct(
        frame["truth"], lambda v: v if not isinstance(v, str) else v.strip().lower()
    )
    truth_text = truth_text.replace({"true": 1, "false": 0})
    truth = pd.to_numeric(truth_text, errors="coerce")
    if truth.isna().any():
        index = truth[truth.isna()].index[0]
        value = frame.at[index, "truth"]
        what = "missing value" if pd.isna(value) else f"{_show(value)} is not 0/1"
        raise AnalysisInputError(
            f"column 'truth': {what} at {describe_row(frame, index)} "
            f"({int(truth.isna().sum())} such rows)"
        )
    non_binary = ~truth.isin([0, 1])
    if non_binary.any():
        index = non_binary[non_binary].index[0]
        values = sorted(
            {float(v) if not float(v).is_integer() else int(v) for v in truth[non_binary]}
        )
        raise AnalysisInputError(
            f"column 'truth' must be 0 or 1: {_show(frame.at[index, 'truth'])} at "
            f"{describe_row(frame, index)} (non-binary values {values[:5]})"
        )
    frame["truth"] = truth.astype(int)

    truth_per_case = frame.groupby("case", sort=False)["truth"].nunique()
    conflicting = truth_per_case[truth_per_case > 1]
    if len(conflicting):
        cases = list(conflicting.index[:5])
        raise AnalysisInputError(
            f"column 'truth': case(s) {cases} have more than one truth value "
            f"({len(conflicting)} such cases)"
        )
    if "cluster" in frame.columns:
        cluster_per_case = frame.groupby("case", sort=False)["cluster"].nunique()
        conflicting = cluster_per_case[cluster_per_case > 1]
        if len(conflicting):
            cases = list(conflicting.index[:5])
            raise AnalysisInputError(
                f"column 'cluster': case(s) {cases} belong to more than one cluster "
                f"({len(conflicting)} such cases)"
            )

    key = ["case", "reader"] + (["modality"] if "modality" in frame.columns else [])
    duplicated = frame.duplicated(subset=key, keep="first")
    if duplicated.any():
        index = duplicated[duplicated].index[0]
        combo = ", ".join(f"{column} {_show(frame.at[index, column])}" for column in key)
        raise AnalysisInputError(
            f"duplicate rating at {row_label(frame, index)}: {combo} appears more than once "
            f"({int(duplicated.sum())} duplicate rows)"
        )
    return frame


def ratings_matrix(
    df: pd.DataFrame,
    *,
    modality: str | None = None,
    readers: Sequence[str] | None = None,
) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """Arrange ratings as a complete readers x cases matrix.

    Parameters
    ----------
    df : DataFrame
        Long ratings table (validated here if needed).
    modality : str, optional
        Keep only rows of this modality. If the table has a ``modality`` column with more than one
        value, a modality must be given.
    readers : sequence of str, optional
        Readers to include, in this order (default: all, in order of first appearance).

    Returns
    -------
    readers : list of str
        Reader names, row order of ``scores``.
    cases : list of str
        Case identifiers, column order of ``scores`` (order of first appearance).
    scores : ndarray, shape (k, n)
        ``scores[i, j]`` is reader ``i``'s score of case ``j``.
    truth : ndarray of int, shape (n,)
        0/1 truth of each case.

    Raises
    ------
    AnalysisInputError
        If the modality or a reader is unknown, or some reader did not rate every case (the message
        names the readers and up to five missing cases each).
    """
    return matrix_of_valid_ratings(validate_ratings(df), modality=modality, readers=readers)


def matrix_of_valid_ratings(
    frame: pd.DataFrame,
    *,
    modality: str | None = None,
    readers: Sequence[str] | None = None,
) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """:func:`ratings_matrix` of a table :func:`validate_ratings` has already returned.

    For callers that validated the whole table once and take several matrices from it (one per
    modality); it does not validate again. For a trusted frame (see
    :func:`trusting_validated_frames`) each matrix is built once and handed out as copies.
    """
    entry = _trusted_entry(frame)
    if entry is None:
        return _matrix_of_valid_ratings(frame, modality=modality, readers=readers)
    key = (modality, None if readers is None else tuple(str(reader) for reader in readers))
    matrices = entry.caches.matrices
    if key not in matrices:
        matrices[key] = _readers_of_complete_matrix(
            frame, entry.caches, key[1]
        ) or _matrix_of_valid_ratings(frame, modality=modality, readers=readers)
    names, cases, scores, truth = matrices[key]
    return list(names), list(cases), scores.copy(), truth.copy()


def _readers_of_complete_matrix(
    frame: pd.DataFrame, caches: _RowCaches, readers: tuple[str, ...] | None
) -> tuple[list[str], list[str], np.ndarray, np.ndarray] | None:
    """The matrix of ``readers`` taken from the trusted frame's all-readers matrix when that one
    is complete (every reader rated every case) and the frame has no modality column: its rows
    for those readers, its columns in the order in which the readers' own rows first name each
    case, which is what :func:`_matrix_of_valid_ratings` of those readers gives. None when it
    does not apply (the caller then builds the matrix, with its messages)."""
    if readers is None or "modality" in frame.columns:
        return None
    full_key: tuple[Any, Any] = (None, None)
    if full_key not in caches.matrices:
        try:
            caches.matrices[full_key] = _matrix_of_valid_ratings(frame)
        except AnalysisInputError:
            return None
    names, cases, scores, truth = caches.matrices[full_key]
    if np.isnan(scores).any() or not set(readers) <= set(names) or len(set(readers)) < len(readers):
        return None
    reader_positions = caches.reader_positions(frame)
    if any(reader not in reader_positions for reader in readers):
        return None
    if caches.case_codes is None:
        caches.case_codes = pd.Index(cases).get_indexer(frame["case"].astype(str))
    positions = np.concatenate([reader_positions[reader] for reader in readers])
    first = np.full(len(cases), len(frame), dtype=np.int64)
    np.minimum.at(first, caches.case_codes[positions], positions)
    order = np.argsort(first, kind="stable")
    rows = [names.index(reader) for reader in readers]
    return list(readers), [cases[i] for i in order], scores[rows][:, order], truth[order]


def _matrix_of_valid_ratings(
    frame: pd.DataFrame,
    *,
    modality: str | None = None,
    readers: Sequence[str] | None = None,
) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    if "modality" in frame.columns:
        modalities = list(pd.unique(frame["modality"]))
        if modality is None:
            if len(modalities) > 1:
                raise AnalysisInputError(
                    f"column 'modality' has several values {modalities}: choose one"
                )
        else:
            if str(modality) not in modalities:
                raise AnalysisInputError(
                    f"modality {modality!r} not found; available: {modalities}"
                )
            frame = frame[frame["modality"] == str(modality)]
    elif modality is not None:
        raise AnalysisInputError(
            f"modality {modality!r} requested but there is no 'modality' column"
        )

    all_readers = list(pd.unique(frame["reader"]))
    if readers is None:
        chosen = all_readers
    else:
        chosen = [str(reader) for reader in readers]
        unknown = [reader for reader in chosen if reader not in all_readers]
        if unknown:
            raise AnalysisInputError(f"reader(s) {unknown} not found; available: {all_readers}")
        frame = frame[frame["reader"].isin(chosen)]
    cases = list(pd.unique(frame["case"]))
    # Placed by integer codes (pandas' pivot costs several times more, and a report takes
    # about a hundred matrices).
    reader_codes = pd.Index(chosen).get_indexer(frame["reader"])
    case_codes = pd.Index(cases).get_indexer(frame["case"])
    cells = reader_codes * len(cases) + case_codes
    if len(np.unique(cells)) != len(cells):
        # a (reader, case) pair twice: pivot raises its own error naming it
        frame.pivot(index="reader", columns="case", values="score")
    scores = np.full((len(chosen), len(cases)), np.nan)
    scores[reader_codes, case_codes] = frame["score"].to_numpy(dtype=float)
    missing = np.isnan(scores)
    if missing.any():
        problems = []
        for reader, row in zip(chosen, missing, strict=True):
            absent = [cases[index] for index in np.flatnonzero(row)]
            if absent:
                more = f" and {len(absent) - 5} more" if len(absent) > 5 else ""
                problems.append(f"reader {reader!r} has no score for case(s) {absent[:5]}{more}")
        raise AnalysisInputError("readers did not rate the same cases: " + "; ".join(problems))
    truth = np.empty(len(cases), dtype=int)
    # each case's first row (a validated table has one truth per case)
    truth[case_codes[::-1]] = frame["truth"].to_numpy(dtype=int)[::-1]
    return (
        [str(reader) for reader in chosen],
        [str(case) for case in cases],
        scores,
        truth,
    )


def _call_key(value: object) -> str:
    """The spelling of a call looked up in ``CALL_CODES`` (2, 2.0, "2.0", " ENE" ...)."""
    if (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and float(value).is_integer()
    ):
        key = str(int(value))
    else:
        key = str(value).strip().lower()
    if key.endswith(".0") and key[:-2].isdigit():
        key = key[:-2]  # "1.0": a CSV column with empty cells is read back as floats
    return key


def encode_calls(
    values: Iterable[object], *, column: str = "call", table: pd.DataFrame | None = None
) -> np.ndarray:
    """Code 3-way calls as 0 (benign), 1 (metastasis without ENE), 2 (metastasis with ENE).

    Accepts integers 0/1/2 (also as floats or strings) and the strings ``benign``,
    ``metastasis`` (or ``metastasis_without_ene``), ``ene`` (or ``metastasis_with_ene``),
    case-insensitive; the synonyms are :data:`CALL_CODES`.

    Parameters
    ----------
    values : iterable
        The calls. A pandas Series keeps its index, which names the row of a bad value.
    column : str
        Column name shown in messages.
    table : DataFrame, optional
        The table ``values`` (a Series) was taken from: a message then names the data row of the
        user's file and the row's reader and case.

    Returns
    -------
    ndarray of int
        One code per value.

    Raises
    ------
    AnalysisInputError
        Naming the first value that is not a 3-way call and where it is: the data row (and reader
        and case) for a Series from a loaded table, else its 1-based position in ``values``.
    """
    series = values if isinstance(values, pd.Series) else None
    if series is not None and len(series) > 64:
        # Once per distinct value; a bad value is reported by the row-by-row pass below.
        try:
            return map_distinct(series, lambda value: CALL_CODES[_call_key(value)]).to_numpy(
                dtype=int
            )
        except KeyError:
            pass
    codes = []
    for position, value in enumerate(values):
        key = _call_key(value)
        if key not in CALL_CODES:
            if series is not None and table is not None:
                where = describe_row(table, series.index[position])
            elif series is not None and series.index.name == ROW_INDEX_NAME:
                where = f"data row {series.index[position]}"
            else:
                where = f"position {position + 1}"
            raise AnalysisInputError(
                f"column {column!r}: {_show(value)} at {where} is not a 3-way call "
                "(0/1/2 or benign/metastasis/ene)"
            )
        codes.append(CALL_CODES[key])
    return np.asarray(codes, dtype=int)


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise AnalysisInputError(f"unknown task {task!r}; choose one of {list(TASKS)}")


PROBABILITY_COLUMNS: tuple[str, str, str] = ("p_benign", "p_meta", "p_ene")


def has_three_way_calls(df: pd.DataFrame, *, reference_column: str = "reference") -> bool:
    """True if the table is 3-way input (a reference column and calls or class probabilities)."""
    columns = {str(column).strip().lower() for column in df.columns}
    return reference_column in columns and (
        "call" in columns or all(column in columns for column in PROBABILITY_COLUMNS)
    )


def task_ratings(
    df: pd.DataFrame,
    *,
    task: str,
    call_column: str = "call",
    reference_column: str = "reference",
) -> pd.DataFrame:
    """Turn 3-way calls and 3-class probabilities into the long table of one binary task.

    Input columns: ``case``, ``reader``, ``reference_column`` (the 3-way reference standard) and,
    per row, either ``call_column`` (a reader's 3-way call) or the model probabilities
    ``p_benign``, ``p_meta``, ``p_ene`` (a row whose call is empty and whose probabilities are
    given is a model's rating). Other columns (``modality``, ``cluster``, ``cohort``) are kept.

    Scores and truth per task (seed 001, Tables 4-6):

    ``ene``
        truth = reference is ENE; score = the ordinal call 0/1/2, or p_ene (all cases).
    ``metastasis``
        truth = reference is metastasis with or without ENE; score = call >= 1 (a binary call), or
        p_meta + p_ene (all cases).
    ``ene_vs_meta``
        only cases whose *reference* is metastatic; truth = reference is ENE; score = call is ENE
        (binary), or p_ene / (p_meta + p_ene).

    Returns
    -------
    DataFrame
        Long table with ``score`` and ``truth`` columns, ready for :func:`validate_ratings`; its
        index is still the data row of the input, so later messages name the user's rows.

    Raises
    ------
    AnalysisInputError
        Missing columns, or a bad reference, call or probability: the message names the data row
        (1 = first row under the header), its reader and its case.
    """
    _check_task(task)
    frame = load_ratings(df)
    for column in ("case", "reader", reference_column):
        if column not in frame.columns:
            raise AnalysisInputError(
                f"missing column {column!r} for 3-way input; found {list(frame.columns)}"
            )
    has_calls = call_column in frame.columns
    has_probabilities = all(column in frame.columns for column in PROBABILITY_COLUMNS)
    if not has_calls and not has_probabilities:
        raise AnalysisInputError(
            f"3-way input needs a {call_column!r} column or the columns "
            f"{', '.join(PROBABILITY_COLUMNS)}; found {list(frame.columns)}"
        )
    reference = encode_calls(frame[reference_column], column=reference_column, table=frame)
    if has_calls:
        call_given = frame[call_column].notna() & (frame[call_column].astype(str).str.strip() != "")
    else:
        call_given = pd.Series(False, index=frame.index)
    model_rows = ~call_given
    if model_rows.any() and not has_probabilities:
        index = model_rows[model_rows].index[0]
        raise AnalysisInputError(
            f"column {call_column!r}: missing value at {describe_row(frame, index)}"
        )
    scores = np.full(len(frame), np.nan)
    positions = np.arange(len(frame))
    call_positions = positions[call_given.to_numpy()]
    model_positions = positions[model_rows.to_numpy()]
    if len(call_positions):
        calls = encode_calls(
            frame[call_column].iloc[call_positions], column=call_column, table=frame
        )
        if task == "ene":
            scores[call_positions] = calls
        elif task == "metastasis":
            scores[call_positions] = calls >= 1
        else:
            scores[call_positions] = calls == 2
    if len(model_positions):
        probabilities = []
        for column in PROBABILITY_COLUMNS:
            values = pd.to_numeric(frame[column].iloc[model_positions], errors="coerce")
            if values.isna().any():
                index = values.index[int(np.flatnonzero(values.isna().to_numpy())[0])]
                raise AnalysisInputError(
                    f"column {column!r}: {_show(frame.at[index, column])} at "
                    f"{describe_row(frame, index)} is not a probability (and there is no call)"
                )
            probabilities.append(values.to_numpy(dtype=float))
        scores[model_positions] = task_from_probabilities(*probabilities, task=task)
    drop = [reference_column] + [c for c in (call_column, *PROBABILITY_COLUMNS) if c in frame]
    out = frame.drop(columns=drop).copy()
    out["score"] = scores
    out["truth"] = (
        (reference == 2).astype(int) if task != "metastasis" else (reference >= 1).astype(int)
    )
    if task == "ene_vs_meta":
        out = out.loc[reference >= 1]
    return out  # keeps the data row index: later messages name the user's rows


def task_from_probabilities(
    p_benign: ArrayLike,
    p_meta: ArrayLike,
    p_ene: ArrayLike,
    *,
    task: str,
) -> np.ndarray:
    """Score of one binary task from 3-class model probabilities.

    ``ene`` -> p_ene; ``metastasis`` -> p_meta + p_ene (= 1 - p_benign when they sum to one);
    ``ene_vs_meta`` -> p_ene / (p_meta + p_ene), the probability of ENE given metastasis (0.5 where
    both are 0, where the model has no preference). ``p_benign`` is checked for shape only, so
    un-normalised outputs still give the documented scores.
    """
    _check_task(task)
    benign = np.asarray(p_benign, dtype=float)
    meta = np.asarray(p_meta, dtype=float)
    ene = np.asarray(p_ene, dtype=float)
    if not (benign.shape == meta.shape == ene.shape):
        raise AnalysisInputError(
            f"probability arrays differ in shape: {benign.shape}, {meta.shape}, {ene.shape}"
        )
    for name, values in (("p_benign", benign), ("p_meta", meta), ("p_ene", ene)):
        bad = ~np.isfinite(values) | (values < 0) | (values > 1)
        if bad.any():
            position = int(np.flatnonzero(bad)[0])
            raise AnalysisInputError(
                f"{name}: {float(values.flat[position])!r} at position {position} is not a probability"
            )
    if task == "ene":
        return ene.copy()
    if task == "metastasis":
        return meta + ene
    total = meta + ene
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, ene / np.where(total > 0, total, 1.0), 0.5)
