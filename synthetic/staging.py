"""Pathologic N stage of HPV-negative laryngeal / hypopharyngeal cancer (AJCC 8th edition).

001 (Discussion) recalls that the AJCC 8th edition upstages pathologic N with
ENE to N3b "regardless of the primary tumor status and number or size of lymph
node metastases"; the full pathologic rules (AJCC 8th, pN for HPV-negative
head and neck mucosal cancer, non-oropharyngeal) are:

* pN0  no regional node metastasis
* pN1  single ipsilateral node <= 3 cm, ENE(-)
* pN2a single ipsilateral node <= 3 cm ENE(+); or single ipsilateral node
  > 3 cm and <= 6 cm ENE(-)
* pN2b multiple ipsilateral nodes <= 6 cm, ENE(-)
* pN2c bilateral or contralateral nodes <= 6 cm, ENE(-)
* pN3a any node > 6 cm, ENE(-)
* pN3b single ipsilateral node > 3 cm ENE(+); or multiple ipsilateral,
  contralateral or bilateral nodes with any ENE(+); or a single contralateral
  node of any size ENE(+)

So ENE(+) always gives pN3b except a single small ipsilateral node (pN2a).
Node size here is the greatest dimension (pathologic), not the short axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["StagedNode", "pathologic_n_stage"]


@dataclass(frozen=True)
class StagedNode:
    """What staging needs to know about one metastatic or benign node."""

    reference: str  # benign | metastasis | ene
    side: str  # left | right
    greatest_dimension_mm: float


def pathologic_n_stage(nodes: Sequence[StagedNode], primary_side: str) -> str:
    """Return the AJCC 8th pathologic N category for ``nodes``.

    ``primary_side`` is ``left``, ``right`` or ``midline``; for a midline
    primary every node counts as ipsilateral.
    """
    positive = [n for n in nodes if n.reference in ("metastasis", "ene")]
    if not positive:
        return "N0"

    def ipsilateral(n: StagedNode) -> bool:
        return primary_side == "midline" or n.side == primary_side

    any_ene = any(n.reference == "ene" for n in positive)
    largest = max(n.greatest_dimension_mm for n in positive)
    all_ipsi = all(ipsilateral(n) for n in positive)
    single = len(positive) == 1

    if any_ene:
        if single and all_ipsi and largest <= 30.0:
            return "N2a"
        return "N3b"
    if largest > 60.0:
        return "N3a"
    if not all_ipsi:
        return "N2c"
    if not single:
        return "N2b"
    if largest <= 30.0:
        return "N1"
    return "N2a"
