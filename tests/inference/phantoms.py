"""Small synthetic volumes with known geometry for the inference tests."""

from __future__ import annotations

import numpy as np


def ellipsoid(
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    centre_mm: tuple[float, float, float],
    radii_mm: tuple[float, float, float],
) -> np.ndarray:
    """Boolean mask of an ellipsoid; ``centre_mm`` is measured from voxel (0, 0, 0)'s centre."""
    z, y, x = np.meshgrid(
        *(np.arange(n) * s for n, s in zip(shape, spacing, strict=True)), indexing="ij"
    )
    r = sum(((a - c) / r) ** 2 for a, c, r in zip((z, y, x), centre_mm, radii_mm, strict=True))
    return r <= 1.0


def easy_cohort(
    n_patients: int,
    seed: int,
    nodes_per_patient: int = 3,
    shape=(7, 48, 48),
    spacing=(3.0, 1.0, 1.0),
):
    """An easy 3-class problem: benign = small bright-rim node, metastasis = large node with a
    dark (necrotic) core, ENE = large node with a blurred, spiculated margin into the fat.

    Returns a list of patients: (patient_id, volume, spacing, labels, [(label, class index)])."""
    rng = np.random.default_rng(seed)
    patients = []
    for p in range(n_patients):
        vol = rng.normal(-100.0, 15.0, size=shape).astype(np.float32)  # fat
        labels = np.zeros(shape, dtype=np.int16)
        nodes = []
        for k in range(nodes_per_patient):
            cls = int((p + k) % 3)
            cy = 12.0 + 24.0 * (k % 2) + rng.uniform(-2, 2)
            cx = 10.0 + 14.0 * k + rng.uniform(-2, 2)
            radius = rng.uniform(3.0, 4.0) if cls == 0 else rng.uniform(5.5, 7.0)
            m = ellipsoid(shape, spacing, (9.0, cy, cx), (4.5, radius, radius))
            m &= labels == 0
            vol[m] = 40.0 + rng.normal(0, 10, size=int(m.sum()))
            if cls == 1:
                core = ellipsoid(shape, spacing, (9.0, cy, cx), (3.0, radius * 0.5, radius * 0.5))
                vol[core & m] = 5.0
            if cls == 2:
                halo = ellipsoid(shape, spacing, (9.0, cy, cx), (6.0, radius + 3.0, radius + 3.0))
                ring = halo & ~m & (labels == 0)
                vol[ring] = rng.uniform(-40, 60, size=int(ring.sum()))
            labels[m] = k + 1
            nodes.append((k + 1, cls))
        patients.append((f"P{p:03d}", vol, spacing, labels, nodes))
    return patients
