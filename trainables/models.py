"""The seed's networks: the 784-512-256-128-64-10 MLP and a configurable small CNN.

The CNN is built from a plan that :func:`trainables.conv.conv_plan` computed and
checked (impossible Conv2d settings are refused there, before any data is loaded).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .conv import ConvLayer, per_layer

MLP_SIZES = (784, 512, 256, 128, 64, 10)  # the seed's Net
CLASSES = 10


class MLP(nn.Module):
    """The seed's Net (section 7): ReLU after each hidden layer, none on the output.

    ``dropout`` adds ``nn.Dropout(p)`` after each hidden ReLU (the seed's ``nn.drop(0.5)``
    remedy); p = 0 is exactly the seed's network.
    """

    def __init__(self, dropout: float = 0.0, sizes: tuple[int, ...] = MLP_SIZES) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(len(x), -1)  # the seed's x.view(-1, 784)
        for layer in self.layers[:-1]:
            x = self.dropout(F.relu(layer(x)))
        return self.layers[-1](x)


class CNN(nn.Module):
    """Conv2d stages (conv -> pool -> ReLU, as in the classic MNIST CNN) and one Linear.

    The default plan is Conv2d 1->10 k5, max-pool 2, Conv2d 10->20 k5, max-pool 2,
    Linear 320->10. Dropout, when p > 0, applies before the final Linear.
    """

    def __init__(
        self,
        plan: list[ConvLayer],
        bias: bool = True,
        pool: str = "max",
        pool_size: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(
                layer.in_channels,
                layer.out_channels,
                layer.kernel_size,
                stride=layer.stride,
                padding=layer.padding,
                dilation=layer.dilation,
                groups=layer.groups,
                bias=bias,
            )
            for layer in plan
        )
        self.pool: nn.Module
        if pool == "none" or pool_size <= 1:
            self.pool = nn.Identity()
        elif pool == "avg":
            self.pool = nn.AvgPool2d(pool_size)
        else:
            self.pool = nn.MaxPool2d(pool_size)
        self.dropout = nn.Dropout(dropout)
        last = plan[-1]
        self.fc = nn.Linear(last.out_channels * last.size_out * last.size_out, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.relu(self.pool(conv(x)))
        return self.fc(self.dropout(x.flatten(1)))


def measured_conv_sizes(
    channels: list[int], settings: Mapping[str, Any], pool_size: int
) -> list[int] | str:
    """Each Conv2d's output size (height = width) as real torch layers give it on one
    28×28 image, stacked as :class:`CNN` stacks them (conv, then a max-pool of
    ``pool_size``; 1 for none). ``settings`` holds ``kernel_size``, ``stride``,
    ``padding``, ``dilation`` (an int, or one per layer) and ``groups``. Built from the
    settings alone, without :func:`trainables.conv.conv_plan`'s arithmetic: what checks
    that arithmetic (the course's Conv2d chapter). Where torch refuses to build or run a
    layer, its error message instead."""
    n = len(channels)
    try:
        per = {
            k: per_layer(settings[k], n, k)
            for k in ("kernel_size", "stride", "padding", "dilation")
        }
        x = torch.zeros(1, 1, 28, 28)
        sizes = []
        with torch.no_grad():
            for i, out_ch in enumerate(channels):
                in_ch = int(x.shape[1])
                conv = nn.Conv2d(
                    in_ch,
                    out_ch,
                    per["kernel_size"][i],
                    stride=per["stride"][i],
                    padding=per["padding"][i],
                    dilation=per["dilation"][i],
                    groups=int(settings["groups"]) if in_ch > 1 else 1,
                )
                x = conv(x)
                sizes.append(int(x.shape[-1]))
                if pool_size > 1:
                    x = F.max_pool2d(x, pool_size)
    except (RuntimeError, ValueError) as exc:
        return " ".join(str(exc).split())
    return sizes
