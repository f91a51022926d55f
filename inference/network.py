"""The two-stream 2.5D multiscale CNN (seed 001's DeepENE design, scaled down for a CPU).

Each stream (size-independent crop, size-aware crop; see ``inference.crops``) is a small
convolutional encoder of ``depth`` blocks (two 3x3 convolutions with batch norm and ReLU, then
2x2 max pooling). Multiscale: the global average of every block's output is kept, so both fine
(texture, margin) and coarse (shape, surroundings) features reach the head. The two streams'
features are concatenated and a two-layer head gives logits of the three classes in
``inference.classes.CLASSES`` order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .classes import N_CLASSES

__all__ = ["NetworkParams", "TwoStreamNet", "pick_device"]


@dataclass(frozen=True)
class NetworkParams:
    in_channels: int = 4
    width: int = 8
    depth: int = 3
    hidden: int = 64
    dropout: float = 0.2

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> NetworkParams:
        return cls(**data)


def pick_device(preference: str | None = None) -> torch.device:
    """``preference`` if given (``cpu``, ``cuda``, ``cuda:1``), else CUDA when present, else CPU."""
    if preference:
        return torch.device(preference)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class _Block(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class _Stream(nn.Module):
    """Encoder of one crop stream; returns the pooled features of every scale, concatenated."""

    def __init__(self, params: NetworkParams) -> None:
        super().__init__()
        widths = [params.width * 2**i for i in range(params.depth)]
        self.blocks = nn.ModuleList(
            _Block(cin, cout)
            for cin, cout in zip([params.in_channels, *widths[:-1]], widths, strict=True)
        )
        self.pool = nn.MaxPool2d(2)
        self.features = sum(widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = []
        for i, block in enumerate(self.blocks):
            if i:
                x = self.pool(x)
            x = block(x)
            pooled.append(x.mean(dim=(2, 3)))
        return torch.cat(pooled, dim=1)


class TwoStreamNet(nn.Module):
    """``forward(size_independent, size_aware)`` -> logits (N, 3)."""

    def __init__(self, params: NetworkParams | None = None) -> None:
        super().__init__()
        self.params = params or NetworkParams()
        self.size_independent = _Stream(self.params)
        self.size_aware = _Stream(self.params)
        features = self.size_independent.features + self.size_aware.features
        self.head = nn.Sequential(
            nn.Linear(features, self.params.hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(self.params.dropout),
            nn.Linear(self.params.hidden, N_CLASSES),
        )

    def forward(self, size_independent: torch.Tensor, size_aware: torch.Tensor) -> torch.Tensor:
        feats = torch.cat(
            [self.size_independent(size_independent), self.size_aware(size_aware)], dim=1
        )
        return self.head(feats)
