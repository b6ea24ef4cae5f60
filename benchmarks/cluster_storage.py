"""Benchmark 8: what durable storage and a lost node cost (issue 22).

1. **Upload overhead.** The same study (mlp-search, on the private Ray that
   ``study run`` starts) with ``--storage`` a local folder and with ``--storage
   s3://...`` on a loopback S3 server (SeaweedFS's ``weed``, as in the tests), run
   alternately, ``--repeats`` pairs. Reported: wall time of each, the median of the
   per-pair ratios, and the mirror's own upload time (files and seconds, per trial
   and in all) from the study's last line.
2. **A lost node.** A head and a worker node (one CPU each) on this machine, a grid
   study joined to them with its results in S3; the worker node is killed (SIGKILL
   to its raylet and everything under it) while it runs a trial. Reported: seconds
   from the kill to the retried trial's completion, and to the study's end.

    python benchmarks/cluster_storage.py [--preset mlp-search] [--num-samples 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
sys.path.insert(0, str(ROOT))
from common import save, table  # noqa: E402

STUDY = str(Path(sys.executable).parent / "study")
UPLOADED = re.compile(r"uploaded to \S+: (\d+) file\(s\) in ([\d.]+) s in all")
TRIALS = re.compile(r"^(\d+) trials in ([\d.]+) s", re.M)


def _run(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run([STUDY, *args], env=env, capture_output=True, text=True, timeout=3600)
    took = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"study {' '.join(args)} failed: {done.stderr[-2000:]}")
    return took, done.stdout


def upload_overhead(server, preset: str, num_samples: int, repeats: int) -> dict:
    server.make_bucket("bench")
    base = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    rows = []
    for repeat in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            env = {**base, **server.env(), "STUDY_HARNESS_CACHE": f"{tmp}/cache"}
            common = [preset, "--num-samples", str(num_samples), "--no-report"]
            local_s, _ = _run(["run", *common, "--storage", f"{tmp}/local"], env)
            uri = f"s3://bench/r{repeat}"
            s3_s, out = _run(["run", *common, "--storage", uri], env)
        files, upload_s = UPLOADED.search(out).groups()  # type: ignore[union-attr]
        trials = int(TRIALS.search(out).group(1))  # type: ignore[union-attr]
        rows.append(
            {
                "repeat": repeat,
                "local_s": round(local_s, 1),
                "s3_s": round(s3_s, 1),
                "ratio": round(s3_s / local_s, 3),
                "trials": trials,
                "files": int(files),
                "upload_s": float(upload_s),
                "upload_per_trial_ms": round(1000 * float(upload_s) / trials, 1),
            }
        )
        print(table([rows[-1]]), flush=True)
    return {
        "rows": rows,
        "median_ratio": statistics.median(r["ratio"] for r in rows),
        "median_upload_s": statistics.median(r["upload_s"] for r in rows),
        "median_upload_per_trial_ms": statistics.median(r["upload_per_trial_ms"] for r in rows),
    }


def lost_node(server) -> dict:
    import yaml

    from tests.study import procs
    from tests.study.conftest import ensure_token, start_head, start_worker, stop_node

    server.make_bucket("lost")
    ensure_token()
    address, temp_dir = start_head(num_cpus=1)
    node_port = None
    tmp = Path(tempfile.mkdtemp())
    try:
        node_port, raylet = start_worker(address, env=dict(os.environ))
        spec = tmp / "lost.yaml"
        spec.write_text(
            yaml.safe_dump(
                {
                    "name": "lost",
                    "trainable": "mnist_mlp",
                    "metric": "val_acc",
                    "mode": "max",
                    "search": {"algorithm": "grid"},
                    "max_concurrent": 2,
                    "config": {"dataset": "mnist5k", "epochs": 6},
                    "space": {"lr": {"grid": [0.01, 0.03, 0.1, 0.3]}},
                }
            )
        )
        env = {**os.environ, **server.env(), "STUDY_HARNESS_CACHE": str(tmp / "cache")}
        proc = subprocess.Popen(
            [STUDY, "run", str(spec), "--storage", "s3://lost/studies", "--address", address],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 300
        while not any("ImplicitFunc" in procs.cmdline(p) for p in procs.descendants(raylet)):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit(f"no trial ran on the worker node: {proc.communicate()[0]}")
            time.sleep(0.2)
        time.sleep(3.0)  # into the trial's epochs
        procs.kill(procs.descendants(raylet) | {raylet})
        killed = time.monotonic()
        lines: list[tuple[float, str]] = []
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append((time.monotonic() - killed, line.rstrip()))
        proc.wait()
        ended = time.monotonic() - killed
    finally:
        stop_node(temp_dir)
        if node_port is not None:
            procs.kill(procs.with_marker(f"--node_manager_port={node_port}"))
        shutil.rmtree(tmp, ignore_errors=True)
    said = next((t for t, line in lines if line.startswith("lost ")), None)
    completions = [t for t, line in lines if " completed " in line]
    summary = next((line for _, line in lines if re.match(r"\d+ trials in", line)), "")
    return {
        "exit": proc.returncode,
        "kill_to_lost_line_s": round(said, 1) if said is not None else None,
        "kill_to_last_completion_s": round(max(completions), 1) if completions else None,
        "kill_to_end_s": round(ended, 1),
        "summary": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="mlp-search")
    parser.add_argument("--num-samples", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-lost-node", action="store_true")
    args = parser.parse_args()
    import s3_server  # tests/helpers/s3_server.py

    server = s3_server.start()
    try:
        overhead = upload_overhead(server, args.preset, args.num_samples, args.repeats)
        print(f"median s3/local wall time: {overhead['median_ratio']:.3f}")
        node = None if args.skip_lost_node else lost_node(server)
        if node:
            print(table([node]))
    finally:
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)
    save(
        "cluster_storage",
        {
            "preset": args.preset,
            "num_samples": args.num_samples,
            "upload": overhead,
            "lost_node": node,
        },
    )


if __name__ == "__main__":
    main()
