"""The weighted stacker's rule: log-linear pooling, weight by the one-standard-error rule
shrinking toward equal weights, and old (linear) stackers still loading as they were."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from inference import fusion as fusion_module
from inference.fusion import (
    WEIGHT_GRID,
    Stacker,
    one_se_weight,
    paired_clustered_se,
    stack_inputs,
    train_fusion,
)
from inference.radiomics import RadiomicsCvResult
from inference.training import DeepCvResult, TrainError, class_weights

#: ``pickle.dumps(Stacker(deep_weight=0.25), protocol=5)`` as written by the stacker before
#: ``pooling`` existed (its instances held only ``model`` and ``deep_weight``; linear pooling)
OLD_WEIGHTED_PICKLE = (
    b"\x80\x05\x95H\x00\x00\x00\x00\x00\x00\x00\x8c\x10inference.fusion\x94\x8c\x07Stacker"
    b"\x94\x93\x94)\x81\x94}\x94(\x8c\x05model\x94N\x8c\x0bdeep_weight\x94G?\xd0\x00\x00\x00"
    b"\x00\x00\x00ub."
)


def _slow_one_se(losses, a, groups, grid):
    """The rule written out with plain loops: weighted mean loss per weight; the first minimum;
    per weight, the patient-clustered SE of the paired loss difference to the minimum; of the
    weights within one SE, the one nearest 0.5 (then the lower loss)."""
    n_rows, total = len(a), float(sum(a))
    mean = [sum(a[i] * losses[g][i] for i in range(n_rows)) / total for g in range(len(grid))]
    best = 0
    for g in range(len(grid)):
        if mean[g] < mean[best]:
            best = g
    patients = sorted(set(groups))

    def se(g):
        d = [losses[g][i] - losses[best][i] for i in range(n_rows)]
        dbar = sum(a[i] * d[i] for i in range(n_rows)) / total
        sq = 0.0
        for p in patients:
            rows = [i for i in range(n_rows) if groups[i] == p]
            sq += (sum(a[i] * d[i] for i in rows) - dbar * sum(a[i] for i in rows)) ** 2
        n = len(patients)
        return math.sqrt(n / (n - 1) * sq) / total

    ok = [g for g in range(len(grid)) if mean[g] - mean[best] <= se(g) + 1e-12]
    return grid[min(ok, key=lambda g: (abs(grid[g] - 0.5), mean[g]))]


def _probs(rng, y, signal):
    """(N, 3) probabilities whose true class gets ``signal`` extra logit (0: pure noise)."""
    logits = rng.normal(size=(len(y), 3))
    logits[np.arange(len(y)), y] += signal
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def _cohort(n=120, seed=0):
    labels = np.arange(n) % 3
    patients = np.array([f"P{i // 3}" for i in range(n)])
    folds = (np.arange(n) // 3) % 4
    return labels, patients, folds


def _grid_losses(deep, rad, y, pooling="log"):
    X = stack_inputs(deep, rad)
    return np.stack(
        [
            fusion_module._row_log_losses(
                Stacker(deep_weight=w, pooling=pooling)._from_inputs(X), y
            )
            for w in WEIGHT_GRID
        ]
    )


@pytest.mark.parametrize("seed", range(8))
def test_one_se_weight_matches_a_slow_implementation(seed):
    rng = np.random.default_rng(seed)
    n = 45
    y = rng.integers(0, 3, n)
    groups = np.array([f"P{i}" for i in rng.integers(0, 12, n)])
    a = class_weights(y)[y]
    # realistic (convex in w) losses of two inputs of random quality, and arbitrary ones
    deep, rad = _probs(rng, y, rng.uniform(0, 3)), _probs(rng, y, rng.uniform(0, 3))
    for losses in (_grid_losses(deep, rad, y), rng.gamma(1.0, 1.0, size=(len(WEIGHT_GRID), n))):
        expected = _slow_one_se(losses.tolist(), a.tolist(), groups.tolist(), WEIGHT_GRID)
        assert one_se_weight(losses, a, groups) == expected


def test_clustered_se_is_the_classic_se_in_the_simple_cases():
    rng = np.random.default_rng(3)
    d = rng.normal(size=40)
    # one row per patient, unit weights: sd / sqrt(n)
    one_each = np.array([f"P{i}" for i in range(40)])
    assert paired_clustered_se(d, np.ones(40), one_each) == pytest.approx(
        d.std(ddof=1) / math.sqrt(40)
    )
    # equal clusters, unit weights: the SE of the 10 patient means
    ten = np.array([f"P{i // 4}" for i in range(40)])
    means = d.reshape(10, 4).mean(axis=1)
    assert paired_clustered_se(d, np.ones(40), ten) == pytest.approx(
        means.std(ddof=1) / math.sqrt(10)
    )
    assert paired_clustered_se(d, np.ones(40), np.array(["P"] * 40)) == 0.0


def test_equal_inputs_get_equal_weights():
    y, patients, folds = _cohort()
    rng = np.random.default_rng(0)
    same = _probs(rng, y, 2.0)
    # identical inputs: every weight has the same loss, so the rule keeps 0.5
    assert one_se_weight(_grid_losses(same, same, y), class_weights(y)[y], patients) == 0.5
    # two inputs of the same quality (independent errors): no weight is better by a full SE
    for seed in range(5):
        rng = np.random.default_rng(seed)
        deep, rad = _probs(rng, y, 2.0), _probs(rng, y, 2.0)
        result = train_fusion(
            DeepCvResult(None, folds, deep, y, [], 0.0),  # type: ignore[arg-type]
            RadiomicsCvResult(None, folds, rad, y, 0.0),  # type: ignore[arg-type]
            patients,
        )
        assert result.stacker.deep_weight == 0.5 and result.stacker.pooling == "log"


@pytest.mark.parametrize("seed", range(3))
def test_a_useless_input_gets_no_weight_and_the_rule_is_symmetric(seed):
    y, patients, _ = _cohort()
    rng = np.random.default_rng(seed)
    noise, informative = _probs(rng, y, 0.0), _probs(rng, y, 2.0)
    a = class_weights(y)[y]
    assert one_se_weight(_grid_losses(noise, informative, y), a, patients) == 0.0
    assert one_se_weight(_grid_losses(informative, noise, y), a, patients) == 1.0
    # a weaker but useful input: some weight, below one half; swapped, the mirror image
    weaker = _probs(rng, y, 1.2)
    w = one_se_weight(_grid_losses(weaker, informative, y), a, patients)
    assert 0.0 < w < 0.5
    assert one_se_weight(_grid_losses(informative, weaker, y), a, patients) == pytest.approx(
        1.0 - w
    )


def test_the_chosen_weight_is_within_one_se_and_nearest_to_one_half():
    rng = np.random.default_rng(11)
    y, patients, _ = _cohort(90)
    a = class_weights(y)[y]
    for _ in range(10):
        losses = _grid_losses(_probs(rng, y, rng.uniform(0, 3)), _probs(rng, y, 2.0), y)
        w = one_se_weight(losses, a, patients)
        mean = losses @ a / a.sum()
        best = int(np.argmin(mean))
        within = [
            g
            for g in range(len(WEIGHT_GRID))
            if mean[g] - mean[best] <= paired_clustered_se(losses[g] - losses[best], a, patients)
        ]
        assert WEIGHT_GRID.index(w) in within
        assert abs(w - 0.5) == min(abs(WEIGHT_GRID[g] - 0.5) for g in within)


def test_log_and_linear_pooling():
    rng = np.random.default_rng(2)
    y = np.arange(30) % 3
    deep, rad = _probs(rng, y, 1.0), _probs(rng, y, 1.0)
    geometric = deep**0.3 * rad**0.7
    geometric /= geometric.sum(axis=1, keepdims=True)
    assert np.allclose(Stacker(deep_weight=0.3).predict_proba(deep, rad), geometric)
    linear = Stacker(deep_weight=0.3, pooling="linear").predict_proba(deep, rad)
    assert np.allclose(linear, 0.3 * deep + 0.7 * rad)
    # a confident "no" of one model pulls the pooled probability down in log space far more
    # than in linear space
    d, r = np.array([[0.5, 0.49, 0.01]]), np.array([[0.05, 0.05, 0.9]])
    assert Stacker(deep_weight=0.5).predict_proba(d, r)[0, 2] < 0.3
    assert Stacker(deep_weight=0.5, pooling="linear").predict_proba(d, r)[0, 2] > 0.45
    with pytest.raises(ValueError, match="unknown pooling 'median'"):
        Stacker(deep_weight=0.5, pooling="median")


def test_train_fusion_pooling_option():
    y, patients, folds = _cohort()
    rng = np.random.default_rng(4)
    deep = DeepCvResult(None, folds, _probs(rng, y, 1.5), y, [], 0.0)  # type: ignore[arg-type]
    rad = RadiomicsCvResult(None, folds, _probs(rng, y, 2.0), y, 0.0)  # type: ignore[arg-type]
    linear = train_fusion(deep, rad, patients, pooling="linear")
    assert linear.stacker.pooling == "linear" and linear.stacker.method == "weighted"
    logistic = train_fusion(deep, rad, patients, method="logistic", c_grid=(1.0,))
    assert logistic.stacker.pooling is None and logistic.stacker.deep_weight is None
    with pytest.raises(TrainError, match="unknown pooling 'mean'"):
        train_fusion(deep, rad, patients, pooling="mean")


def test_stackers_pickled_before_pooling_existed_keep_linear_pooling():
    old = pickle.loads(OLD_WEIGHTED_PICKLE)
    assert isinstance(old, Stacker)
    assert (old.method, old.deep_weight, old.pooling) == ("weighted", 0.25, "linear")
    rng = np.random.default_rng(5)
    y = np.arange(12) % 3
    deep, rad = _probs(rng, y, 1.0), _probs(rng, y, 1.0)
    assert np.allclose(old.predict_proba(deep, rad), 0.25 * deep + 0.75 * rad)
    # an old logistic stacker has no pooling either way
    state = {"model": object(), "deep_weight": None}
    old_logistic = Stacker.__new__(Stacker)
    old_logistic.__setstate__(state)
    assert old_logistic.pooling is None and old_logistic.method == "logistic"
    # a new one keeps its own pooling through pickle
    again = pickle.loads(pickle.dumps(Stacker(deep_weight=0.4), protocol=5))
    assert (again.deep_weight, again.pooling) == (0.4, "log")
