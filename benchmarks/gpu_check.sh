#!/usr/bin/env bash
# Benchmark 5: the GPU check, for a machine with an NVIDIA GPU (under 5 minutes).
# Installs the project, runs the MNIST epoch benchmark on the GPU, runs a 4-trial
# study with gpu: 0.25 per trial and checks that the trials really trained on the
# GPU (trials.csv's device column and the trainables' cuda tensors), then prints
# the figures. Run from the repository root: bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
OUT=${OUT:-$(mktemp -d)}

if [ -f .whl/site.tar.xz ]; then
  # An offline GPU machine (no package index): the packages its image lacks
  # (Ray, Optuna, mlxtend and their own needs) come unpacked from a tarball made
  # on a machine with an index; see BENCHMARKS.md section 5 for how it is made.
  mkdir -p /tmp/site && tar -xJf .whl/site.tar.xz -C /tmp/site
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . 2>&1 | grep -v "^WARNING" || true
else
  python3 -m pip install -q -e . 2>&1 | grep -v "^WARNING: Location" || true
fi
python3 -c "import ray, optuna, torch; print('ray', ray.__version__, 'optuna', optuna.__version__)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

python3 - <<'PY'
import torch
assert torch.cuda.is_available(), "no CUDA device visible to torch"
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0))
PY

# 1. Epoch throughput on the GPU (the trainables pick cuda with device: auto).
python3 - <<'PY'
import sys, tempfile, time
from pathlib import Path
sys.path.insert(0, "benchmarks")
from epoch_throughput import make_idx, EPOCH
from trainables import TRAINABLES
with tempfile.TemporaryDirectory() as tmp:
    root = Path(tmp)
    make_idx(root)
    for model in ("mlp", "cnn"):
        for batch in (64, 256):
            cfg = {"dataset": "mnist", "data_root": str(root), "epochs": 2, "batch_size": batch,
                   "device": "cuda"}
            history = []
            TRAINABLES[f"mnist_{model}"](cfg, history.append)
            rate = history[-1]["samples_per_s"]  # epoch 2: warm
            print(f"gpu {model} batch {batch}: {rate:,.0f} samples/s = {EPOCH / rate:.2f} s/epoch, "
                  f"full epoch incl. eval {history[-1]['time_s']:.2f} s, "
                  f"test_acc {history[-1]['test_acc']:.4f}")
PY

# 2. A 4-trial study with a quarter GPU per trial: 4 trials share the card at once.
python3 -m study.cli run mlp-search --storage "$OUT/studies" --name gpu-check --num-samples 4 \
  --set epochs=3 --set scheduler.max_t=3 --set scheduler.grace_period=3 \
  --gpus-per-trial 0.25 --no-report
python3 - "$OUT/studies/gpu-check" <<'PY'
import sys
import pandas as pd
trials = pd.read_csv(f"{sys.argv[1]}/trials.csv")
print(trials[["trial_id", "status", "config/device", "val_acc", "samples_per_s"]].to_string())
assert (trials["config/device"] == "cuda").all(), "a trial did not run on the GPU"
assert (trials["status"].isin(["completed", "diverged"])).all()
print("gpu check: all 4 trials trained on cuda with gpu: 0.25 each")
PY
