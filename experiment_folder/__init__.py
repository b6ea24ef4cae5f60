"""The experiment-folder format: one package that the writer (``study``) and the reader
(``analysis``) both import, so that a name or a rule is defined exactly once.

- ``files``: the file names of a study's (and a suite's) folder;
- ``columns``: the columns of trials.csv and history.csv, the best-trial rule, and
  encoded choices decoded;
- ``statuses``: the trial statuses and what each means;
- ``members``: a fused group's members inside its results;
- ``reasons``: the one-line reason of an error;
- ``csv_cells``: the one way a CSV is written and read back (formula cells escaped).

It imports neither Ray nor matplotlib (nor torch), so both sides load it in a blink.
Every name is re-exported here: ``from experiment_folder import TRIALS_FILE``.
"""

# Every name of the format, from the module that owns it.
from experiment_folder.columns import *  # noqa: F403
from experiment_folder.csv_cells import *  # noqa: F403
from experiment_folder.files import *  # noqa: F403
from experiment_folder.members import *  # noqa: F403
from experiment_folder.reasons import *  # noqa: F403
from experiment_folder.statuses import *  # noqa: F403
