"""Node classification models: pure numpy / PyTorch / scikit-learn, no Django import.

The web app calls into this package (from Celery tasks); this package never imports the web
app. Modules:

``inference.crops``        2.5D two-stream crops of a node from a CT volume and its mask
``inference.network``      the two-stream 2.5D multiscale CNN (DeepENE-style, seed 001)
``inference.training``     patient-level folds, training with early stopping, fold ensemble
``inference.radiomics``    IBSI-named features and the scikit-learn baseline
``inference.fusion``       decision-level stacking of deep and radiomics outputs (seed 003)
``inference.attribution``  integrated gradients of the ENE output
``inference.bundle``       save / load a trained model folder with sha256 checks
``inference.dataset``      plain records (volume, spacing, label map, nodes) -> crops + features
``inference.cohort``       read a cohort folder in the import format (CLI, benchmarks)
``inference.cli``          ``python -m inference train|predict``

See docs/inference.md.
"""

from __future__ import annotations

from .classes import CLASSES, N_CLASSES

__all__ = ["CLASSES", "N_CLASSES"]
