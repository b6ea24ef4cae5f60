"""Metric facts are declared once, with each trainable, and drive the spec's defaults."""

from __future__ import annotations

import logging

import pytest

import trainables
from study.specs import build_spec
from trainables.metrics import Metric


def test_every_builtin_metric_is_declared_with_the_base_three_first():
    for name in trainables.REGISTRY:
        facts = trainables.metric_facts(name)
        assert list(facts)[:3] == ["epoch", "loss", "diverged"]
        assert all(isinstance(m, Metric) for m in facts.values())
    mlp = trainables.metric_facts("mnist_mlp")
    assert mlp["val_acc"].goal == "max" and mlp["val_acc"].bounds == (0.0, 1.0)
    assert mlp["loss"].goal == "min"
    assert not mlp["epoch"].objective and not mlp["epoch"].best
    assert not mlp["best_epoch"].objective and mlp["best_epoch"].best


def test_a_plugin_may_list_plain_names():
    info = trainables.TrainableInfo("plain", lambda c, r=None: {}, object, ("score",), False, "")
    assert info.metrics == (Metric("score"),)
    assert info.metric_facts()["score"].goal is None


def test_goal_is_checked():
    with pytest.raises(ValueError, match="goal"):
        Metric("x", goal="up")


def _spec(**kw):
    return build_spec({"trainable": "mnist_mlp", "config": {"dataset": "mnist5k"}, **kw})


def test_the_default_mode_is_the_metrics_goal():
    assert _spec(metric="loss").mode == "min"
    assert _spec(metric="val_loss").mode == "min"
    assert _spec(metric="val_acc").mode == "max"
    linear = build_spec({"trainable": "linear_w", "metric": "w"})
    assert linear.mode == "max"  # no better direction: the historical default


def test_a_mode_against_the_metrics_goal_is_warned_about(caplog):
    with caplog.at_level(logging.WARNING, logger="study"):
        spec = _spec(metric="loss", mode="max")
    assert spec.mode == "max"
    assert "loss is better lower" in caplog.text


def test_worst_value_comes_from_the_bounds():
    assert _spec(metric="val_acc").worst_value() == 0.0
    assert _spec(metric="val_acc", mode="min").worst_value() == 1.0
    assert _spec(metric="loss").worst_value() == trainables.OVERFLOW_LOSS


def test_bookkeeping_is_not_an_objective():
    with pytest.raises(Exception, match="allowed: loss"):
        _spec(metric="epoch")
