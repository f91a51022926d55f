"""Integrated gradients (Sundararajan et al. 2017), as seed 001 used them, for the ENE output.

``attributions = (x - baseline) * mean over alpha of d p_ene(baseline + alpha (x - baseline)) / dx``
with alpha at the midpoints of ``steps`` equal intervals (midpoint Riemann sum). The baseline is
an all-zero input: air in the CT channels, no mask. The result has the shape of the crops, pixel
for pixel, so it can be overlaid on the crop (channel ``context_slices`` is the centroid slice;
the crop geometry is described in ``inference.crops``). For a fold ensemble the attributions of
the averaged probability are the average of the members' attributions (the integral is linear).

Computed by Captum's ``IntegratedGradients`` (PyTorch's model-interpretability library,
``method="riemann_middle"``), as the seed names it; completeness (the attributions sum to
p(x) - p(baseline)) is tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import IntegratedGradients

from .classes import ENE
from .network import TwoStreamNet

__all__ = ["Attribution", "integrated_gradients"]


@dataclass(frozen=True)
class Attribution:
    """Attribution maps of one node, shaped like its crops: (channels, grid, grid) each."""

    size_independent: np.ndarray
    size_aware: np.ndarray
    #: p(x) - p(baseline) of the target class, and how far the attributions' sum is from it
    output_difference: float
    convergence_delta: float


def integrated_gradients(
    nets: TwoStreamNet | Sequence[TwoStreamNet],
    size_independent: np.ndarray,
    size_aware: np.ndarray,
    *,
    target: int = ENE,
    steps: int = 32,
    batch_size: int = 32,
) -> Attribution:
    """Attributions of the ``target`` probability for ONE node's crops (channels, grid, grid)."""
    members = [nets] if isinstance(nets, TwoStreamNet) else list(nets)
    xa = torch.as_tensor(np.asarray(size_independent, dtype=np.float32))
    xb = torch.as_tensor(np.asarray(size_aware, dtype=np.float32))
    if xa.ndim != 3 or xb.shape != xa.shape:
        raise ValueError(f"expected two (channels, grid, grid) crops, got {xa.shape}, {xb.shape}")
    total_a = torch.zeros_like(xa)
    total_b = torch.zeros_like(xb)
    difference = 0.0
    for net in members:
        net.eval()
        device = next(net.parameters()).device

        def probabilities(
            a: torch.Tensor, b: torch.Tensor, net: TwoStreamNet = net
        ) -> torch.Tensor:
            return torch.softmax(net(a, b), dim=1)

        inputs = (xa[None].to(device), xb[None].to(device))
        baselines = (torch.zeros_like(inputs[0]), torch.zeros_like(inputs[1]))
        member_a, member_b = IntegratedGradients(probabilities).attribute(
            inputs,
            baselines=baselines,
            target=target,
            n_steps=steps,
            method="riemann_middle",
            internal_batch_size=batch_size,
        )
        total_a += member_a[0].detach().cpu()
        total_b += member_b[0].detach().cpu()
        with torch.no_grad():
            both = torch.stack([xa, torch.zeros_like(xa)]).to(device)
            both_b = torch.stack([xb, torch.zeros_like(xb)]).to(device)
            p = probabilities(both, both_b)[:, target].cpu()
        difference += float(p[0] - p[1])
    n = len(members)
    attr_a = (total_a / n).numpy()
    attr_b = (total_b / n).numpy()
    difference /= n
    return Attribution(
        size_independent=attr_a,
        size_aware=attr_b,
        output_difference=difference,
        convergence_delta=float(attr_a.sum() + attr_b.sum() - difference),
    )
