"""A fitted stability map for the networks: the probability of divergence as a logistic
function of log10(lr) and of the searched parameters that move it (momentum, log2
batch size), fitted on the trials with scikit-learn, with bootstrap intervals.

For ``mnist_mlp`` and ``mnist_cnn`` there is no exact theory, so the boundary is
estimated: the lr at 50 % divergence risk (``lr_50``) per momentum or batch-size
level, with a 95 % percentile interval from refitting on resampled trials. Compute
first: everything here returns plain data; plots.py draws it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from experiment_folder import DIVERGED, SCORED

NETWORKS = ("mnist_mlp", "mnist_cnn")
MOVERS = ("momentum", "batch_size")  # searched parameters that move the boundary
BOOTSTRAP = 200
GRID = 60  # points per axis when measuring the share of the space that diverges
# Trials of each outcome before a boundary is fitted; and where lr is the only input,
# their lr ranges must overlap: with fewer, or with the two cleanly apart in lr, the
# fit's slope comes from its penalty, not the data (ARCHITECTURE.md, "What a study can
# tell"). The table's bracket (largest stable, smallest diverged lr) says what such a
# study can. With momentum or batch size as inputs the fit also places the boundary
# along them, which the bracket cannot.
MIN_EACH = 3


@dataclass
class StabilityMap:
    """The fit, or why there is none (``reason``)."""

    reason: str = ""
    features: list[str] = field(default_factory=list)  # "log10_lr" first
    coef: np.ndarray | None = None  # intercept, then one per feature
    boot: np.ndarray | None = None  # one row of coefficients per bootstrap fit
    # Resamples left out of ``boot``, by why: one outcome only (no fit exists), or a
    # fit whose risk does not grow with lr (no lr_50).
    dropped: dict[str, int] = field(default_factory=dict)
    points: pd.DataFrame = field(default_factory=pd.DataFrame)
    share_diverging: float = math.nan

    @property
    def fitted(self) -> bool:
        return self.coef is not None


def _design(points: pd.DataFrame, features: list[str]) -> np.ndarray:
    columns = []
    for name in features:
        if name == "log10_lr":
            columns.append(np.log10(points["lr"].to_numpy(float)))
        elif name == "log2_batch_size":
            columns.append(np.log2(points["batch_size"].to_numpy(float)))
        else:
            columns.append(points[name].to_numpy(float))
    return np.column_stack(columns)


def _fit(x: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    from sklearn.linear_model import LogisticRegression

    if y.min() == y.max():
        return None
    # A weak L2 penalty keeps the fit finite when the classes separate perfectly (a
    # clean boundary), where plain maximum likelihood has no solution.
    model = LogisticRegression(C=100.0, max_iter=2000)
    model.fit(x, y)
    return np.concatenate([model.intercept_, model.coef_[0]])


def fit_map(trials: pd.DataFrame, spec: dict[str, Any], params: list[str]) -> StabilityMap:
    """Fit P(diverged) on the trials that trained or diverged."""
    if spec.get("trainable") not in NETWORKS:
        return StabilityMap("no fitted map: only for mnist_mlp and mnist_cnn")
    used = trials[trials["status"].isin((*SCORED, DIVERGED))]
    if "config/lr" not in used or "lr" not in params:
        return StabilityMap("no fitted map: lr is not searched")
    points = pd.DataFrame(
        {
            "lr": pd.to_numeric(used["config/lr"], errors="coerce"),
            "diverged": (used["status"] == DIVERGED).astype(int),
        }
    )
    features = ["log10_lr"]
    for name in MOVERS:
        if name in params and f"config/{name}" in used:
            points[name] = pd.to_numeric(used[f"config/{name}"], errors="coerce")
            features.append("log2_batch_size" if name == "batch_size" else name)
    points = points.dropna()
    points = points[points["lr"] > 0]
    n_bad = int(points["diverged"].sum())
    n_good = len(points) - n_bad
    if n_bad == 0:
        return StabilityMap("no fitted map: no trial diverged", points=points)
    if n_bad == len(points):
        return StabilityMap("no fitted map: every trial diverged", points=points)
    bad_lr = points.loc[points["diverged"] == 1, "lr"]
    good_lr = points.loc[points["diverged"] == 0, "lr"]
    if n_bad < MIN_EACH or n_good < MIN_EACH:
        return StabilityMap(
            f"no fitted map: {n_bad} of {len(points)} trials diverged, too few to fit a "
            f"boundary (a fit needs at least {MIN_EACH} diverged and {MIN_EACH} trained); "
            f"the diverging lr: {', '.join(f'{v:.4g}' for v in sorted(bad_lr))}",
            points=points,
        )
    if len(features) == 1 and bad_lr.min() > good_lr.max():
        return StabilityMap(
            "no fitted map: every diverging lr lies above every stable one, so the trials "
            f"bracket the boundary (between lr {good_lr.max():.4g} and {bad_lr.min():.4g}) "
            "and a fit would add only its penalty's guess",
            points=points,
        )
    if len(points) < 4 * len(features):
        return StabilityMap(
            f"no fitted map: {len(points)} trials are too few for {len(features)} parameter(s)",
            points=points,
        )
    x, y = _design(points, features), points["diverged"].to_numpy()
    coef = _fit(x, y)
    if coef is None or coef[1] <= 0:
        return StabilityMap("no fitted map: divergence does not grow with lr here", points=points)
    rng = np.random.default_rng(0)
    boot = []
    dropped = {"one outcome only": 0, "risk not growing with lr": 0}
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, len(points), len(points))
        fitted = _fit(x[pick], y[pick])
        if fitted is None:
            dropped["one outcome only"] += 1
        elif fitted[1] <= 0:
            dropped["risk not growing with lr"] += 1
        else:
            boot.append(fitted)
    result = StabilityMap(
        "",
        features,
        coef,
        np.array(boot) if boot else None,
        dropped={k: v for k, v in dropped.items() if v},
        points=points,
    )
    result.share_diverging = _share(result, spec)
    return result


def lr_50_at(fit: StabilityMap, at: dict[str, float]) -> tuple[float, float, float]:
    """lr_50 with its 95 % bootstrap interval, the movers at ``at`` (their median over
    the trials where ``at`` leaves one out); NaNs when there is no fit."""
    if not fit.fitted or fit.coef is None:
        return math.nan, math.nan, math.nan
    full = {m: float(fit.points[m].median()) for m in MOVERS if m in fit.points}
    full.update(at)
    estimate = _lr_50(fit.coef, fit.features, full)
    if fit.boot is None or len(fit.boot) < 20:
        return estimate, math.nan, math.nan
    samples = [_lr_50(c, fit.features, full) for c in fit.boot]
    low, high = np.percentile(samples, [2.5, 97.5])
    return estimate, float(low), float(high)


def _lr_50(coef: np.ndarray, features: list[str], at: dict[str, float]) -> float:
    """The lr where the fitted log-odds are 0, the other parameters at ``at``."""
    rest = coef[0]
    for name, b in zip(features[1:], coef[2:]):
        value = math.log2(at["batch_size"]) if name == "log2_batch_size" else at[name]
        rest += b * value
    return float(10 ** (-rest / coef[1]))


def boundary_curve(fit: StabilityMap, mover: str, values: np.ndarray) -> np.ndarray:
    """lr_50 along one mover (the map's boundary line), the others at their medians."""
    return np.array([lr_50_at(fit, {mover: float(v)})[0] for v in values])


def _share(fit: StabilityMap, spec: dict[str, Any]) -> float:
    """Share of the searched space (log lr × the movers, uniform over the trials'
    ranges) where the fitted divergence risk passes 50 %."""
    if fit.coef is None:
        return math.nan
    axes = []
    for name in fit.features:
        column = {"log10_lr": "lr", "log2_batch_size": "batch_size"}.get(name, name)
        values = fit.points[column].to_numpy(float)
        if name in ("log10_lr", "log2_batch_size"):
            values = np.log10(values) if name == "log10_lr" else np.log2(values)
        axes.append(np.linspace(values.min(), values.max(), GRID))
    grid = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)
    logits = fit.coef[0] + grid @ fit.coef[1:]
    return float((logits > 0).mean())


def momentum_check(fit: StabilityMap) -> str:
    """Whether lr_50 grows with momentum β as the quadratic model's (1 + β) says: the
    ratio of lr_50 at the 90th and the 10th percentile of the trials' momentum, with
    its bootstrap interval."""
    if "momentum" not in fit.features or fit.coef is None:
        return ""
    b0, b1 = (float(v) for v in fit.points["momentum"].quantile([0.1, 0.9]))
    if b1 - b0 < 0.1:
        return ""
    rest = {m: float(fit.points[m].median()) for m in MOVERS if m in fit.points}

    def ratio(coef: np.ndarray) -> float:
        high = _lr_50(coef, fit.features, {**rest, "momentum": b1})
        return high / _lr_50(coef, fit.features, {**rest, "momentum": b0})

    expected, seen = (1 + b1) / (1 + b0), ratio(fit.coef)
    if fit.boot is None or len(fit.boot) < 20:
        return ""
    low, high = np.percentile([ratio(c) for c in fit.boot], [2.5, 97.5])
    verdict = "consistent with it" if low <= expected <= high else "not consistent with it"
    return (
        f"From momentum {b0:.2f} to {b1:.2f} the quadratic model expects lr_50 to grow "
        f"×{expected:.2f} (heavy-ball: stable while lr·λ < 2(1 + β)); the fit gives "
        f"×{seen:.2f} (95 % interval ×{low:.2f} … ×{high:.2f}): {verdict}."
    )
