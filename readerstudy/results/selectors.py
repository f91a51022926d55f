"""Reads of the results: the tidy table of a study's reads and what the analysis needs with it.

One row per reader x node x arm (the analysis package's long table, 3-way form): who read
(the assignment code, never a name), in which arm, the call and confidence, the reference
standard, the model's probabilities, and the node's covariates. The patient pseudonym and the
cohort name are in it: only users who see a study in full (coordinators, statisticians, admins:
``studies.permissions.sees_every_study``) may be given it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd
from django.db import connection
from django.db.models import Count, QuerySet

from readerstudy.aimodels.models import Prediction
from readerstudy.cohorts.models import Node
from readerstudy.studies.models import Read, ReaderAssignment, ReaderStudy
from readerstudy.studies.selectors import read_list_for_analysis

#: Columns of the tidy reads table (CSV download and analysis input), in order.
READ_COLUMNS: tuple[str, ...] = (
    "case",
    "reader",
    "reader_simulated",
    "modality",
    "arm_position",
    "call",
    "confidence",
    "active_seconds",
    "reference",
    "p_benign",
    "p_meta",
    "p_ene",
    "patient",
    "cohort",
    "short_axis_mm",
    "level",
)

#: What each column means (the data dictionary that comes with the CSV).
DATA_DICTIONARY: tuple[tuple[str, str, str], ...] = (
    ("case", "integer", "node id (stable within this installation)"),
    ("reader", "text", "reader code of the study (R1, R2, ...) or the model's name"),
    ("reader_simulated", "true/false", "a simulated reader (manage.py simulate_reads)"),
    ("modality", "text", "reading arm, e.g. unaided / AI-aided"),
    ("arm_position", "integer", "1 = the arm read first"),
    ("call", "benign | metastasis | ene", "the reader's 3-way call (empty on model rows)"),
    ("confidence", "0-100", "the reader's confidence, empty if the study does not ask"),
    ("active_seconds", "seconds", "time on task with the case in view, summed over visits"),
    ("reference", "benign | metastasis | ene", "reference standard (pathology)"),
    ("p_benign", "0-1", "model probability of benign (model rows; empty otherwise)"),
    ("p_meta", "0-1", "model probability of metastasis without ENE (model rows)"),
    ("p_ene", "0-1", "model probability of metastasis with ENE (model rows)"),
    ("patient", "text", "patient pseudonym: nodes of one patient are not independent"),
    ("cohort", "text", "cohort name (internal / external test sets)"),
    ("short_axis_mm", "mm", "node short-axis diameter"),
    ("level", "text", "neck level (AAO-HNS)"),
)


def _reads_for_analysis(study: ReaderStudy) -> QuerySet[Read]:
    """Every read that counts for the analysis of ``study`` (practice reads left out): the
    reading studies' one selector, so the analysis, the CSV and the fingerprint agree."""
    return read_list_for_analysis(study=study)


def _study_node_ids(study: ReaderStudy) -> QuerySet:
    return study.cases.filter(is_practice=False).values("node_id")


def complete_model_versions(*, study: ReaderStudy) -> dict[str, int]:
    """``{label: model version id}`` of every model version that has predicted all the study's
    (non-practice) nodes, by one aggregate query: a version that has predicted only some (a run
    in progress) is left out until it has all."""
    wanted = study.cases.filter(is_practice=False).count()
    if not wanted:
        return {}
    rows = (
        Prediction.objects.filter(node_id__in=_study_node_ids(study))
        .values("model_version_id", "model_version__label")
        .annotate(predicted=Count("node_id", distinct=True))
        .filter(predicted=wanted)
    )
    return {row["model_version__label"]: row["model_version_id"] for row in rows}


def _model_scores(study: ReaderStudy) -> Mapping[tuple[str, int], tuple[float, float, float]]:
    """``{(model version label, node id): (p_benign, p_meta, p_ene)}`` for the study's nodes:
    every model version that has predicted all of them (e.g. deep, radiomics and fusion, as in
    seed 003's comparisons), so the model-vs-reader tables need no AI-aided arm."""
    versions = complete_model_versions(study=study)
    if not versions:
        return {}
    label_of = {version_id: label for label, version_id in versions.items()}
    rows = (
        Prediction.objects.filter(
            model_version_id__in=list(label_of), node_id__in=_study_node_ids(study)
        )
        .order_by("model_version_id", "node_id")
        .values_list("model_version_id", "node_id", "p_benign", "p_metastasis", "p_ene")
    )
    return {
        (label_of[version_id], node_id): (pb, pm, pe) for version_id, node_id, pb, pm, pe in rows
    }


def reader_codes(*, study: ReaderStudy) -> dict[int, tuple[str, bool]]:
    """user id -> (assignment code, simulated?) of the study's readers."""
    return {
        reader_id: (code, simulated)
        for reader_id, code, simulated in ReaderAssignment.objects.filter(study=study).values_list(
            "reader_id", "code", "reader__is_simulated"
        )
    }


_READ_FIELDS = (
    "node_id",
    "reader_id",
    "arm__name",
    "arm__position",
    "call",
    "confidence",
    "active_seconds",
    "node__reference__call",
    "node__series__patient__pseudonym",
    "node__series__patient__cohort__name",
    "node__short_axis_mm",
    "node__level",
)


def _raw_rows(queryset: QuerySet, *, chunk_size: int) -> Iterator[tuple[Any, ...]]:
    """The queryset's rows as plain tuples from a server-side cursor, without the ORM's
    per-row work (a 100,000-read export spends most of its time there otherwise)."""
    sql, params = queryset.query.sql_with_params()
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_size):
            yield from rows


def read_rows(*, study: ReaderStudy, chunk_size: int = 5000) -> Iterator[tuple[Any, ...]]:
    """The tidy table's rows (``READ_COLUMNS``) of every read, then one row per model x node.

    Streams from a server-side cursor (``iterator(chunk_size)``): memory stays flat however
    many reads there are. Model rows carry the first arm's name (a model reads once; the
    analysis reuses a model's single modality for every arm).
    """
    codes = reader_codes(study=study)
    reads = (
        _reads_for_analysis(study)
        .order_by("arm__position", "reader_id", "node_id")
        .values_list(*_READ_FIELDS)
    )
    for (
        node_id,
        reader_id,
        arm_name,
        arm_position,
        call,
        confidence,
        seconds,
        reference,
        pseudonym,
        cohort,
        short_axis,
        level,
    ) in _raw_rows(reads, chunk_size=chunk_size):
        code, simulated = codes.get(reader_id, (f"user{reader_id}", False))
        yield (
            node_id,
            code,
            simulated,
            arm_name,
            arm_position,
            call,
            confidence,
            seconds,
            reference,
            None,
            None,
            None,
            pseudonym,
            cohort,
            short_axis,
            level,
        )
    scores = _model_scores(study)
    if scores:
        first_arm = study.arms.order_by("position").first()
        arm_name = first_arm.name if first_arm else ""
        nodes = {
            row[0]: row[1:]
            for row in Node.objects.filter(study_cases__study=study).values_list(
                "pk",
                "reference__call",
                "series__patient__pseudonym",
                "series__patient__cohort__name",
                "short_axis_mm",
                "level",
            )
        }
        for (model, node_id), (p_benign, p_meta, p_ene) in sorted(scores.items()):
            if node_id not in nodes:
                continue
            reference, pseudonym, cohort, short_axis, level = nodes[node_id]
            yield (
                node_id,
                model,
                False,
                arm_name,
                1,
                None,
                None,
                None,
                reference,
                p_benign,
                p_meta,
                p_ene,
                pseudonym,
                cohort,
                short_axis,
                level,
            )


def reads_frame(*, study: ReaderStudy) -> pd.DataFrame:
    """The tidy table as a DataFrame (the analysis input; the CSV download is the same rows)."""
    return pd.DataFrame.from_records(list(read_rows(study=study)), columns=list(READ_COLUMNS))


def model_names(*, study: ReaderStudy) -> list[str]:
    return sorted(complete_model_versions(study=study))


def _python_digest(queryset: QuerySet, expression: str) -> tuple[str, int]:
    """The fallback of :func:`_sql_digest` off PostgreSQL (reads: id and updated_at; nodes: id
    and reference call)."""
    digest = hashlib.sha256()
    count = 0
    fields = ("pk", "updated_at") if "updated_at" in expression else ("pk", "reference__call")
    for pk, value in queryset.order_by("pk").values_list(*fields).iterator(chunk_size=10000):
        digest.update(f"{pk}:{value};".encode())
        count += 1
    return digest.hexdigest(), count


def _sql_digest(queryset: QuerySet, expression: str) -> tuple[str, int]:
    """sha256 (hex) of ``expression`` over the rows of ``queryset``, in id order, and the row
    count, computed by PostgreSQL in one query (no rows travel to Python)."""
    if connection.vendor != "postgresql":
        # e.g. SQLite: the same digest, computed here
        return _python_digest(queryset, expression)
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    table = queryset.model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT encode(sha256(convert_to(coalesce(string_agg({expression}, ';' "
            f"ORDER BY t.id), ''), 'UTF8')), 'hex'), count(*) FROM \"{table}\" t "
            f"WHERE t.id IN ({sql})",
            params,
        )
        digest, count = cursor.fetchone()
    return str(digest), int(count)


def results_fingerprint(*, study: ReaderStudy, options: Mapping[str, Any]) -> tuple[str, int]:
    """sha256 of what the analysis reads, and the number of reads.

    Every read's (id, updated_at) (a changed read changes ``updated_at``), the reference
    standard of the study's nodes, the model predictions and the analysis options. The reads'
    and references' digests are computed in the database (a page asks for this on every view).
    """
    reads_digest, count = _sql_digest(
        _reads_for_analysis(study), "t.id::text || ':' || t.updated_at::text"
    )
    nodes = Node.objects.filter(study_cases__study=study)
    reference_digest, _ = _sql_digest(
        nodes,
        "t.id::text || ':' || coalesce((SELECT r.call FROM cohorts_referencestandard r "
        "WHERE r.node_id = t.id), '')",
    )
    digest = hashlib.sha256()
    digest.update(repr(sorted(options.items())).encode())
    digest.update(f"|reads|{reads_digest}|reference|{reference_digest}|models|".encode())
    versions = complete_model_versions(study=study)
    for label, version_id in sorted(versions.items()):
        predictions_digest, _ = _sql_digest(
            Prediction.objects.filter(
                model_version_id=version_id, node_id__in=_study_node_ids(study)
            ),
            "t.id::text || ':' || t.updated_at::text",
        )
        digest.update(f"{label}:{version_id}:{predictions_digest};".encode())
    return digest.hexdigest(), count
