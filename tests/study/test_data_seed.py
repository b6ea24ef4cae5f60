"""One data set per study: the per-trial seed varies initialisation, never the data.

The loss-surface preset evaluates MSE(w, b) on the 10 random points of y = 2x + 0.5.
Each trial gets its own per-trial seed from the plan; if that seed drew the points,
every grid point would be evaluated on other data and the surface would be jagged
(issue 14). With one data set the surface is exactly the quadratic bowl of
least squares.
"""

from __future__ import annotations

import numpy as np
import pytest

from study.specs import Resources, presets
from study.specs.loading import spec_from_raw
from study.specs.plan import make_plan, trial_config
from trainables import TRAINABLES


def _plan(name: str):
    spec = spec_from_raw(presets.load(name), {}, None)
    return spec, make_plan(spec, Resources())


def test_the_loss_surface_is_one_quadratic_bowl():
    _, plan = _plan("loss-surface")
    rows = []
    for i, w in enumerate(np.arange(0.0, 4.01, 0.5)):
        for j, b in enumerate(np.arange(-2.0, 3.01, 0.5)):
            config = trial_config(plan, {"w": float(w), "b": float(b)}, f"trial{i}_{j}")
            rows.append((w, b, TRAINABLES["loss_landscape"](config)["loss"]))
    w, b, loss = (np.array(c) for c in zip(*rows))
    design = np.column_stack([w**2, b**2, w * b, w, b, np.ones_like(w)])
    coef, *_ = np.linalg.lstsq(design, loss, rcond=None)
    residual = loss - design @ coef
    assert np.abs(residual).max() < 1e-9 * loss.max()  # exactly quadratic: one data set
    # and its minimum is the line the data were drawn from
    hessian = np.array([[2 * coef[0], coef[2]], [coef[2], 2 * coef[1]]])
    w_min, b_min = np.linalg.solve(hessian, -coef[3:5])
    assert (w_min, b_min) == pytest.approx((2.0, 0.5), abs=1e-9)


def test_per_trial_seeds_leave_the_data_alone_and_data_seed_changes_it():
    _, plan = _plan("wb-search")
    a = trial_config(plan, {"lr": 0.01, "w0": 1.0, "b0": 1.0}, "aaaa")
    b = trial_config(plan, {"lr": 0.01, "w0": 1.0, "b0": 1.0}, "bbbb")
    assert a["seed"] != b["seed"]  # a repeat seed per trial
    assert TRAINABLES["linear_wb"](a) == TRAINABLES["linear_wb"](b)  # manual SGD: same data
    other = TRAINABLES["linear_wb"]({**a, "data_seed": 1})
    assert other["loss"] != TRAINABLES["linear_wb"](a)["loss"]
