"""Ray and Ray Tune in the driver: what runs while the trials run.

- ``cluster``: a private Ray or a cluster joined by address;
- ``tuner``: a new or restored Tuner, with the trainable, the searcher, the scheduler
  and the callbacks; Ray's saved view of each trial read back;
- ``durability`` (the ledger at each trial's end, and the uploads), ``progress``
  (the terminal lines) and ``nodes`` (a lost node): Ray Tune callbacks;
- ``budget``: ``time_budget_s`` as a Ray Tune stopper;
- ``old_paths``: the module paths of folders written before study/ was grouped.

May import: study.trial, study.search, study.records, study.storage, study.specs,
study.interrupts.
"""
