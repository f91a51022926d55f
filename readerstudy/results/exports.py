"""Download formats: the reads CSV's cells and data dictionary, iMRMC and MRMCaov inputs."""

from __future__ import annotations

import csv
import io
from typing import Any

import pandas as pd

from analysis.data import task_ratings
from readerstudy.results import selectors
from readerstudy.studies.models import ReaderStudy


def csv_cells(row: tuple[Any, ...]) -> list[Any]:
    """CSV cells of one row: bools as true/false. ``csv.writer`` itself writes None as an empty
    cell and a float by ``repr`` (the shortest string that reads back to the same double), so the
    export round-trips exactly; only bools need words."""
    return [("true" if value else "false") if value.__class__ is bool else value for value in row]


def data_dictionary_markdown(*, study: ReaderStudy) -> str:
    lines = [
        f"# Reads of study {study.pk}: data dictionary",
        "",
        "One row per reader x node x arm (and, once model predictions exist, one row per model x "
        "node with `call` empty). Input of `python -m analysis report --input reads.csv --calls "
        "--cluster-column patient` (patient-clustered) or without `--cluster-column` "
        "(node-level).",
        "",
        "| column | values | meaning |",
        "|---|---|---|",
    ]
    lines += [
        f"| `{name}` | {kind} | {meaning} |" for name, kind, meaning in selectors.DATA_DICTIONARY
    ]
    return "\n".join(lines) + "\n"


def task_table(*, study: ReaderStudy, task: str) -> pd.DataFrame:
    """Readers' rows of one binary task: case, reader, modality, score, truth (models left out)."""
    frame = selectors.reads_frame(study=study)
    frame = frame[frame["call"].notna()]
    if frame.empty:
        return pd.DataFrame(columns=["case", "reader", "modality", "score", "truth"])
    binary = task_ratings(frame, task=task)
    return binary[["case", "reader", "modality", "score", "truth"]].reset_index(drop=True)


def imrmc_text(*, study: ReaderStudy, task: str) -> str:
    """The iMRMC input format: N0/N1/NR/NM header, ``BEGIN DATA:``, one truth row per case
    (reader -1, modality 0, truth 0/1), then ``reader,case,modality,score`` rows. Case ids
    are integers (node ids), as RJafroc's iMRMC reader requires."""
    table = task_table(study=study, task=task)
    truth = table.drop_duplicates("case")[["case", "truth"]]
    out = io.StringIO()
    out.write(f"Study {study.pk}, task {task}: reads exported for iMRMC\n")
    out.write(f"NR: {table['reader'].nunique()}\n")
    out.write(f"N0: {int((truth['truth'] == 0).sum())}\n")
    out.write(f"N1: {int((truth['truth'] == 1).sum())}\n")
    out.write(f"NM: {table['modality'].nunique()}\n")
    out.write("\nBEGIN DATA:\n")
    for case, value in truth.itertuples(index=False):
        out.write(f"-1,{case},0,{int(value)}\n")
    for case, reader, modality, score, _ in table.itertuples(index=False):
        out.write(f"{reader},{case},{modality},{score:g}\n")
    return out.getvalue()


def mrmcaov_csv(*, study: ReaderStudy, task: str) -> str:
    """Long CSV in the layout of MRMCaov's example data (reader, treatment, case, truth,
    rating): ``mrmc(empirical_auc(truth, rating), treatment, reader, case, data = df)``."""
    table = task_table(study=study, task=task).rename(
        columns={"modality": "treatment", "score": "rating"}
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["reader", "treatment", "case", "truth", "rating"])
    for case, reader, treatment, rating, truth in table.itertuples(index=False):
        writer.writerow([reader, treatment, case, int(truth), f"{rating:g}"])
    return out.getvalue()
