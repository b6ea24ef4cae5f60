"""parse_config: every refusal names the key, the value and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trainables import REGISTRY, TRAINABLES, InvalidConfig
from trainables.config import describe, param, parse_config


@dataclass(frozen=True)
class Example:
    lr: float = param(0.1, low=0.0, low_open=True)
    epochs: int = param(3, low=1, high=10)
    flag: bool = param(False)
    mode: str = param("a", choices=("a", "b"))
    sizes: list[int] = param([1, 2], low=1)
    root: str | None = param(None)


def parse(config):
    return parse_config(Example, config, "example")


def test_defaults_fill_missing_keys():
    cfg = parse({"lr": 2})
    assert cfg == Example(lr=2.0)
    assert isinstance(cfg.lr, float)
    assert parse(None) == Example()


def test_whole_floats_become_ints():
    assert parse({"epochs": 4.0}).epochs == 4


@pytest.mark.parametrize(
    ("config", "fragments"),
    [
        ({"lrr": 1}, ["unknown config key 'lrr'", "allowed keys: lr, epochs"]),
        ({"lr": "fast"}, ["lr='fast'", "wrong type", "allowed: float"]),
        ({"lr": True}, ["lr=True", "wrong type"]),
        ({"lr": 0}, ["lr=0.0", "out of range", "0 < lr"]),
        ({"lr": float("nan")}, ["lr=nan", "finite"]),
        ({"epochs": 11}, ["epochs=11", "1 <= epochs <= 10"]),
        ({"epochs": 2.5}, ["epochs=2.5", "allowed: int"]),
        ({"flag": 1}, ["flag=1", "allowed: bool"]),
        ({"mode": "c"}, ["mode='c'", "allowed: 'a', 'b'"]),
        ({"sizes": [1, 0]}, ["sizes=[1, 0]", "out of range"]),
        ({"sizes": []}, ["sizes=[]", "wrong type"]),
        ({"root": 3}, ["root=3", "str | None"]),
    ],
)
def test_refusals_name_key_value_and_allowed(config, fragments):
    with pytest.raises(InvalidConfig) as info:
        parse(config)
    message = str(info.value)
    assert message.startswith("example: ")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_non_mapping_config_is_refused():
    with pytest.raises(InvalidConfig, match="must be a mapping"):
        parse([("lr", 1)])


def test_invalid_config_is_a_value_error():
    assert issubclass(InvalidConfig, ValueError)


def test_describe_lists_every_key_with_default_and_range():
    rows = {row["key"]: row for row in describe(Example)}
    assert list(rows) == ["lr", "epochs", "flag", "mode", "sizes", "root"]
    assert rows["epochs"]["default"] == 3
    assert rows["epochs"]["allowed"] == "1 <= epochs <= 10"
    assert rows["mode"]["allowed"] == "'a', 'b'"


def test_list_defaults_are_not_shared_between_configs():
    a, b = parse({}), parse({})
    a.sizes.append(3)
    assert b.sizes == [1, 2]


def test_every_trainable_refuses_an_unknown_key_before_training():
    for name, fn in TRAINABLES.items():
        with pytest.raises(InvalidConfig, match=f"^{name}: unknown config key 'nope'"):
            fn({"nope": 1})


def test_every_documented_key_has_a_doc_line():
    for info in REGISTRY.values():
        for row in describe(info.config):
            assert row["doc"], f"{info.name}.{row['key']} has no doc"


@given(
    st.dictionaries(
        st.text(max_size=8),
        st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=5), st.booleans()),
    )
)
def test_any_mapping_is_parsed_or_refused_cleanly(config):
    try:
        cfg = parse(config)
    except InvalidConfig as exc:
        assert str(exc).startswith("example: ")
    else:
        assert cfg.lr > 0 and 1 <= cfg.epochs <= 10


def test_importing_the_registry_does_not_import_torch():
    # Spec validation and the CLI's answers to bad input must not pay torch's import.
    import subprocess
    import sys

    code = "import sys, trainables, study.specs; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
