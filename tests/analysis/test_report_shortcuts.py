"""The study report's shortcuts give what the slow, obvious route gives.

A report validates the whole table once and then hands parts of it to many public functions
(``analysis.data.trusting_validated_frames``), takes each reader's rows from an index built once
(``rows_of_reader``), builds each readers x cases matrix once, derives the readers' binary
Fleiss kappa from that matrix and carries thresholds from the validated task tables. Each test
here computes the same numbers the long way (every function validating its own input, as a
caller outside a report does) and asserts equality, not closeness: the shortcuts reorder no
arithmetic.
"""

from __future__ import annotations

import contextlib
import json

import pandas as pd
import pytest

import analysis.report
from analysis import (
    CALL_DECISION_THRESHOLDS,
    fleiss_kappa_from_ratings,
    study_report,
    task_ratings,
    transfer_threshold,
    validate_ratings,
)
from analysis._params import normal_quantile
from analysis.data import (
    matrix_of_valid_ratings,
    ratings_matrix,
    reader_rows_by_case,
    rows_of_reader,
    trust_validated_frame,
    trusting_validated_frames,
)
from analysis.errors import AnalysisInputError
from analysis.report import study_report_merge, study_reports
from tests.analysis.test_report import _study

MODEL = "DeepENE"
HUMANS = ["R1", "R2", "R3"]


@pytest.mark.parametrize(("cluster", "curves"), [(False, True), (True, False)])
def test_report_equals_the_report_without_trusted_frames(monkeypatch, cluster, curves):
    study = _study(seed=2, cohorts=("int", "ext1", "ext2"))
    fast = study_report(study, cluster=cluster, curves=curves, derivation_cohort="int")
    # Without the trust block every function validates its input again and builds its own
    # reader subsets and matrices.
    monkeypatch.setattr(analysis.report, "trusting_validated_frames", contextlib.nullcontext)
    slow = study_report(study, cluster=cluster, curves=curves, derivation_cohort="int")
    assert fast == slow
    assert fast["warnings"] == []


@pytest.mark.parametrize("task", ["ene", "metastasis", "ene_vs_meta"])
def test_readers_binary_kappa_equals_fleiss_of_their_calls(task):
    study = _study(seed=3)
    report = study_report(study)
    for cohort in report["cohorts"]:
        rows = (
            study
            if cohort["cohort"] == "all cohorts"
            else study[study["cohort"] == cohort["cohort"]]
        )
        binary = task_ratings(rows, task=task)
        calls = binary[binary["reader"].isin(HUMANS)].assign(
            call=lambda frame: (frame["score"] >= CALL_DECISION_THRESHOLDS[task]).astype(int)
        )
        expected = fleiss_kappa_from_ratings(calls, categories=[0, 1]).to_dict()
        (section,) = [entry for entry in cohort["tasks"] if entry["task"] == task]
        assert section["modalities"][0]["fleiss_kappa"] == expected


def test_carried_thresholds_equal_transfer_threshold_on_each_cohort():
    study = _study(seed=4, cohorts=("int", "ext1", "ext2"))
    report = study_report(study, derivation_cohort="int")
    for transfer in report["threshold_transfer"]:
        binary = validate_ratings(task_ratings(study, task=transfer["task"]))
        model = binary[binary["reader"] == MODEL]
        cohort_of_row = study["cohort"].reindex(range(len(study)))
        cohort_of_row.index = cohort_of_row.index + 1  # data rows are numbered from 1

        def scores(cohort: str, model: pd.DataFrame = model, where: pd.Series = cohort_of_row):
            rows = model[where.loc[model.index] == cohort]
            return rows["score"], rows["truth"]

        source_scores, source_truth = scores("int")
        expected = []
        for cohort in ("ext1", "ext2"):
            target_scores, target_truth = scores(cohort)
            for target_fpr in [None, 0.05, 0.10, 0.15, 0.20, 0.30]:
                result = transfer_threshold(
                    source_scores,
                    source_truth,
                    target_scores,
                    target_truth,
                    target_fpr=target_fpr,
                )
                expected.append({"validation_cohort": cohort, **result.to_dict()})
        assert transfer["validation"] == analysis.report.to_jsonable(expected)


def test_rows_of_reader_equals_the_boolean_mask_inside_and_outside_a_trust_block():
    frame = validate_ratings(task_ratings(_study(seed=5), task="ene"))
    for reader in [*HUMANS, MODEL, "nobody"]:
        expected = frame[frame["reader"] == reader]
        pd.testing.assert_frame_equal(rows_of_reader(frame, reader), expected)
        with trusting_validated_frames():
            trusted = trust_validated_frame(frame)
            pd.testing.assert_frame_equal(rows_of_reader(trusted, reader), expected)
            # validate_ratings hands out a trusted copy, which answers the same
            copy = validate_ratings(trusted)
            assert copy is not trusted
            pd.testing.assert_frame_equal(rows_of_reader(copy, reader), expected)


def test_a_frame_is_only_trusted_inside_the_block_that_trusted_it():
    frame = validate_ratings(task_ratings(_study(seed=6), task="ene"))
    broken = frame.copy()
    broken.loc[broken.index[0], "truth"] = 7
    with trusting_validated_frames():
        trust_validated_frame(frame)
        # an untrusted frame (even an equal copy) is checked as always
        with pytest.raises(Exception, match="truth"):
            validate_ratings(broken)
    trust_validated_frame(broken)  # outside a block: no effect
    with pytest.raises(Exception, match="truth"):
        validate_ratings(broken)


def test_normal_quantile_is_r_qnorm():
    # R 4.3: qnorm(0.975) -> 1.959963984540054; qnorm(0.995) -> 2.575829303548901
    assert normal_quantile(0.05) == pytest.approx(1.959963984540054, abs=1e-15)
    assert normal_quantile(0.01) == pytest.approx(2.575829303548901, abs=1e-15)


def _study_with_a_cohort_without_ene() -> pd.DataFrame:
    """Three cohorts, one without ENE nodes: some sections fail there with a warning."""
    study = _study(seed=7, cohorts=("int", "ext1", "ext2"))
    ext2 = study["cohort"] == "ext2"
    study.loc[ext2 & (study["reference"] == 2), "reference"] = 1
    study.loc[ext2 & study["reader"].eq(MODEL), "p_ene"] = 0.0
    return study


@pytest.mark.parametrize("make_study", [_study, _study_with_a_cohort_without_ene])
def test_clustered_report_sharing_sections_equals_the_report_alone(make_study):
    study = make_study()
    options = {"derivation_cohort": "int"} if make_study is not _study else {}
    shared: dict = {}
    node_level = study_report(study, curves=True, shared_sections=shared, **options)
    clustered = study_report(study, cluster=True, shared_sections=shared, **options)
    assert len(shared) > 10  # sections were shared, not recomputed
    assert node_level == study_report(study, curves=True, **options)
    assert clustered == study_report(study, cluster=True, **options)
    if make_study is _study_with_a_cohort_without_ene:
        assert (
            clustered["warnings"]
            and clustered["warnings"] == study_report(study, cluster=True, **options)["warnings"]
        )


def test_shared_sections_refuse_a_report_of_other_options():
    study = _study(seed=8)
    shared: dict = {}
    study_report(study, shared_sections=shared)
    with pytest.raises(ValueError, match="other ratings or options"):
        study_report(study, cluster=True, alpha=0.01, shared_sections=shared)


def _frames(seed: int) -> list[pd.DataFrame]:
    """A validated task table as it comes, with its rows shuffled (so that the readers' own
    rows name the cases in different orders), and with one reader's rows partly missing."""
    frame = validate_ratings(task_ratings(_study(seed=seed), task="ene"))
    shuffled = validate_ratings(frame.sample(frac=1.0, random_state=seed))
    gappy = frame.drop(frame.index[(frame["reader"] == "R2").to_numpy()][:3])
    return [frame, shuffled, validate_ratings(gappy)]


@pytest.mark.parametrize("seed", [7, 8])
def test_reader_rows_by_case_equals_set_index_of_the_readers_rows(seed):
    for frame in _frames(seed):
        for reader in [*HUMANS, MODEL, "nobody"]:
            for columns in (None, ["score", "truth"]):
                expected = frame[frame["reader"] == reader].set_index("case")
                if columns is not None:
                    expected = expected[columns]
                with trusting_validated_frames():
                    trusted = trust_validated_frame(frame)
                    for _ in range(2):  # built, then from the cache
                        pd.testing.assert_frame_equal(
                            reader_rows_by_case(trusted, reader, columns), expected
                        )


@pytest.mark.parametrize("seed", [7, 8])
def test_a_matrix_from_the_complete_one_equals_the_matrix_built_for_those_readers(seed):
    subsets = [None, HUMANS, [MODEL, *HUMANS], ["R3", "R1"], [MODEL], ["R2", MODEL], ["nobody"]]
    for frame in _frames(seed):
        for readers in subsets:
            try:
                expected = ratings_matrix(frame, readers=readers)
            except AnalysisInputError as error:
                with trusting_validated_frames(), pytest.raises(AnalysisInputError) as caught:
                    matrix_of_valid_ratings(trust_validated_frame(frame), readers=readers)
                assert str(caught.value) == str(error)
                continue
            with trusting_validated_frames():
                trusted = trust_validated_frame(frame)
                with contextlib.suppress(AnalysisInputError):  # not complete: no shortcut
                    matrix_of_valid_ratings(trusted)
                got = matrix_of_valid_ratings(trusted, readers=readers)
            assert got[0] == expected[0] and got[1] == expected[1]
            assert (got[2] == expected[2]).all() and (got[3] == expected[3]).all()


@pytest.mark.parametrize(
    "split",
    [(slice(0, -1), slice(-1, None)), (slice(0, 1), slice(1, None)), (slice(0, 0), slice(0, None))],
)
def test_report_parts_merge_into_the_whole_report(split):
    """Parts computed apart (as in two processes), each sharing sections between its node-level
    and clustered reports, merge into exactly the reports computed whole; warnings included."""
    study = _study_with_a_cohort_without_ene()
    common = {"derivation_cohort": "int"}
    variants = [(study, {"curves": True}), (study, {"cluster": True})]
    whole = [
        study_report(study, curves=True, **common),
        study_report(study, cluster=True, **common),
    ]
    parts = [study_reports(variants, cohorts=part, **common) for part in split]
    for position, expected in enumerate(whole):
        merged = study_report_merge([part[position] for part in parts])
        assert json.dumps(merged) == json.dumps(expected)
    assert whole[1]["warnings"] and whole[1]["threshold_transfer"]
    with pytest.raises(ValueError, match="options"):
        study_report_merge([parts[0][0], parts[1][1]])


def test_study_reports_gives_each_variant_its_error_in_its_place():
    study = _study(seed=9)
    no_clusters = study.drop(columns=["cluster"])
    reports = study_reports([(study, {}), (no_clusters, {"cluster": True})])
    assert isinstance(reports[0], dict)
    assert isinstance(reports[1], AnalysisInputError) and "cluster" in str(reports[1])
