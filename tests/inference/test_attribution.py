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


def _midpoint_riemann_ig(net: TwoStreamNet, a: np.ndarray, b: np.ndarray, steps: int):
    """The definition, one alpha at a time (Sundararajan et al. 2017, eq. 3, midpoint rule)."""
    xa, xb = torch.as_tensor(a), torch.as_tensor(b)
    grads_a, grads_b = torch.zeros_like(xa), torch.zeros_like(xb)
    for k in range(steps):
        alpha = (k + 0.5) / steps
        ia = (alpha * xa)[None].requires_grad_(True)
        ib = (alpha * xb)[None].requires_grad_(True)
        p_ene = torch.softmax(net(ia, ib), dim=1)[0, 2]
        ga, gb = torch.autograd.grad(p_ene, (ia, ib))
        grads_a += ga[0]
        grads_b += gb[0]
    return (xa * grads_a / steps).numpy(), (xb * grads_b / steps).numpy()


def test_captum_attributions_equal_the_definition():
    torch.manual_seed(1)
    net = TwoStreamNet(NET).eval()
    a, b = _inputs(seed=1)
    attr = integrated_gradients(net, a, b, steps=16, batch_size=5)
    expected_a, expected_b = _midpoint_riemann_ig(net, a, b, steps=16)
    np.testing.assert_allclose(attr.size_independent, expected_a, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(attr.size_aware, expected_b, rtol=1e-4, atol=1e-7)
