"""The three node classes, in the one order every array of this package uses."""

from __future__ import annotations

from cohortformat import REFERENCE

__all__ = ["CLASSES", "CLASS_INDEX", "ENE", "METASTASIS", "BENIGN", "N_CLASSES", "class_index"]

#: ("benign", "metastasis", "ene"): the import format's reference values, in its order. Column
#: ``i`` of every probability array is ``CLASSES[i]``.
CLASSES: tuple[str, ...] = REFERENCE.values
N_CLASSES = len(CLASSES)
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}
BENIGN, METASTASIS, ENE = (CLASS_INDEX[v] for v in ("benign", "metastasis", "ene"))


def class_index(reference: str) -> int:
    """Index of a reference value or alias (``metastasis_with_ene`` -> 2)."""
    return CLASS_INDEX[REFERENCE.parse(reference)]
