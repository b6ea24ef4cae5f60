"""deploy/ (issue 22): the KubeRay RayJob manifest, the 'ray up' cluster YAML and the
image they run, checked against what this project is tested with."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import ray
import yaml

from study.cli import _parser
from study.specs import presets

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# KubeRay's RayJob v1 spec fields (ray-operator/apis/ray/v1/rayjob_types.go).
RAYJOB_FIELDS = {
    "entrypoint",
    "runtimeEnvYAML",
    "rayClusterSpec",
    "shutdownAfterJobFinishes",
    "ttlSecondsAfterFinished",
    "activeDeadlineSeconds",
    "backoffLimit",
    "submitterPodTemplate",
    "submitterConfig",
    "jobId",
    "metadata",
    "clusterSelector",
    "managedBy",
    "submissionMode",
    "entrypointResources",
    "entrypointNumCpus",
    "entrypointNumGpus",
    "suspend",
    "deletionStrategy",
}


def _load(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


def _tag_version(image: str) -> str:
    """'study-harness:2.60.0-py311' -> '2.60.0'."""
    found = re.search(r":(\d+\.\d+\.\d+)", image)
    assert found, image
    return found.group(1)


def _containers(spec: dict) -> list[dict]:
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    return [c for g in groups for c in g["template"]["spec"]["containers"]]


def test_the_rayjob_is_kuberays_v1_and_pins_the_tested_ray():
    job = _load("rayjob.yaml")
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    spec = job["spec"]
    assert set(spec) <= RAYJOB_FIELDS, set(spec) - RAYJOB_FIELDS
    for field in ("entrypoint", "runtimeEnvYAML", "rayClusterSpec"):
        assert spec[field], field
    assert spec["shutdownAfterJobFinishes"] is True
    assert isinstance(spec["ttlSecondsAfterFinished"], int)
    assert isinstance(yaml.safe_load(spec["runtimeEnvYAML"]), dict)
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == ray.__version__
    for container in _containers(cluster):
        assert _tag_version(container["image"]) == ray.__version__
        # Every node reaches the bucket: on a cluster the trials write their checkpoints.
        assert {"secretRef": {"name": "study-s3"}} in container["envFrom"]


def test_the_rayjob_entrypoint_parses_with_studys_own_parser():
    argv = shlex.split(_load("rayjob.yaml")["spec"]["entrypoint"])
    assert argv[0] == "study"
    args = _parser().parse_args(argv[1:])
    assert args.command == "run"
    assert args.spec in dict(presets.describe())
    assert args.storage.startswith("s3://")


def test_the_cluster_yaml_and_the_image_pin_the_tested_ray():
    launcher = _load("cluster.yaml")
    assert _tag_version(launcher["docker"]["image"]) == ray.__version__
    assert launcher["head_node_type"] in launcher["available_node_types"]
    starts = " ".join(launcher["head_start_ray_commands"] + launcher["worker_start_ray_commands"])
    assert "RAY_AUTH_MODE=token ray start --head" in starts
    assert "RAY_AUTH_MODE=token ray start --address=" in starts
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert base.startswith("rayproject/ray:") and _tag_version(base) == ray.__version__
