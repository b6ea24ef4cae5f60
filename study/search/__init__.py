"""What to try next: the searchers and schedulers a spec names, built for Ray Tune.

- ``registry``: searchers and schedulers by name, built from a Spec;
- ``optuna_search``: Ray's OptunaSearch, told what cannot train, and the limiter;
- ``variants``: Ray's grid and random generator, made safe to restore;
- ``fused``: a fused study's searcher, which groups the proposals of the spec's;
- ``rungs``: ASHA's rungs (and bohb's brackets) applied inside fused groups;
- ``startup``: the random start-up of optuna and gp, counted in proposals;
- ``bohb``, ``brackets``: BOHB's model on Optuna's trials, Hyperband's brackets;
- ``epoch_budget``: a study's trial-epochs against its budget.

May import: study.specs, study.records (the ledger, the journal), experiment_folder,
Ray Tune and Optuna.
"""
