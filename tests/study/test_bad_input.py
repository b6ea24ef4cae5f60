"""Property-based bad input: spec files, CLI arguments and experiment names.

Every case runs ``study``'s own ``main`` in this process (a subprocess per example
would cost seconds). Ray is replaced by a stand-in that refuses to start, so a
generated spec that happens to be valid ends, visibly, at "Ray would start here"
rather than running a study. The properties:

- the command ends with exit code 2 and exactly one line on stderr, ``error: ...``,
  never a traceback (or, for a valid spec, reaches Ray's start);
- nothing is written outside the storage folder.
"""

from __future__ import annotations

import contextlib
import os
import string
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cli_inprocess import files, run_cli
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from study.errors import SpecError
from study.execution import cluster
from study.run.start import experiment_dir
from study.specs import TOP_KEYS, check_name

REACHED_RAY = "REACHED RAY: a valid spec"
SPEC_KEYS = [*TOP_KEYS, "suite", "preset"]  # every key a spec may have, and more
NESTED_KEYS = [
    "algorithm",
    "seed",
    "n_startup_trials",
    "name",
    "max_t",
    "grace_period",
    "reduction_factor",
    "cpu",
    "gpu",
    "lr",
    "epochs",
    "dataset",
    "channels",
    "uniform",
    "loguniform",
    "int",
    "choice",
    "grid",
    "grid_range",
    "batch_size",
    "preset",
    "data_root",
]
WORDS = [
    "optuna",
    "random",
    "grid",
    "asha",
    "fifo",
    "max",
    "min",
    "loss",
    "val_acc",
    "linear_w",
    "mnist_mlp",
    "mnist_cnn",
    "flaky",
    "mnist",
    "mnist5k",
    "auto",
    "../../../etc",
    "/tmp/x",
    "..",
    "ünïcødé-名前",
    "",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(NESTED_KEYS) | st.text(max_size=6), inner, max_size=4),
    ),
    max_leaves=12,
)
spec_dicts = st.dictionaries(
    st.sampled_from(SPEC_KEYS) | st.text(max_size=8), values, min_size=0, max_size=8
)
VALID = {"name": "ok", "trainable": "linear_w", "metric": "loss", "mode": "min"}


def _refuse_ray(address: str | None) -> bool:
    raise cluster.ClusterError(REACHED_RAY)


@contextlib.contextmanager
def _sandbox() -> Iterator[Path]:
    """A fresh working directory; the old one is restored afterwards."""
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(cwd)


def _under(relative: str, folder: str) -> bool:
    return relative == folder or relative.startswith(folder + os.sep)


def assert_one_line_error(code: int, err: str) -> None:
    assert "Traceback" not in err, err
    assert code == 2, (code, err)
    assert err.startswith("error: ") and err.count("\n") == 1, err


@pytest.fixture(autouse=True)
def no_ray(monkeypatch):
    monkeypatch.setattr(cluster, "connect", _refuse_ray)


def _run_spec_text(text: str | bytes) -> tuple[int, str, set[str]]:
    with _sandbox() as tmp:
        path = tmp / "spec.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        before = files(tmp)
        code, _, err = run_cli(["run", str(path), "--storage", "st", "--no-report"])
        outside = {f for f in files(tmp) - before if not _under(f, "st")}
    return code, err, outside


SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(spec_dicts)
def test_any_spec_mapping_is_refused_in_one_line_or_reaches_ray(raw):
    code, err, outside = _run_spec_text(yaml.safe_dump(raw, allow_unicode=True))
    assert not outside
    assert_one_line_error(code, err)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["config", "space", "search", "scheduler"]), values))
def test_a_valid_head_with_any_body_is_refused_in_one_line_or_reaches_ray(body):
    code, err, outside = _run_spec_text(yaml.safe_dump({**VALID, **body}, allow_unicode=True))
    assert not outside
    assert_one_line_error(code, err)


@SETTINGS
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_any_text_as_a_spec_file_is_refused_in_one_line(text):
    code, err, outside = _run_spec_text(text)
    assert not outside
    assert_one_line_error(code, err)
    assert REACHED_RAY not in err  # no text of this size is a whole valid spec


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("!!python/object/apply:os.system ['touch pwned']", "could not determine a constructor"),
        ("name: !!python/name:os.system\n", "could not determine a constructor"),
        ("a: [1, 2\n", "expected ',' or ']'"),
        ("- 1\n- 2\n", "must be a mapping"),
        ("name: x\nname: y\ntrainable: linear_w\n", "line 2, column 1: duplicate key 'name'"),
        ("space: {lr: {uniform: [0, 1]}, lr: {grid: [1]}}\n", "duplicate key 'lr'"),
        (
            f"{{name: ok, trainable: linear_w, metric: loss, mode: min, num_samples: {10**30}}}",
            "<=",
        ),
        ("{name: ok, trainable: linear_w, metric: loss, mode: min, space: {}}", REACHED_RAY),
        (
            "{name: ok, trainable: linear_w, metric: loss, mode: min, config: {epochs: .inf}}",
            "epochs",
        ),
    ],
)
def test_specs_are_data_only_and_errors_name_the_problem(text, fragment):
    code, err, outside = _run_spec_text(text)
    assert_one_line_error(code, err)
    assert fragment in err
    assert not outside and not Path("pwned").exists()


TOKENS = [
    "run",
    "resume",
    "analyze",
    "compare",
    "presets",
    "--name",
    "--storage",
    "--num-samples",
    "--set",
    "--address",
    "--gpus-per-trial",
    "--no-report",
    "--out",
    "--format",
    "lr-divergence",
    "brute-force-w",
    "quickstart",
    "lr=0.1",
    "lr=-1",
    "scheduler.max_t=0",
    "num_samples=3",
    "=",
    "-1",
    "0",
    "1e400",
    "nan",
    "../../outside",
    "/etc",
    "md",
    "ünï",
    "",
]


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS) | st.text(max_size=10), min_size=1, max_size=7))
def test_any_command_line_is_one_line_or_succeeds(argv):
    assume(not any(a.startswith("-h") or a.startswith("--h") for a in argv))
    assume(not any(a.startswith("--de") for a in argv))  # --debug shows tracebacks on purpose
    with _sandbox() as tmp:
        before = files(tmp)
        code, out, err = run_cli([*argv, "--storage", "st"] if argv[0] == "run" else argv)
        outside = {
            f for f in files(tmp) - before if not (_under(f, "st") or _under(f, "comparison"))
        }
    assert "Traceback" not in err + out
    if code == 0:  # 'presets' (and only commands that need no Ray nor results) succeed
        assert argv[0] == "presets" and not err
    else:
        assert_one_line_error(code, err)
    assert not outside, outside


@SETTINGS
@given(st.text(max_size=40) | st.sampled_from(["..", "../x", "a/../../b", "/abs", "a/b", "."]))
def test_names_never_leave_the_storage_folder(name):
    storage = Path(tempfile.gettempdir()) / "st-names"
    try:
        safe = check_name(name)
    except SpecError as exc:
        assert "\n" not in str(exc) and "not a safe folder name" in str(exc)
        with _sandbox() as tmp:
            code, _, err = run_cli(["run", "lr-divergence", f"--name={name}", "--storage", "st"])
            assert files(tmp) == set()
        assert_one_line_error(code, err)
        return
    folder = experiment_dir(storage, safe)
    assert folder.resolve().parent == storage.resolve()
    assert set(safe) <= set(string.ascii_letters + string.digits + "._-")


def test_reaching_ray_is_the_stand_in():
    """The stand-in is what valid specs reach, so the properties above are not vacuous."""
    with _sandbox() as tmp:
        (tmp / "ok.yaml").write_text(yaml.safe_dump(VALID))
        code, _, err = run_cli(["run", "ok.yaml", "--storage", "st"])
        assert files(tmp) == {"ok.yaml"}
    assert code == 2 and REACHED_RAY in err
