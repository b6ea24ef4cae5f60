"""Parameter importance in two parts, each answering one question (issue 14).

(a) :func:`failure_importance`: which parameters predict that a trial could not train
    (diverged, or an invalid config). A random forest classifies trained against failed
    trials; permutation importance (scikit-learn) says how much each parameter's
    information is worth to it, with its spread over 20 permutations.
(b) :func:`trained_importance`: fANOVA (Optuna) over the trials that trained, on the
    metric at one fidelity (analysis.fidelity). Diverged trials no longer enter with a
    made-up worst value, which made "lr matters" mean "lr decides divergence" (Optuna's
    own evaluator drops non-finite values for that reason, optuna PR #3500). fANOVA's
    answer changes from call to call (optuna#1199), so it is refitted on bootstrap
    resamples of the trials: the table gives the 5-95 % range and how often each
    parameter ranked first.

Repeat seeds are never parameters; ``variant`` is one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from experiment_folder import FAILED, SCORED

from ..load import Experiment
from .fidelity import Fidelity, equal_fidelity

log = logging.getLogger(__name__)

BOOTSTRAPS = 10  # fANOVA refits on resampled trials; about 0.1-1 s each
# Trials that trained before fANOVA ranks parameters: its random forest splits on a
# handful of points, and below about ten a single trial decides the ranking
# (ARCHITECTURE.md, "What a study can tell").
MIN_TRIALS = 10
# Trials of each outcome before a classifier says what predicts "could not train".
MIN_EACH = 3


@dataclass(frozen=True)
class Importance:
    """One part's table (None when left out) and the sentence the report prints."""

    table: pd.DataFrame | None
    note: str


def _space(exp: Experiment) -> dict[str, tuple[str, list[Any]]]:
    space = exp.spec.get("space") or {}
    out = {}
    for param in exp.params:
        if param == "variant":
            out[param] = ("choice", list((exp.spec.get("variants") or {}).keys()))
        elif isinstance(space.get(param), dict) and space[param]:
            out[param] = next(iter(space[param].items()))
    return out


def _column(exp: Experiment, param: str) -> pd.Series:
    return exp.trials[param if param == "variant" else f"config/{param}"]


def _varying(exp: Experiment, params: dict[str, Any], rows: pd.Index) -> dict[str, Any]:
    """The parameters with at least two values among ``rows``."""
    out = {}
    for param, dist in params.items():
        present = param == "variant" or f"config/{param}" in exp.trials
        if present and _column(exp, param)[rows].astype(str).nunique() > 1:
            out[param] = dist
    return out


def _features(exp: Experiment, params: dict[str, Any], rows: pd.Index) -> pd.DataFrame:
    """Numbers a tree can split: log10 for log-uniform, codes for categories."""
    out = {}
    for param, (kind, _) in params.items():
        values = _column(exp, param)[rows]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().all():
            out[param] = (
                np.log10(numeric) if kind == "loguniform" and (numeric > 0).all() else numeric
            )
        else:
            out[param] = values.astype(str).astype("category").cat.codes
    return pd.DataFrame(out, index=rows)


def failure_importance(exp: Experiment) -> Importance:
    """(a) What predicts that a trial diverged or was invalid."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.inspection import permutation_importance

    status = exp.trials["status"].astype(str)
    failed = status.isin(FAILED)
    rows = exp.trials.index[failed | status.isin(SCORED)]
    params = _varying(exp, _space(exp), rows)
    n_failed, n_trained = int(failed[rows].sum()), int((~failed[rows]).sum())
    if not params or n_failed < MIN_EACH or n_trained < MIN_EACH:
        return Importance(
            None,
            f"No classifier for what cannot train: {n_failed} trial(s) diverged or were "
            f"invalid and {n_trained} trained (at least {MIN_EACH} of each are needed).",
        )
    x = _features(exp, params, rows)
    y = failed[rows].to_numpy()
    forest = RandomForestClassifier(n_estimators=200, min_samples_leaf=2, random_state=0)
    forest.fit(x, y)
    perm = permutation_importance(forest, x, y, n_repeats=20, random_state=0)
    table = pd.DataFrame(
        {"importance": perm.importances_mean, "std": perm.importances_std}, index=list(params)
    ).sort_values("importance", ascending=False)
    table.index.name = "parameter"
    return Importance(
        table,
        f"What predicts that a trial could not train ({n_failed} diverged or invalid, "
        f"{n_trained} trained): a random forest's permutation importance, the drop in its "
        "accuracy when the parameter is shuffled (mean and std over 20 shuffles).",
    )


def _distribution(kind: str, args: list[Any]) -> Any:
    import optuna

    if kind == "uniform":
        return optuna.distributions.FloatDistribution(args[0], args[1])
    if kind == "loguniform":
        return optuna.distributions.FloatDistribution(args[0], args[1], log=True)
    if kind == "int":
        return optuna.distributions.IntDistribution(args[0], args[1])
    values = [args[0], args[1]] if kind == "grid_range" else list(args)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric and len(set(values)) > 1:
        # Ordered values are a range to fANOVA, not unrelated categories (and far faster).
        if all(isinstance(v, int) for v in values):
            return optuna.distributions.IntDistribution(min(values), max(values))
        return optuna.distributions.FloatDistribution(float(min(values)), float(max(values)))
    return optuna.distributions.CategoricalDistribution([_category(v) for v in values])


def _category(value: Any) -> Any:
    return str(value) if isinstance(value, (list, dict, tuple)) else value


def _param_value(value: Any, dist: Any) -> Any:
    import optuna

    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        for choice in dist.choices:
            if str(choice) == str(value) or choice == value:
                return choice
        return _category(value)
    if isinstance(dist, optuna.distributions.IntDistribution):
        return int(value)
    return float(value)


def _fanova(
    exp: Experiment, dists: dict[str, Any], values: pd.Series, rows: np.ndarray, seed: int
) -> dict[str, float] | None:
    import optuna

    study = optuna.create_study(direction="maximize" if exp.mode == "max" else "minimize")
    for index in rows:
        params = {p: _param_value(_column(exp, p)[index], d) for p, d in dists.items()}
        try:
            study.add_trial(
                optuna.trial.create_trial(
                    params=params, distributions=dists, value=float(values[index])
                )
            )
        except ValueError as exc:  # a value outside its distribution (an edited spec)
            log.debug("importance: skipped trial %s: %s", index, exc)
    if len(study.trials) < MIN_TRIALS:
        return None
    evaluator = optuna.importance.FanovaImportanceEvaluator(n_trees=32, seed=seed)
    try:
        return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
    except RuntimeError as exc:  # "Encountered zero total variance in all trees."
        log.debug("importance: fANOVA refused: %s", exc)
        return None


def trained_importance(exp: Experiment, fidelity: Fidelity | None = None) -> Importance:
    """(b) fANOVA over trials that trained, at one fidelity, with bootstrap ranges."""
    import optuna

    fidelity = fidelity or equal_fidelity(exp)
    values = fidelity.values
    rows = values.index[values.notna() & np.isfinite(values.astype(float))]
    params = _varying(exp, _space(exp), rows)
    if len(rows) > 1 and params and float(values[rows].std()) == 0.0:
        return Importance(
            None,
            f"No fANOVA importance: every trial that trained scored the same {exp.metric} "
            f"({float(values[rows].iloc[0]):.4g}), so no parameter explains any variance.",
        )
    if len(rows) < MIN_TRIALS or not params:
        return Importance(
            None,
            f"No importance ranking: {len(rows)} trial(s) trained, too few to rank "
            f"parameters (fANOVA needs at least {MIN_TRIALS}, and a parameter that varies "
            "among them).",
        )
    if len(params) == 1:
        only = next(iter(params))
        return Importance(
            None,
            f"No fANOVA importance: only {only} varies among the trials that trained, so it "
            "explains all the variance there is by definition; its effect table above says "
            "how much that is.",
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {p: _distribution(*params[p]) for p in params}
    full = _fanova(exp, dists, values, rows.to_numpy(), seed=0)
    if full is None:
        return Importance(None, "No fANOVA importance: fANOVA found no variance to explain.")
    rng = np.random.default_rng(0)
    boot = []
    for b in range(BOOTSTRAPS):
        sample = rng.choice(rows.to_numpy(), size=len(rows), replace=True)
        scores = _fanova(exp, dists, values, sample, seed=b + 1)
        if scores is not None:
            boot.append(scores)
    frame = pd.DataFrame(boot).reindex(columns=list(full)).fillna(0.0)
    table = pd.DataFrame({"importance": pd.Series(full)})
    if len(frame):
        table["5%"] = frame.quantile(0.05)
        table["95%"] = frame.quantile(0.95)
        table["ranked first"] = frame.idxmax(axis=1).value_counts().reindex(table.index).fillna(
            0
        ) / len(frame)
    table = table.sort_values("importance", ascending=False)
    table.index.name = "parameter"
    table["at_epoch"] = fidelity.at_epoch
    return Importance(
        table,
        f"fANOVA (Optuna) over the {len(rows)} trials that trained, on {exp.metric} at "
        f"{fidelity.label}; diverged and invalid trials are left out (part a covers them). "
        f"5 % / 95 %: the range over {len(frame)} refits on bootstrap resamples of the "
        "trials; 'ranked first': how often the parameter came out on top.",
    )
