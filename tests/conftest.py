"""Shared fixtures. Ray is started once per session, and only by tests that need it."""

from __future__ import annotations

import os

# Quiet, deterministic CPU runs: tests compare metrics between runs in one process.
os.environ.setdefault("OMP_NUM_THREADS", "1")
