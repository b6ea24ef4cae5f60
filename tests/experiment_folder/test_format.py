"""The experiment-folder format's rules, on plain data."""

from __future__ import annotations

import math

import pandas as pd

import experiment_folder as fmt


def test_every_status_has_a_meaning_and_the_groups_are_statuses():
    assert set(fmt.FINAL) <= set(fmt.STATUSES)
    assert set(fmt.SCORED) <= set(fmt.STATUSES)
    assert all(fmt.STATUS_MEANING[s] for s in fmt.STATUSES)
    assert "diverged" not in fmt.SCORED and "invalid" not in fmt.SCORED


def test_metric_values_prefer_the_best_epoch_and_fall_back_to_the_final_value():
    trials = pd.DataFrame({"best/loss": [0.1, math.nan], "loss": [0.3, 0.2]})
    assert list(fmt.metric_values(trials, "loss")) == [0.1, 0.2]
    assert fmt.metric_values(trials, "val_acc").isna().all()


def test_best_trial_follows_the_mode_and_skips_unscored_trials():
    trials = pd.DataFrame(
        {
            "trial_id": ["a", "b", "c"],
            "status": ["completed", "diverged", "stopped"],
            "best/loss": [0.5, 0.0, 0.2],
        }
    )
    assert fmt.best_trial(trials, "loss", "min")["trial_id"] == "c"
    assert fmt.best_trial(trials, "loss", "max")["trial_id"] == "a"
    assert fmt.best_trial(trials.iloc[[1]], "loss", "min") is None
    assert fmt.best_trial(pd.DataFrame(), "loss", "min") is None


def test_choices_of_lists_are_decoded_and_anything_else_is_left_alone():
    channels = {"choice": [[4, 8], [8, 16]]}
    assert fmt.decode_choice(channels, 1) == [8, 16]
    assert fmt.decode_choice(channels, "1") == [8, 16]
    assert fmt.decode_choice(channels, 7) == 7  # a damaged folder's index: kept as it is
    assert fmt.decode_choice({"choice": [1, 2]}, 1) == 1  # plain choices travel as values
    assert fmt.decode_choice({"loguniform": [0.1, 1]}, 0.5) == 0.5
    assert fmt.decode_choice("garbage", 3) == 3


def test_variants_expand_under_the_sampled_values():
    variants = {"wd": {"weight_decay": 0.01, "lr": 0.5}}
    out = fmt.decode_params({}, variants, {"variant": "wd", "lr": 0.1})
    assert out == {"weight_decay": 0.01, "lr": 0.1, "variant": "wd"}
    assert fmt.decode_params({}, "not a mapping", {"variant": "x"}) == {"variant": "x"}


def test_error_line_is_the_last_type_and_message_line():
    text = 'Traceback (most recent call last):\n  File "a.py", line 1\n    x()\nValueError: bad\n'
    assert fmt.error_line(text) == "ValueError: bad"
    assert fmt.error_line("") == "error"
    assert len(fmt.error_line("E: " + "x" * 1000)) == 300


def test_a_trial_lost_with_its_node_says_so_in_one_line():
    # Ray 2.60's error.txt after a worker node's raylet was SIGKILLed (seen in
    # test_reliability's lost-node test with max_failures 0).
    seen = (
        "Failure # 1 (occurred at 2026-11-30_11-37-52)\n"
        "The actor ba3fcceeb8116818e9c738d901000000 is unavailable: The actor is temporarily "
        "unavailable: RpcError: RPC error: Socket closed rpc_code: 14. The task may or may "
        "not have been executed on the actor."
    )
    line = fmt.error_line(seen)
    assert line.startswith("lost with its node: Ray lost the worker that ran it")
    died = (
        "ray.exceptions.ActorDiedError: The actor is dead because its node has died.\nip: 10.1.2.3"
    )
    assert fmt.error_line(died).startswith("lost with its node (10.1.2.3):")
    # Its own process died (test_reliability's dying trial): not a lost node.
    own = (
        "ray.exceptions.ActorDiedError: The actor died unexpectedly before finishing this "
        "task.\n\tip: 192.0.2.2\nThe actor is dead because its worker process has died."
    )
    assert not fmt.error_line(own).startswith("lost with its node")
    assert fmt.error_line("Traceback\nValueError: socket closed") == (
        "ValueError: socket closed"  # a user's own error is not a lost node
    )


def test_the_status_names_are_spelled_only_in_experiment_folder():
    """A status is renamed in one place: the code compares, sets and lists statuses
    through experiment_folder's names, never as string literals of its own."""
    import re
    from pathlib import Path

    import experiment_folder as fmt

    names = "|".join(fmt.STATUSES)
    patterns = [
        rf'status\w*"?\]?\s*(==|!=)\s*"({names})"',  # status == "diverged", ["status"] != ...
        rf'"status":\s*"({names})"',  # {"status": "invalid"}
        rf'isin\(\([^)]*"({names})"',  # .isin(("completed", ...))
        rf'return\s+"({names})"',  # return "stopped"
        rf'status\s+in\s+\([^)]*"({names})"',  # status in ("diverged", ...)
    ]
    root = Path(__file__).resolve().parents[2]
    found = []
    for package in ("analysis", "study"):
        for path in (root / package).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if any(re.search(p, line) for p in patterns):
                    found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
