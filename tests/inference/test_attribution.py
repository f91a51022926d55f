from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.attribution import integrated_gradients
from inference.network import NetworkParams, TwoStreamNet

NET = NetworkParams(in_channels=4, width=4, depth=2, hidden=8, dropout=0.0)


def _inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 1, size=(4, 16, 16)).astype(np.float32)
    b = rng.uniform(0, 1, size=(4, 16, 16)).astype(np.float32)
    a[:, :4] = 0.0  # air rows: no attribution possible with the zero baseline
    return a, b


def test_attributions_are_shaped_like_the_crops_and_complete():
    torch.manual_seed(0)
    nets = [TwoStreamNet(NET).eval(), TwoStreamNet(NET).eval()]
    a, b = _inputs()
    attr = integrated_gradients(nets, a, b, steps=64)
    assert attr.size_independent.shape == a.shape and attr.size_aware.shape == b.shape
    assert np.all(attr.size_independent[:, :4] == 0.0)
    # completeness: the maps sum to p_ene(x) - p_ene(baseline), up to the Riemann error
    assert abs(attr.output_difference) > 1e-4
    assert abs(attr.convergence_delta) <= 0.05 * abs(attr.output_difference) + 1e-4


def test_bad_shapes_are_refused():
    net = TwoStreamNet(NET).eval()
    with pytest.raises(ValueError, match="channels, grid, grid"):
        integrated_gradients(net, np.zeros((1, 4, 16, 16)), np.zeros((1, 4, 16, 16)))
