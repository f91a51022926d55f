"""Command line: JSON schemas, csv/md output, and one-line errors with exit code 2."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from analysis.cli import main

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def asah_long(tmp_path, reference_frame) -> Path:
    frame = reference_frame("aSAH.csv")
    rows = [
        {
            "case": row.case_id,
            "reader": marker,
            "score": getattr(row, marker),
            "truth": row.outcome_poor,
            "cluster": (row.case_id - 1) // 2,
        }
        for marker in ("wfns", "s100b", "ndka")
        for row in frame.itertuples()
    ]
    path = tmp_path / "asah_long.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def three_way_csv(tmp_path) -> Path:
    rng = np.random.default_rng(6)
    rows = []
    for patient in range(30):
        for node in range(3):
            reference = int(rng.choice([0, 1, 2], p=[0.6, 0.25, 0.15]))
            case = f"p{patient}-n{node}"
            for reader in ("R1", "R2", "R3"):
                call = int(np.clip(reference + rng.choice([-1, 0, 0, 1]), 0, 2))
                rows.append(
                    {
                        "case": case,
                        "reader": reader,
                        "call": call,
                        "reference": reference,
                        "cluster": f"p{patient}",
                    }
                )
            logits = 2.0 * np.eye(3)[reference] + rng.normal(size=3)
            probabilities = np.exp(logits) / np.exp(logits).sum()
            rows.append(
                {
                    "case": case,
                    "reader": "AI",
                    "call": None,
                    "reference": reference,
                    "cluster": f"p{patient}",
                    "p_benign": probabilities[0],
                    "p_meta": probabilities[1],
                    "p_ene": probabilities[2],
                }
            )
    path = tmp_path / "three_way.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_roc_json_schema(capsys, asah_long):
    code, out, _ = run(capsys, "roc", "--input", asah_long)
    assert code == 0
    document = json.loads(out)
    first = document["results"][0]
    assert set(first) >= {"reader", "modality", "n_positive", "n_negative", "auc", "se", "ci95"}
    assert first["reader"] == "wfns"
    assert first["auc"] == pytest.approx(0.823678861788618, abs=1e-12)
    assert first["modality"] is None


def test_roc_cluster_and_logit_options(capsys, asah_long):
    _, plain, _ = run(capsys, "roc", "--input", asah_long)
    _, clustered, _ = run(capsys, "roc", "--input", asah_long, "--cluster", "--logit-ci")
    plain_row = json.loads(plain)["results"][1]
    clustered_row = json.loads(clustered)["results"][1]
    assert clustered_row["variance_method"] == "obuchowski"
    assert clustered_row["n_clusters"] == 57
    assert clustered_row["se"] != plain_row["se"]
    assert clustered_row["ci95"] == clustered_row["logit_ci95"]


def test_compare_json_schema(capsys, asah_long):
    code, out, _ = run(capsys, "compare", "--input", asah_long, "--a", "wfns", "--b", "s100b")
    assert code == 0
    document = json.loads(out)
    assert set(document) >= {"a", "b", "auc_a", "auc_b", "difference", "se", "z", "p_value", "ci95"}
    assert document["z"] == pytest.approx(2.20898359144091, rel=1e-9)


def test_compare_with_cluster_bootstrap(capsys, asah_long):
    code, out, _ = run(
        capsys,
        "compare",
        "--input",
        asah_long,
        "--a",
        "wfns",
        "--b",
        "s100b",
        "--cluster",
        "--bootstrap",
        "200",
        "--seed",
        "3",
    )
    assert code == 0
    bootstrap = json.loads(out)["bootstrap"]
    assert bootstrap["n_boot"] == 200 and bootstrap["seed"] == 3


def test_thresholds_json_and_csv(capsys, asah_long):
    code, out, _ = run(capsys, "thresholds", "--input", asah_long, "--fpr", "0.1,0.2")
    assert code == 0
    document = json.loads(out)
    s100b = next(item for item in document["results"] if item["reader"] == "s100b")
    assert s100b["youden"]["threshold"] == 0.22
    assert [point["target_fpr"] for point in s100b["fixed_fpr"]] == [0.1, 0.2]
    assert s100b["fixed_fpr"][0]["sensitivity"]["numerator"] == 16
    code, out, _ = run(capsys, "thresholds", "--input", asah_long, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 3 * (1 + 5)
    assert {"reader", "criterion", "threshold", "sensitivity.estimate", "tp"} <= set(rows[0])


def test_kappa_json_schema(capsys, tmp_path, reference_frame):
    frame = reference_frame("fleiss_diagnoses_long.csv").rename(
        columns={"subject": "case", "rater": "reader", "category_code": "call"}
    )
    path = tmp_path / "calls.csv"
    frame.to_csv(path, index=False)
    code, out, _ = run(capsys, "kappa", "--input", path, "--pairwise", "--weights", "linear")
    assert code == 0
    document = json.loads(out)
    assert set(document) >= {"fleiss_kappa", "se", "ci95", "n_cases", "n_readers", "categories"}
    assert document["fleiss_kappa"] == pytest.approx(0.430244520060141, rel=1e-9)
    assert (document["n_cases"], document["n_readers"]) == (30, 6)
    assert len(document["pairwise_cohen_kappa"]) == 15


def test_kappa_on_three_way_calls_per_task(capsys, three_way_csv):
    code, out, _ = run(capsys, "kappa", "--input", three_way_csv)
    assert code == 0
    assert json.loads(out)["categories"] == ["benign", "metastasis", "ene"]
    code, out, _ = run(capsys, "kappa", "--input", three_way_csv, "--task", "ene")
    assert code == 0
    document = json.loads(out)
    assert document["categories"] == ["0", "1"] and document["n_readers"] == 3


def test_roc_on_three_way_input_needs_a_task(capsys, three_way_csv):
    code, _, err = run(capsys, "roc", "--input", three_way_csv)
    assert code == 2
    assert "choose --task" in err
    code, out, _ = run(capsys, "roc", "--input", three_way_csv, "--task", "metastasis")
    assert code == 0
    assert [row["reader"] for row in json.loads(out)["results"]] == ["R1", "R2", "R3", "AI"]


def test_mrmc_delegates_to_analysis_mrmc(capsys, tmp_path, reference_frame):
    pytest.importorskip("analysis.mrmc")
    frame = reference_frame("mrmc_vandyke_long.csv").rename(columns={"rating": "score"})
    path = tmp_path / "vandyke.csv"
    frame.to_csv(path, index=False)
    code, out, _ = run(capsys, "mrmc", "--input", path)
    assert code == 0
    document = json.loads(out)
    assert document["method"] == "OR"
    assert set(document) >= {
        "modalities",
        "reader_auc",
        "f",
        "df1",
        "df2",
        "p_value",
        "differences",
        "variance_components",
    }


def test_report_json_and_markdown(capsys, three_way_csv):
    code, out, _ = run(capsys, "report", "--input", three_way_csv, "--cluster")
    assert code == 0
    document = json.loads(out)
    assert document["mode"] == "three_way_calls"
    assert document["options"]["models"] == ["AI"]
    assert [task["task"] for task in document["cohorts"][0]["tasks"]] == [
        "ene",
        "metastasis",
        "ene_vs_meta",
    ]
    code, out, _ = run(capsys, "report", "--input", three_way_csv, "--format", "md")
    assert code == 0
    assert out.startswith("| cohort | task | modality | reader | auc |")


def test_json_output_is_strict(capsys, tmp_path):
    # Perfect separation: the logit CI is undefined (NaN) and must be written as null.
    path = tmp_path / "perfect.csv"
    path.write_text("case,reader,score,truth\n1,A,0.1,0\n2,A,0.2,0\n3,A,0.8,1\n4,A,0.9,1\n")
    code, out, _ = run(capsys, "roc", "--input", path)
    assert code == 0
    assert "NaN" not in out and "Infinity" not in out
    assert json.loads(out)["results"][0]["logit_ci95"] == [None, None]


def test_output_file(capsys, asah_long, tmp_path):
    target = tmp_path / "out.md"
    code, out, _ = run(capsys, "roc", "--input", asah_long, "--format", "md", "--output", target)
    assert code == 0 and out == ""
    assert target.read_text().startswith("| reader |")


@pytest.mark.parametrize(
    ("content", "arguments", "expected"),
    [
        ("case,reader,score\n1,A,0.1\n", ["roc"], "missing column(s) 'truth'"),
        (
            "case,reader,score,truth\n1,A,0.1,0\n2,A,0.3,7\n",
            ["roc"],
            "'truth' must be 0 or 1: '7' at data row 2",
        ),
        (
            "case,reader,score,truth\n1,A,0.1,0\n2,A,0.3,\n",
            ["roc"],
            "'truth': missing value at data row 2",
        ),
        ("case,reader,score,truth\n1,A,x,0\n", ["roc"], "column 'score': 'x' at data row 1"),
        (
            "case,reader,score,truth\n1,A,0.1,0\n2,A,0.3,0\n",
            ["roc"],
            "reader 'A': no positive cases",
        ),
        (
            "case,reader,score,truth\n1,A,0.1,0\n2,A,0.8,1\n1,B,0.2,0\n3,B,0.9,1\n",
            ["compare", "--a", "A", "--b", "B"],
            "rated by 'A' only",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_file(
    capsys, tmp_path, content, arguments, expected
):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    code, out, err = run(capsys, arguments[0], "--input", path, *arguments[1:])
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and str(path) in err
    assert expected in err


def test_missing_file_and_bad_options_exit_2(capsys, tmp_path, asah_long):
    code, _, err = run(capsys, "roc", "--input", tmp_path / "absent.csv")
    assert code == 2 and "absent.csv: no such file" in err
    code, _, err = run(capsys, "thresholds", "--input", asah_long, "--fpr", "5")
    assert code == 2 and "for 5% write 0.05" in err and err.count("\n") == 1
    code, _, err = run(capsys, "roc")
    assert code == 2 and "--input" in err


def test_module_entry_point_exit_code(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("case,reader,score,truth\n1,A,0.1,maybe\n")
    completed = subprocess.run(
        [sys.executable, "-m", "analysis", "roc", "--input", str(path)],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip().startswith("error:") and "'maybe'" in completed.stderr


def test_roc_curve_points_on_request(capsys, asah_long):
    code, out, _ = run(capsys, "roc", "--input", asah_long, "--reader", "wfns", "--curve")
    assert code == 0
    curve = json.loads(out)["results"][0]["curve"]
    # wfns has 5 distinct grades: the point at +inf (written null) plus one per grade.
    assert curve["thresholds"] == [None, 5.0, 4.0, 3.0, 2.0, 1.0]
    assert curve["fpr"][0] == 0.0 and curve["tpr"][-1] == 1.0
    code, out, _ = run(capsys, "roc", "--input", asah_long, "--curve", "--format", "csv")
    assert "curve" not in out.splitlines()[0]


@pytest.mark.parametrize(
    "arguments",
    [["roc", "--task", "ene"], ["kappa"], ["kappa", "--task", "metastasis"]],
)
def test_bad_call_in_three_way_input_names_its_data_row_reader_and_case(
    capsys, tmp_path, arguments
):
    # Model rows first: the bad call is data row 4 of the file (line 5), the second reader row.
    path = tmp_path / "calls.csv"
    path.write_text(
        "case,reader,reference,call,p_benign,p_meta,p_ene\n"
        "a,AI,benign,,0.6,0.3,0.1\n"
        "b,AI,metastasis,,0.3,0.5,0.2\n"
        "a,R1,benign,benign,,,\n"
        "b,R1,metastasis,maybe,,,\n"
        "a,R2,benign,benign,,,\n"
        "b,R2,metastasis,ene,,,\n"
    )
    code, out, err = run(capsys, arguments[0], "--input", path, *arguments[1:])
    assert code == 2 and out == ""
    assert "'maybe' at data row 4 (reader 'R1', case 'b')" in err


def test_kappa_pair_categories_flag(capsys, tmp_path):
    # 1-5 scale; A and B never use 3 or 4, C does. Linear weights on the table's scale (default)
    # equal scikit-learn with labels=[1..5]; --pair-categories pair equals it without labels.
    a = [1, 1, 2, 5, 5, 2, 1, 5, 2, 1, 5, 2]
    b = [1, 2, 2, 5, 2, 2, 5, 5, 1, 1, 5, 1]
    c = [1, 2, 3, 4, 5, 3, 4, 5, 2, 1, 4, 3]
    path = tmp_path / "calls.csv"
    lines = ["case,reader,call"] + [
        f"{case},{reader},{call}"
        for reader, calls in (("A", a), ("B", b), ("C", c))
        for case, call in enumerate(calls)
    ]
    path.write_text("\n".join(lines) + "\n")
    expected = {
        "table": cohen_kappa_score(a, b, labels=[1, 2, 3, 4, 5], weights="linear"),
        "pair": cohen_kappa_score(a, b, weights="linear"),
    }
    assert abs(expected["table"] - expected["pair"]) > 1e-3
    for scale, kappa in expected.items():
        code, out, _ = run(
            capsys, "kappa", "--input", path, "--pairwise", "--weights", "linear",
            "--pair-categories", scale,
        )  # fmt: skip
        assert code == 0
        document = json.loads(out)
        assert document["pairwise_category_scale"] == scale
        assert document["pairwise_cohen_kappa"][0]["kappa"] == pytest.approx(kappa, abs=1e-12)


def test_roc_refuses_readers_with_different_cases_unless_allowed(capsys, tmp_path):
    path = tmp_path / "uneven.csv"
    path.write_text(
        "case,reader,score,truth\nc1,A,0.1,0\nc2,A,0.8,1\nc3,A,0.3,0\nc1,B,0.2,0\nc2,B,0.9,1\n"
    )
    code, out, err = run(capsys, "roc", "--input", path)
    assert code == 2 and out == ""
    assert "cases rated: 'A' 3, 'B' 2" in err and "--allow-different-cases" in err
    code, out, _ = run(capsys, "roc", "--input", path, "--allow-different-cases")
    assert code == 0
    document = json.loads(out)
    assert any("readers rated different cases" in w for w in document["warnings"])
    assert document["results"][1]["n_negative"] == 1


def test_roc_json_has_variance(capsys, asah_long):
    _, out, _ = run(capsys, "roc", "--input", asah_long)
    first = json.loads(out)["results"][0]
    assert first["variance"] == pytest.approx(0.00146991470882363, rel=1e-9)  # pROC var()
    assert first["se"] ** 2 == pytest.approx(first["variance"], rel=1e-12)


def test_compare_on_single_class_truth_names_both_readers(capsys, tmp_path):
    path = tmp_path / "one_class.csv"
    path.write_text("case,reader,score,truth\n1,A,0.1,0\n2,A,0.3,0\n1,B,0.2,0\n2,B,0.4,0\n")
    code, _, err = run(capsys, "compare", "--input", path, "--a", "A", "--b", "B")
    assert code == 2
    assert "readers 'A' and 'B': no positive (truth == 1) cases" in err


def test_mrmc_command_is_not_turned_into_bad_input_by_an_import_lookup(
    capsys, tmp_path, monkeypatch, reference_frame
):
    # The command used to import analysis.mrmc at run time and report any ImportError as bad
    # input ("not installed", exit 2). It is an ordinary import now.
    import sys

    path = tmp_path / "vandyke.csv"
    reference_frame("mrmc_vandyke_long.csv").rename(columns={"rating": "score"}).to_csv(
        path, index=False
    )
    monkeypatch.setitem(sys.modules, "analysis.mrmc", None)
    code, out, err = run(capsys, "mrmc", "--input", path)
    assert code == 0, err
    assert json.loads(out)["method"] == "OR"
