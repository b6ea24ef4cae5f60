"""What each Ray trial runs, in its worker: the one place a trainable meets Ray.

- ``solo``: :func:`run_trial`, one trial (a built-in, your own, or a plain Ray Tune
  function);
- ``group``: :func:`run_group`, a fused group of trials trained together;
- ``results``: what goes to Ray: results with their objective and status, and the
  state saved with them as checkpoints.

May import: study.specs (the plan), study.search (ASHA's rungs for groups),
experiment_folder, trainables.
"""

from study.trial.group import run_group
from study.trial.solo import run_trial

__all__ = ["run_group", "run_trial"]
