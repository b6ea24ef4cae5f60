"""The seed's networks: the 784-512-256-128-64-10 MLP and a configurable small CNN.

The CNN's size arithmetic is the one in the seed's section 8 and torch's Conv2d
documentation, so an impossible combination of kernel_size / stride / padding /
dilation / groups is refused with the computed sizes before any data is loaded::

    out = floor((in + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

MLP_SIZES = (784, 512, 256, 128, 64, 10)  # the seed's Net
IMAGE_SIZE = 28
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


@dataclass(frozen=True)
class ConvLayer:
    """One Conv2d (+ pool) stage with the sizes it maps between."""

    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    padding: int
    dilation: int
    groups: int
    size_in: int
    size_conv: int
    size_out: int  # after pooling


def conv_out(size: int, kernel_size: int, stride: int, padding: int, dilation: int) -> int:
    """torch.nn.Conv2d's output size along one spatial axis."""
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def pool_out(size: int, pool_size: int) -> int:
    """MaxPool2d / AvgPool2d(pool_size) (stride = pool_size) output size; 1 means no pooling."""
    return size if pool_size <= 1 else (size - pool_size) // pool_size + 1


def per_layer(value: int | list[int], n: int, name: str) -> list[int]:
    """Broadcast an int setting to every conv layer, or check a per-layer list's length."""
    if isinstance(value, int):
        return [value] * n
    if len(value) != n:
        raise ValueError(f"{name}={value!r} has {len(value)} entries but channels has {n} layers")
    return list(value)


def conv_plan(
    channels: list[int],
    kernel_size: int | list[int],
    stride: int | list[int],
    padding: int | list[int],
    dilation: int | list[int],
    groups: int,
    pool_size: int,
) -> list[ConvLayer]:
    """Compute every layer's sizes, raising ValueError with the sizes for an impossible net.

    ``groups`` applies to every layer whose input has more than one channel: the
    first layer sees the single grey channel, which no groups > 1 can divide.
    """
    n = len(channels)
    ks, ss, ps, ds = (
        per_layer(v, n, k)
        for v, k in (
            (kernel_size, "kernel_size"),
            (stride, "stride"),
            (padding, "padding"),
            (dilation, "dilation"),
        )
    )
    plan: list[ConvLayer] = []
    size, in_ch, trail = IMAGE_SIZE, 1, [f"input {IMAGE_SIZE}x{IMAGE_SIZE}"]
    for i, out_ch in enumerate(channels):
        g = groups if in_ch > 1 else 1
        if in_ch % g or out_ch % g:
            raise ValueError(
                f"groups={groups} must divide the channels of conv{i + 1} "
                f"(in_channels={in_ch}, out_channels={out_ch})"
            )
        conv = conv_out(size, ks[i], ss[i], ps[i], ds[i])
        trail.append(f"conv{i + 1} {conv}x{conv}")
        if conv < 1:
            raise ValueError(
                f"spatial size shrinks below 1 at conv{i + 1} "
                f"(kernel_size={ks[i]}, stride={ss[i]}, "
                f"padding={ps[i]}, dilation={ds[i]}): {' -> '.join(trail)}"
            )
        out = pool_out(conv, pool_size)
        if pool_size > 1:
            trail.append(f"pool {out}x{out}")
        if out < 1:
            raise ValueError(
                f"spatial size shrinks below 1 at the pool after conv{i + 1} "
                f"(pool_size={pool_size}): {' -> '.join(trail)}"
            )
        plan.append(ConvLayer(in_ch, out_ch, ks[i], ss[i], ps[i], ds[i], g, size, conv, out))
        size, in_ch = out, out_ch
    return plan


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
