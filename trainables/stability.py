"""Exact stability limits of the learning rate for the seed's regressions, without torch.

One epoch of SGD on a squared error is an affine map θ ← M(lr)·θ + c(lr), and
training is stable exactly where the spectral radius ρ(M(lr)) is below 1:

- ``linear_w`` (per-sample, the seed's update): M = Π_i (1 − 2·lr·x_i²), a scalar
  polynomial in lr; it does not depend on y.
- ``linear_wb`` manual (per-sample, θ = (w, b), v_i = (x_i, 1)): M = Π_i (I − 2·lr·v_i v_iᵀ),
  the samples taken in the trainable's order.
- ``linear_wb`` module (full batch, ``MSELoss(reduction="sum")``): M = I − 2·lr·Σ v_i v_iᵀ,
  stable iff lr < 1 / λ_max(Σ v_i v_iᵀ); with ``reduction="mean"`` the sum is divided by
  the n points, so the limit is n times larger.

ρ(M) crosses 1 only where an eigenvalue of M is +1 or −1, or where a complex pair
has |λ|² = det M = 1. Those are roots of three polynomials in lr (det(M − I),
det(M + I), det M − 1), whose real roots are bracketed and then bisected on
ρ(M(lr)) − 1 itself, computed by multiplying the matrices out: the limits are
exact to 1e-9 relative, never a grid's resolution. The stable set need not be one
interval: for x = [1, 10] it is lr < 0.0099… and a pocket around 0.5.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.polynomial import polynomial as P

from .config import InvalidConfig, parse_config
from .model_configs import LinearWBConfig, LinearWConfig, resolve_data

RELATIVE_TOLERANCE = 1e-9
SUPPORTED = ("linear_w", "linear_wb")

Matrix = list[list[np.ndarray]]  # a small square matrix of polynomials in lr


def _factors(name: str, config: dict[str, Any] | None) -> list[np.ndarray]:
    """The matrices H_i of the epoch's factors (I − 2·lr·H_i), in the order applied."""
    if name == "linear_w":
        cfg = parse_config(LinearWConfig, config, name)
        xs, _ = resolve_data(cfg.data, cfg.data_seed, "seed")
        return [np.array([[float(x) ** 2]]) for x in xs]
    if name == "linear_wb":
        cfgb = parse_config(LinearWBConfig, config, name)
        if cfgb.impl == "module":
            xs, _ = resolve_data(cfgb.data, cfgb.data_seed, "seed")
            vs = [np.array([float(x), 1.0]) for x in xs]
            scale = 1.0 / len(vs) if cfgb.reduction == "mean" else 1.0
            return [scale * np.sum([np.outer(v, v) for v in vs], axis=0)]
        xs, _ = resolve_data(cfgb.data, cfgb.data_seed, "random")
        return [np.outer(v, v) for v in (np.array([float(x), 1.0]) for x in xs)]
    raise InvalidConfig(
        f"stable_lrs: no exact stability for {name!r}; supported: {', '.join(SUPPORTED)}"
    )


def _epoch_matrix(factors: Sequence[np.ndarray], lr: float) -> np.ndarray:
    d = factors[0].shape[0]
    m = np.eye(d)
    for h in factors:  # the first sample is applied first: M = A_n … A_1
        m = (np.eye(d) - 2.0 * lr * h) @ m
    return m


def _radius(factors: Sequence[np.ndarray], lr: float) -> float:
    with np.errstate(over="ignore", invalid="ignore"):
        m = _epoch_matrix(factors, lr)
        if not np.all(np.isfinite(m)):
            return float("inf")
        return float(max(abs(np.linalg.eigvals(m))))


def _poly_sum(terms: Sequence[np.ndarray]) -> np.ndarray:
    out = np.zeros(1)
    for term in terms:
        out = P.polyadd(out, term)
    return out


def _poly_matrix(factors: Sequence[np.ndarray]) -> Matrix:
    """M(lr) as a matrix of polynomial coefficient arrays (lowest degree first)."""
    d = factors[0].shape[0]
    m: Matrix = [[np.array([float(i == j)]) for j in range(d)] for i in range(d)]
    for h in factors:
        a = [[np.array([float(i == j), -2.0 * h[i, j]]) for j in range(d)] for i in range(d)]
        m = [
            [_poly_sum([P.polymul(a[i][k], m[k][j]) for k in range(d)]) for j in range(d)]
            for i in range(d)
        ]
    return m


def _boundary_polynomials(m: Matrix) -> list[np.ndarray]:
    if len(m) == 1:
        return [P.polysub(m[0][0], [1.0]), P.polyadd(m[0][0], [1.0])]
    det: np.ndarray = P.polysub(P.polymul(m[0][0], m[1][1]), P.polymul(m[0][1], m[1][0]))
    trace: np.ndarray = P.polyadd(m[0][0], m[1][1])
    # det(M − sI) = det M − s·trace M + s² for s = ±1
    return [
        P.polyadd(P.polysub(det, trace), [1.0]),
        P.polyadd(P.polyadd(det, trace), [1.0]),
        P.polysub(det, [1.0]),
    ]


def _candidates(polys: list[np.ndarray], low: float, high: float) -> list[float]:
    found = []
    for c in polys:
        c = P.polytrim(c)
        if len(c) < 2:
            continue
        for root in P.polyroots(c):
            if abs(root.imag) <= 1e-6 * max(1.0, abs(root.real)) and low < root.real < high:
                found.append(float(root.real))
    return sorted(found)


def _bisect(g: Callable[[float], float], a: float, b: float) -> float:
    ga = g(a)
    while b - a > RELATIVE_TOLERANCE * abs(b):
        mid = 0.5 * (a + b)
        gm = g(mid)
        if (gm > 0) == (ga > 0):
            a, ga = mid, gm
        else:
            b = mid
    return 0.5 * (a + b)


def _refine(g: Callable[[float], float], root: float, low: float, high: float) -> float | None:
    """Bracket the sign change of ``g`` near an approximate root, then bisect it."""
    for width in (1e-10, 1e-8, 1e-6, 1e-4, 1e-2):
        a, b = max(low, root * (1 - width)), min(high, root * (1 + width))
        if (g(a) > 0) != (g(b) > 0):
            return _bisect(g, a, b)
    return None  # a root where ρ only touches 1: no change of stability


def stable_lrs(
    name: str, config: dict[str, Any] | None, low: float, high: float
) -> list[tuple[float, float]]:
    """The learning rates in [low, high] at which ``name`` trains stably, as sorted,
    disjoint intervals (exact to 1e-9 relative). InvalidConfig for a trainable with no
    exact theory, or a range that is not 0 < low < high."""
    if not (0 < low < high) or not np.isfinite(high):
        raise InvalidConfig(f"stable_lrs: 0 < low < high must hold, got low={low}, high={high}")
    factors = _factors(name, config)

    def g(lr: float) -> float:
        return _radius(factors, lr) - 1.0

    roots = _candidates(_boundary_polynomials(_poly_matrix(factors)), low, high)
    edges = [low]
    for root in roots:
        exact = _refine(g, root, low, high)
        if exact is not None and exact > edges[-1]:
            edges.append(exact)
    edges.append(high)
    intervals: list[tuple[float, float]] = []
    for a, b in itertools.pairwise(edges):
        if b > a and g(0.5 * (a + b)) < 0:
            if intervals and intervals[-1][1] == a:
                intervals[-1] = (intervals[-1][0], b)
            else:
                intervals.append((a, b))
    return intervals


def epochs_to_overflow(
    name: str, config: dict[str, Any] | None, lr: float, growth_to: float = 1e20
) -> float:
    """Epochs an unstable ``lr`` needs for the error to grow by ``growth_to`` from 1:
    log(growth_to) / log ρ(M(lr)); inf where training is stable."""
    rho = _radius(_factors(name, config), lr)
    if rho <= 1.0:
        return float("inf")
    return float(np.log(growth_to) / np.log(rho))


def loss_floor(name: str, config: dict[str, Any] | None) -> dict[str, float]:
    """The smallest loss regression ``name`` can reach on its config's data: the
    least-squares fit (y = w·x for linear_w; y = w·x + b for linear_wb) and its mean
    squared error, the trainables' ``loss``. No training reaches below it."""
    if name == "linear_w":
        cfg = parse_config(LinearWConfig, config, name)
        xs, ys = (np.asarray(v, dtype=float) for v in resolve_data(cfg.data, cfg.data_seed, "seed"))
        w = float(xs @ ys / (xs @ xs))
        return {"w": w, "b": 0.0, "loss": float(np.mean((ys - w * xs) ** 2))}
    if name == "linear_wb":
        cfgb = parse_config(LinearWBConfig, config, name)
        default = "seed" if cfgb.impl == "module" else "random"
        xs, ys = (
            np.asarray(v, dtype=float) for v in resolve_data(cfgb.data, cfgb.data_seed, default)
        )
        design = np.column_stack([xs, np.ones_like(xs)])
        (w, b), *_ = np.linalg.lstsq(design, ys, rcond=None)
        return {"w": float(w), "b": float(b), "loss": float(np.mean((ys - w * xs - b) ** 2))}
    raise InvalidConfig(
        f"loss_floor: no exact floor for {name!r}; supported: {', '.join(SUPPORTED)}"
    )
