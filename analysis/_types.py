"""Type aliases of the public signatures.

``ArrayLike``: one-dimensional numeric input (scores, truth, weights) as an ndarray, a pandas
Series, a list or a tuple; every function converts it with ``np.asarray`` and checks it, so a
caller may pass whichever it has. ``LabelsLike``: the same for labels of any type (clusters,
calls). ``TableLike``: a two-dimensional table of counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

ArrayLike: TypeAlias = np.ndarray | pd.Series | Sequence[float]
LabelsLike: TypeAlias = np.ndarray | pd.Series | Sequence[Any]
TableLike: TypeAlias = np.ndarray | pd.DataFrame | Sequence[Sequence[float]]

__all__ = ["ArrayLike", "LabelsLike", "TableLike"]
