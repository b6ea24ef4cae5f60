"""K networks' weights stacked on a leading member axis, and their forward pass as one
kernel per layer (HFTA's method, Wang et al., MLSys 2021): each ``Linear`` is a
``baddbmm`` over ``[K, in, out]`` weights, and the Conv2d layers are one grouped
convolution with K times the groups. fused.py trains a group of networks on them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .model_configs import CnnConfig, MnistConfig
from .models import CNN, MLP


class Stacked:
    """The members' weights, stacked on a leading axis, and a functional forward pass.

    ``params`` maps a name to a ``[K, ...]`` tensor; row k is member k's tensor, laid
    out for the fused kernel (Linear weights transposed to ``[in, out]``)."""

    def __init__(self, solos: Sequence[torch.nn.Module], cfg: MnistConfig) -> None:
        self.cnn = isinstance(solos[0], CNN)
        self.cfg = cfg
        tensors: dict[str, list[torch.Tensor]] = {}
        for model in solos:
            for name, value in self._layout(model).items():
                tensors.setdefault(name, []).append(value)
        self.params = {
            name: torch.stack(values).contiguous().requires_grad_()
            for name, values in tensors.items()
        }

    def _layout(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        if isinstance(model, MLP):
            for i, layer in enumerate(model.layers):
                assert isinstance(layer, torch.nn.Linear)
                out[f"w{i}"] = layer.weight.detach().t()
                out[f"b{i}"] = layer.bias.detach().unsqueeze(0)
            return out
        assert isinstance(model, CNN)
        for i, conv in enumerate(model.convs):
            assert isinstance(conv, torch.nn.Conv2d)
            out[f"conv{i}"] = conv.weight.detach().contiguous()
            if conv.bias is not None:
                out[f"conv_b{i}"] = conv.bias.detach()
        out["fc_w"] = model.fc.weight.detach().t()
        out["fc_b"] = model.fc.bias.detach().unsqueeze(0)
        return out

    @property
    def size(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only the members at ``rows`` (indices into the current stack)."""
        self.params = {
            name: p.detach()[rows].contiguous().requires_grad_() for name, p in self.params.items()
        }

    def forward(
        self, x: torch.Tensor, dropout: torch.Tensor | None, shared: bool = False
    ) -> torch.Tensor:
        """Logits ``[K, B, 10]`` for ``x``: ``[K, B, ...]`` (each member's own batch) or,
        with ``shared``, one ``[B, ...]`` batch that every member sees (evaluation)."""
        return self._cnn(x, dropout, shared) if self.cnn else self._mlp(x, dropout, shared)

    def _mlp(self, x: torch.Tensor, dropout: torch.Tensor | None, shared: bool) -> torch.Tensor:
        p = self.params
        layers = sum(1 for name in p if name.startswith("w"))
        h = x.reshape(*x.shape[: 1 if shared else 2], -1)  # the seed's x.view(-1, 784)
        for i in range(layers):
            if i == 0 and shared:  # [B, in] @ [K, in, out]: one broadcast matmul
                h = torch.matmul(h, p["w0"]) + p["b0"]
            else:
                h = torch.baddbmm(p[f"b{i}"], h, p[f"w{i}"])
            if i < layers - 1:
                h = _dropout(F.relu(h), dropout)
        return h

    def _cnn(self, x: torch.Tensor, dropout: torch.Tensor | None, shared: bool) -> torch.Tensor:
        p, cfg, k = self.params, self.cfg, self.size
        assert isinstance(cfg, CnnConfig)
        if shared:  # [B, 1, 28, 28] -> every member's channel: [B, K, 28, 28]
            h = x.expand(x.shape[0], k, *x.shape[2:])
        else:  # [K, B, C, H, W] -> [B, K*C, H, W]
            h = x.transpose(0, 1).reshape(x.shape[1], -1, *x.shape[3:])
        # oneDNN's grouped convolutions are 1.2x (K = 4) to 3x (K = 16) faster on
        # channels-last input here (ARCHITECTURE.md, "Fused trial groups").
        h = h.contiguous(memory_format=torch.channels_last)
        for i, layer in enumerate(cfg.plan):
            weight = p[f"conv{i}"]
            bias = p.get(f"conv_b{i}")
            h = F.conv2d(
                h,
                weight.reshape(-1, *weight.shape[2:]),
                bias.reshape(-1) if bias is not None else None,
                stride=layer.stride,
                padding=layer.padding,
                dilation=layer.dilation,
                groups=k * layer.groups,
            )
            h = F.relu(_pool(h, cfg.pool, cfg.pool_size))
        features = h.reshape(h.shape[0], k, -1).transpose(0, 1)  # [K, B, C*h*w]
        return torch.baddbmm(p["fc_b"], _dropout(features, dropout), p["fc_w"])


def _pool(h: torch.Tensor, kind: str, size: int) -> torch.Tensor:
    if kind == "none" or size <= 1:
        return h
    return F.avg_pool2d(h, size) if kind == "avg" else F.max_pool2d(h, size)


def _dropout(h: torch.Tensor, p: torch.Tensor | None) -> torch.Tensor:
    """Inverted dropout with a rate per member (``p``: ``[K]``; None in eval mode)."""
    if p is None:
        return h
    shape = (-1,) + (1,) * (h.dim() - 1)
    keep = (1.0 - p).view(shape)
    return h * (torch.rand_like(h) < keep) / keep
