"""The study note *pytorch_learn*, chapter by chapter: each section's claim as we state
it in English, the study of a course suite that measures it (found by its folder
name), and the function that measures it. The note itself is not shipped: a chapter
names its section, and the claim is ours to state and the study's to test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..load import Experiment
from .networks import measure_conv, measure_mlp, measure_remedies
from .regressions import (
    measure_brute_force,
    measure_divergence,
    measure_reduction,
    measure_sgd_w,
    measure_surface,
    measure_wb_sgd,
)
from .verdicts import Measured


@dataclass(frozen=True)
class Chapter:
    study: str  # the study's folder name in the suite
    section: str  # the note's section
    title: str
    claim: str  # the note's claim, in our words
    trainable: str
    measure: Callable[[Experiment], Measured]


CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        "ch1-brute-force",
        "2",
        "Brute force",
        "Trying every w from 0 to 4 in steps of 0.1 and keeping the smallest MSE finds the "
        "w of y = 2x: w = 2, where the loss is 0.",
        "loss_landscape",
        measure_brute_force,
    ),
    Chapter(
        "ch2-loss-surface",
        "3",
        "The loss surface on a meshgrid",
        "numpy.meshgrid lays out every (w, b) pair of a grid; the MSE drawn over it for "
        "points of y = 2x + 0.5 is lowest at (w, b) = (2, 0.5).",
        "loss_landscape",
        measure_surface,
    ),
    Chapter(
        "ch3-sgd-w",
        "5.1.2",
        "SGD on y = w·x",
        "The per-sample SGD loop (w = 1 to start, lr 0.01, 100 epochs over x = 1, 2, 3) "
        "brings w to 2.",
        "linear_w",
        measure_sgd_w,
    ),
    Chapter(
        "ch4-divergence",
        "5.2",
        "A learning rate too large diverges",
        "On the note's data with the outlier y = 1000, a learning rate that is too large "
        "makes SGD blow up to nan/inf.",
        "linear_w",
        measure_divergence,
    ),
    Chapter(
        "ch5-wb-sgd",
        "5.2",
        "SGD on y = w·x + b",
        "On ten random points of y = 2x + 0.5, SGD with lr 0.001 for 10,000 epochs "
        "finds w = 2 and b = 0.5.",
        "linear_wb",
        measure_wb_sgd,
    ),
    Chapter(
        "ch6-reduction",
        "5.4",
        "nn.Linear with MSELoss(reduction='sum')",
        "An nn.Linear(1, 1) trained with MSELoss(reduction='sum') and SGD(lr=0.01) on "
        "x = 1, 2, 3 fits y = 2x.",
        "linear_wb",
        measure_reduction,
    ),
    Chapter(
        "ch7-remedies",
        "6.4",
        "Five remedies for overfitting",
        "Weight decay, momentum, a decaying learning rate, early stopping and dropout "
        "each counter overfitting.",
        "mnist_mlp",
        measure_remedies,
    ),
    Chapter(
        "ch8-mlp",
        "7",
        "The MNIST MLP",
        "The 784-512-256-128-64-10 MLP trained with SGD (lr 0.01, momentum 0.5, batch 64) "
        "for 10 epochs classifies MNIST digits well.",
        "mnist_mlp",
        measure_mlp,
    ),
    Chapter(
        "ch9-conv2d",
        "8",
        "Conv2d's output size and settings",
        "A Conv2d with kernel size k maps a width w to w − k + 1; stride, padding, dilation "
        "and groups are its other settings, and some combinations cannot work.",
        "mnist_cnn",
        measure_conv,
    ),
)
