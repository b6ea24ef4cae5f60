"""How a model-based search fared against random sampling, from its own trials only.

A study cannot run a random search beside itself, but an ``optuna`` or ``gp`` study
holds one: its first ``n_startup_trials`` proposals were drawn at random (exactly
those: study/search/startup.py). If the model's later proposals were no better than
random draws, each would beat the best of the S random ones with chance 1/(S+1) (S
exchangeable draws and one more: the new one is the best of S+1 with that chance). So
the share of the model's trials that beat the best random one, with its exact binomial
interval, says whether the model did better than random sampling would have, at this
study's size. A proposal that could not train counts as not beating, on both sides.
Values are compared at one fidelity (fidelity.equal_fidelity), like with like.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy import stats

from experiment_folder import TRIAL_INDEX

from ..load import Experiment
from .fidelity import Fidelity

MODELLED = ("optuna", "gp")  # searches with a random start-up counted in proposals


@dataclass(frozen=True)
class AgainstStartup:
    startup: int  # the random start-up proposals (trials numbered below it)
    modelled: int  # the model's proposals that became rows of trials.csv
    beat: int  # of those, how many beat the best random one
    expected: float  # the share random draws would have: 1 / (startup + 1)
    low: float  # the exact 95 % interval of beat / modelled
    high: float
    best_random: float
    best_is_modelled: bool  # whether the study's best (at this fidelity) came from the model
    label: str  # the fidelity

    @property
    def verdict(self) -> str:
        if self.low > self.expected:
            return "better than random sampling"
        if self.high < self.expected:
            return "worse than random sampling"
        return "not distinguishable from random sampling at this many trials"


def against_startup(exp: Experiment, fidelity: Fidelity) -> AgainstStartup | None:
    """The model's proposals against the random start-up (None where the study has no
    such start-up, or nothing to compare on one side)."""
    search = exp.spec.get("search") or {}
    if search.get("algorithm") not in MODELLED or TRIAL_INDEX not in exp.trials:
        return None
    try:
        startup = int(search.get("n_startup_trials", 10))
    except (TypeError, ValueError):
        return None
    index = pd.to_numeric(exp.trials[TRIAL_INDEX], errors="coerce")
    random, modelled = index < startup, index >= startup
    if startup < 1 or not random.any() or not modelled.any():
        return None
    sign = 1.0 if exp.mode == "max" else -1.0
    values = sign * pd.to_numeric(fidelity.values, errors="coerce")
    best_random = values[random].max()
    if best_random != best_random:  # no random start-up trial trained
        return None
    beat = int((values[modelled] > best_random).sum())
    n = int(modelled.sum())
    interval = stats.binomtest(beat, n).proportion_ci(0.95, method="exact")
    return AgainstStartup(
        startup=startup,
        modelled=n,
        beat=beat,
        expected=1 / (startup + 1),
        low=float(interval.low),
        high=float(interval.high),
        best_random=float(sign * best_random),
        best_is_modelled=bool(values[modelled].max() > best_random),
        label=fidelity.label,
    )
