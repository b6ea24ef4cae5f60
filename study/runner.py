"""Spec -> Ray Tune experiment -> experiment folder with spec.yaml, trials.csv, history.csv."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from trainables import InvalidConfig

from . import cluster, ledger, presets
from .searchers import METRIC, make_scheduler, make_searcher
from .spec import (
    Interrupted,
    Resources,
    Spec,
    SpecError,
    StudyError,
    apply_overrides,
    build_spec,
    check_name,
    read_yaml,
)
from .tables import UNFINISHED, build_tables, status_counts, write_tables
from .trial import TrialPlan, run_trial

log = logging.getLogger(__name__)

DEFAULT_STORAGE = Path("studies")
SUITE_FILE = "suite.yaml"
AUTO_GPU_SHARE = 0.25  # resources.gpu: auto -> four small trials share one card


def load_raw(spec_or_path: Any) -> tuple[Any, str | None]:
    """Plain spec data from a mapping, a Spec, a YAML file or a preset name, and the name
    it was found under (the preset's or the file's stem)."""
    if isinstance(spec_or_path, Spec):
        return spec_or_path.to_dict(), None
    if isinstance(spec_or_path, Mapping):
        return dict(spec_or_path), None
    path = Path(str(spec_or_path))
    if path.is_file():
        return read_yaml(path), path.stem
    if str(spec_or_path) in presets.names():
        return presets.load(str(spec_or_path)), str(spec_or_path)
    raise SpecError(
        f"{spec_or_path!s:.100}: no such spec file or preset; presets: {', '.join(presets.names())}"
    )


def load_spec(
    spec_or_path: Any, sets: Mapping[str, Any] | None = None, num_samples: int | None = None
) -> Spec:
    """A Spec from a mapping, a YAML file or a preset name, with overrides applied."""
    raw, _ = load_raw(spec_or_path)
    return _build(raw, sets, num_samples)


def _build(raw: Any, sets: Mapping[str, Any] | None, num_samples: int | None) -> Spec:
    if not isinstance(raw, Mapping):
        raise SpecError(f"spec: must be a mapping, got {type(raw).__name__}")
    if "suite" in raw:
        raise SpecError("spec: this is a suite of studies; run it with study run / run_study")
    raw = apply_overrides(raw, sets or {})
    if num_samples is not None:
        raw["num_samples"] = num_samples
    config = raw.get("config")
    if isinstance(config, dict) and isinstance(config.get("data_root"), str):
        # Ray runs each trial in its own folder: a relative path would point elsewhere.
        config["data_root"] = str(Path(config["data_root"]).expanduser().resolve())
    return build_spec(raw)


def suite_specs(
    raw: Mapping[str, Any], sets: Mapping[str, Any] | None, num_samples: int | None
) -> list[Spec]:
    """The studies of a suite, validated: each part is a spec, or ``{preset: NAME, ...}`` with
    spec keys that replace the preset's (``config`` is merged key by key)."""
    parts = raw.get("suite")
    unknown = [k for k in raw if k not in ("suite", "name", "description")]
    if unknown:
        raise SpecError(f"suite: unknown key {unknown[0]!r}; allowed: suite, name, description")
    if not isinstance(parts, list) or not parts:
        raise SpecError("suite: must be a non-empty list of presets or specs")
    specs = []
    for i, part in enumerate(parts):
        if not isinstance(part, Mapping):
            raise SpecError(f"suite[{i}]: must be a mapping, got {part!r:.60}")
        if "preset" in part:
            if part["preset"] not in presets.names():
                raise SpecError(
                    f"suite[{i}].preset: unknown preset {part['preset']!r:.60}; "
                    f"allowed: {', '.join(presets.names())}"
                )
            base = presets.load(part["preset"])
            for key, value in part.items():  # spec keys over the preset's; config merges
                if key == "config" and isinstance(value, Mapping):
                    base["config"] = {**(base.get("config") or {}), **value}
                elif key != "preset":
                    base[key] = value
        else:
            base = dict(part)
        specs.append(_build(base, sets, num_samples))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise SpecError(f"suite: study names must differ, got {names}")
    return specs


def experiment_dir(storage: Path, name: str) -> Path:
    """``<storage>/<name>``, or ``<name>-2``, ``-3``... so an earlier study is never overwritten."""
    check_name(name)
    folder = storage / name
    n = 2
    while folder.exists() and any(folder.iterdir()):
        folder = storage / f"{name}-{n}"
        n += 1
    if folder.name != name:
        log.info("%s exists; writing to %s", storage / name, folder)
    return folder


def _resources(spec: Spec, gpus_per_trial: float | None) -> Resources:
    """Resolve ``gpu: auto`` and check GPU requests against the cluster."""
    gpu = spec.resources.gpu if gpus_per_trial is None else gpus_per_trial
    available = cluster.cluster_gpus()
    if gpu == "auto":
        gpu = AUTO_GPU_SHARE if available > 0 else 0.0
    elif float(gpu) > 0 and available == 0:
        raise cluster.ClusterError(
            f"resources.gpu={gpu} per trial, but the Ray cluster has no GPUs; "
            "use gpu: 0 or gpu: auto"
        )
    cpus = cluster.cluster_cpus()
    if spec.resources.cpu > cpus:
        raise cluster.ClusterError(
            f"resources.cpu={spec.resources.cpu:g} per trial, but the cluster has {cpus:g} CPUs"
        )
    return Resources(spec.resources.cpu, float(gpu))


def make_plan(spec: Spec, resources: Resources) -> TrialPlan:
    return TrialPlan(
        trainable=spec.trainable,
        metric=spec.metric,
        worst=spec.worst_value(),
        fixed=dict(spec.config),
        variants=dict(spec.variants),
        space=dict(spec.space),
        search_seed=spec.search.seed or 0,
        use_gpu=float(resources.gpu) > 0,
        cpus=resources.cpu,
        checkpoint=spec.checkpoint,
    )


def _trainable(plan: TrialPlan, resources: Resources) -> Any:
    from ray import tune

    fn = tune.with_parameters(run_trial, plan=plan)
    return tune.with_resources(fn, {"cpu": resources.cpu, "gpu": float(resources.gpu)})


def _param_space(spec: Spec) -> dict[str, Any]:
    from ray import tune

    space = {name: dim.to_ray() for name, dim in spec.space.items()}
    if spec.variants:
        space["variant"] = tune.grid_search(list(spec.variants))
    return space


def _run_config(spec: Spec, folder: Path) -> Any:
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    from .progress import TrialLines

    return tune.RunConfig(
        name=folder.name,
        storage_path=str(folder.parent.resolve()),
        verbose=0,
        callbacks=[JsonLoggerCallback(), CSVLoggerCallback(), TrialLines(spec)],
        failure_config=tune.FailureConfig(max_failures=spec.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
    )


def _tuner(spec: Spec, folder: Path, plan: TrialPlan, resources: Resources) -> Any:
    from ray import tune

    max_concurrent = spec.max_concurrent or max(1, int(cluster.cluster_cpus() // resources.cpu))
    return tune.Tuner(
        _trainable(plan, resources),
        param_space=_param_space(spec),
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode=spec.mode,
            num_samples=spec.num_samples,
            search_alg=make_searcher(spec, max_concurrent),
            scheduler=make_scheduler(spec),
            time_budget_s=spec.time_budget_s,
            # One worker process runs trial after trial: no process start-up per
            # trial, and a data set loaded once per worker (DESIGN.md: 3 s -> 0.25 s).
            reuse_actors=True,
        ),
        run_config=_run_config(spec, folder),
    )


def write_spec(folder: Path, spec: Spec, extra: Mapping[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = {**spec.to_dict(), "run": dict(extra)}
    (folder / "spec.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _ray_statuses(folder: Path) -> dict[str, str]:
    """Ray Tune's own status of each trial (TERMINATED, ERROR, or PENDING/RUNNING when the
    study was interrupted), read back from the experiment folder."""
    from ray import tune

    return {t.trial_id: t.status for t in tune.ExperimentAnalysis(str(folder)).trials}


def _finish(
    results: Any, spec: Spec, plan: TrialPlan, folder: Path, started: float, report: bool
) -> Path:
    """Write the tables, the wall time, the summary and the report; raise Interrupted when
    trials were left unfinished (after writing everything)."""
    trials, history = build_tables(results, spec, plan, _ray_statuses(folder), ledger.read(folder))
    write_tables(folder, trials, history)
    _add_wall_time(folder, time.monotonic() - started)
    counts = status_counts(trials)
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    log.info("%d trials in %.1f s: %s", len(trials), time.monotonic() - started, summary or "none")
    scored = (
        trials[trials["status"].isin(("completed", "stopped", "early_stopped"))]
        if not trials.empty
        else trials
    )
    if not scored.empty and "best/objective" in scored:
        col = scored["best/objective"].astype(float)
        best = scored.loc[col.idxmax() if spec.mode == "max" else col.idxmin()]
        params = ", ".join(
            f"{k}={best[f'config/{k}']:.4g}"
            if isinstance(best[f"config/{k}"], float)
            else f"{k}={best[f'config/{k}']}"
            for k in spec.space
        )
        log.info(
            "best trial %s: %s=%.4g %s",
            best["trial_id"],
            spec.metric,
            float(best["best/objective"]),
            params,
        )
    log.info("results in %s", folder)
    if report:
        write_report(folder)
    if counts["unfinished"]:
        raise Interrupted(folder, counts["unfinished"])
    return folder


def _add_wall_time(folder: Path, seconds: float) -> None:
    """Record the driver's wall time in spec.yaml's run section (summed over resumes)."""
    path = folder / "spec.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    run = data.get("run") or {}
    run["wall_s"] = round(float(run.get("wall_s") or 0.0) + seconds, 2)
    data["run"] = run
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def write_report(folder: Path) -> Path | None:
    """The analysis report of a finished study; a failure here loses no results, so it is
    logged, not raised."""
    import analysis

    try:
        out = analysis.write_report(analysis.load(folder))
    except (analysis.AnalysisError, ValueError, OSError) as exc:
        log.warning("no report for %s: %s", folder, exc)
        return None
    log.info("report: %s", out / "index.html")
    return out


def run_study(
    spec_or_path: Any,
    *,
    name: str | None = None,
    storage: str | Path | None = None,
    num_samples: int | None = None,
    set: Mapping[str, Any] | None = None,  # mirrors the CLI's --set
    address: str | None = None,
    gpus_per_trial: float | None = None,
    report: bool = True,
) -> Path:
    """Run a study (or a suite of studies) from a mapping, a YAML path or a preset name.

    Everything is validated before Ray starts. Returns the experiment folder (for a
    suite, the folder holding one experiment folder per study); with ``report`` each
    study's folder gets ``report/index.html`` and ``report/report.md``.
    """
    raw, found_as = load_raw(spec_or_path)
    if gpus_per_trial is not None and not gpus_per_trial >= 0:
        raise SpecError(f"--gpus-per-trial must be >= 0, got {gpus_per_trial}")
    root = Path(storage or DEFAULT_STORAGE).resolve()
    if isinstance(raw, Mapping) and "suite" in raw:
        specs = suite_specs(raw, set, num_samples)
        for spec in specs:
            _check_data(spec, address)
        folder = experiment_dir(root, check_name(name or raw.get("name") or found_as or "suite"))
        folder.mkdir(parents=True)
        suite = {"suite": [s.to_dict() for s in specs], "description": raw.get("description", "")}
        (folder / SUITE_FILE).write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
        with _ray(address):
            for spec in specs:
                _run_one(spec, folder / spec.name, address, gpus_per_trial, report)
        return folder
    spec = _build(raw, set, num_samples)
    if name is not None:
        spec = replace(spec, name=check_name(name))
    _check_data(spec, address)
    with _ray(address):
        return _run_one(spec, experiment_dir(root, spec.name), address, gpus_per_trial, report)


@contextlib.contextmanager
def _ray(address: str | None) -> Iterator[None]:
    """Ray up for the block; stopped afterwards only if this block started it."""
    owned = cluster.connect(address)
    try:
        yield
    finally:
        if owned:
            import ray

            ray.shutdown()


def _check_data(spec: Spec, address: str | None) -> None:
    """Refuse a local study whose fixed data set is missing, rather than run N invalid trials.

    On a cluster (``--address``) the workers may hold data this machine lacks, so each
    trial checks for itself there.
    """
    dataset = spec.config.get("dataset")
    if address or dataset != "mnist" or "dataset" in spec.space:
        return
    from trainables.data import check_available

    try:
        check_available(dataset, spec.config.get("data_root"), bool(spec.config.get("download")))
    except InvalidConfig as exc:
        raise SpecError(f"config.dataset: {exc}") from None


def _run_one(
    spec: Spec, folder: Path, address: str | None, gpus_per_trial: float | None, report: bool
) -> Path:
    started = time.monotonic()
    resources = _resources(spec, gpus_per_trial)
    plan = make_plan(spec, resources)
    write_spec(folder, spec, {"address": address, "resources": vars(resources)})
    log.info(
        "study %s: %s, %s search, %s scheduler, num_samples=%d -> %s",
        spec.name,
        spec.trainable,
        spec.search.algorithm,
        spec.scheduler.name,
        spec.num_samples,
        folder,
    )
    results = _tuner(spec, folder, plan, resources).fit()
    return _finish(results, spec, plan, folder, started, report)


def resume_study(
    experiment: str | Path, *, address: str | None = None, report: bool = True
) -> Path:
    """Continue an interrupted study: finished trials are kept, unfinished ones rerun
    (from their last checkpoint where the trainable checkpoints), and the searcher's
    state is restored by Ray Tune. A suite folder resumes each unfinished study and
    runs those that had not started."""
    folder = Path(experiment).resolve()
    if (folder / SUITE_FILE).is_file():
        raw = read_yaml(folder / SUITE_FILE)
        specs = [build_spec(part) for part in (raw or {}).get("suite", [])]
        with _ray(address):
            for spec in specs:
                child = folder / spec.name
                if not (child / "spec.yaml").is_file():
                    _run_one(spec, child, address, None, report)  # interrupted before it
                elif set(_ray_statuses(child).values()) & set(UNFINISHED):
                    _resume_one(child, report)
        return folder
    if not (folder / "spec.yaml").is_file():
        raise StudyError(f"{folder}: not a study folder (no spec.yaml or {SUITE_FILE})")
    with _ray(address):
        return _resume_one(folder, report)


def _resume_one(folder: Path, report: bool) -> Path:
    from ray import tune

    raw = read_yaml(folder / "spec.yaml")
    if not isinstance(raw, dict):
        raise StudyError(f"{folder / 'spec.yaml'}: not a spec")
    run_info = raw.pop("run", None) or {}
    spec = build_spec(raw)
    started = time.monotonic()
    resources = (
        Resources(**run_info["resources"]) if "resources" in run_info else _resources(spec, None)
    )
    plan = make_plan(spec, resources)
    ledger.repair_state(folder)
    if not tune.Tuner.can_restore(str(folder)):
        raise StudyError(f"{folder}: Ray Tune has no experiment state to resume here")
    tuner = tune.Tuner.restore(
        str(folder),
        trainable=_trainable(plan, resources),
        resume_unfinished=True,
        resume_errored=False,
        restart_errored=False,
    )
    log.info("resuming %s", folder)
    results = tuner.fit()
    return _finish(results, spec, plan, folder, started, report)
