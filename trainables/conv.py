"""Conv2d size arithmetic, without torch: configs check it before any import of torch.

The formula is the one in the seed's section 8 and torch's Conv2d documentation::

    out = floor((in + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGE_SIZE = 28


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


CLASSES = 10
BYTES_PER_VALUE = 4  # float32
EVAL_BATCH = 1000  # mnist.py evaluates in chunks of this many images
# The most a CNN config may need for training (README, "Bounds"): above it a config is
# invalid, refused before any tensor exists. Weights and the classifier fit easily in
# the default plan's 0.04 MB; 2 GiB leaves room for large searches on a laptop.
MAX_TRAIN_BYTES = 2 * 2**30


def parameter_count(plan: list[ConvLayer], bias: bool = True) -> int:
    """Weights of every Conv2d and of the final Linear."""
    count = 0
    for layer in plan:
        count += layer.in_channels // layer.groups * layer.kernel_size**2 * layer.out_channels
        count += layer.out_channels if bias else 0
    last = plan[-1]
    return count + last.out_channels * last.size_out**2 * CLASSES + CLASSES


def activation_count(plan: list[ConvLayer], pooled: bool) -> int:
    """Values one image makes on its way through: the input, each conv output, its
    pooled copy and its ReLU (which autograd keeps for the backward pass)."""
    count = IMAGE_SIZE * IMAGE_SIZE
    for layer in plan:
        count += layer.out_channels * layer.size_conv**2
        count += layer.out_channels * layer.size_out**2 * (2 if pooled else 1)
    return count + CLASSES


def training_bytes(plan: list[ConvLayer], batch_size: int, bias: bool, pooled: bool) -> int:
    """An estimate of the memory a training step needs: the parameters four times
    (weights, gradients, momentum, an update), and the activations of a training
    batch twice (kept, then their gradients) or of an evaluation chunk once."""
    params = parameter_count(plan, bias)
    acts = activation_count(plan, pooled)
    per_step = max(2 * batch_size * acts, EVAL_BATCH * acts)
    return BYTES_PER_VALUE * (4 * params + per_step)
