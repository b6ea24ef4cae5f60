"""A fused study's searcher: the spec's searcher proposes members, grouped here.

The inner searcher (HarnessOptunaSearch, or :class:`ProposalList` for grid and
random, whose proposals Ray's own variant generator makes) proposes one member at
a time; :class:`GroupSearcher` asks it for up to K, keeps those whose shared keys
(:func:`shared_key`) equal the first's, and holds the others for the next group. It
tells the inner searcher each member's end at the member's own end. Optuna asks K
at a time with constant liar covering the members still running (its default).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from typing import Any

from ray.tune.search import Searcher

import trainables
from experiment_folder import MEMBERS, RUNNING, STOPPED, TRIAL_INDEX, ended, member_results
from study.specs.plan import TrialPlan, trial_config
from trainables.config import group_key, parse_config, settings


def member_id(group: str, index: int) -> str:
    """A member's trial id: its group's (Ray's trial id) and its place in the group."""
    return f"{group}-m{index}"


def shared_key(plan: TrialPlan, params: Mapping[str, Any]) -> str:
    """What a proposal shares with the others of its group (its shape keys), as text;
    configs that do not parse go together (each member then reports itself invalid)."""
    info = trainables.get(plan.trainable)
    config = trial_config(plan, dict(params), trial_id="")
    try:
        parsed: Any = parse_config(info.config, config, info.name)
    except trainables.InvalidConfig:
        return "<does not parse>"  # not a status: the group key of configs that fail
    return group_key(settings(parsed), info.member_keys or ())


def expand(param_space: Mapping[str, Any], num_samples: int, seed: int | None) -> list[dict]:
    """Every proposal of a grid or random study, as Ray's BasicVariantGenerator makes
    them: ``num_samples`` passes over the grid, the random values drawn per point."""
    import numpy as np
    from ray.tune.search.variant_generator import generate_variants

    rng = np.random.RandomState(seed)
    out = []
    for _ in range(num_samples):
        for _, config in generate_variants(dict(param_space), random_state=rng):
            out.append(config)
    return out


class ProposalList(Searcher):
    """A grid or random study's proposals, handed out in order (the inner searcher of a
    GroupSearcher; its state is saved and restored by Ray with the experiment's)."""

    def __init__(self, proposals: list[dict[str, Any]]) -> None:
        super().__init__(metric=None, mode=None)
        self.proposals = proposals
        self.next = 0

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.next >= len(self.proposals):
            return Searcher.FINISHED  # type: ignore[return-value]  # Ray's sentinel
        self.next += 1
        return {**self.proposals[self.next - 1], TRIAL_INDEX: self.next - 1}

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        pass

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump({"proposals": self.proposals, "next": self.next}, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            state = pickle.load(f)  # written by save() above, in the experiment folder
        self.proposals, self.next = state["proposals"], state["next"]


class GroupSearcher(Searcher):
    """Turns a searcher of single trials into one of groups: each suggest() asks the
    inner searcher (``self.searcher``, as Ray's wrappers name it, so Ray saves and
    restores it as the base searcher) for up to ``size`` members with equal shared
    keys, and tells it how each member ended, at its own end."""

    def __init__(
        self,
        searcher: Searcher,
        plan: TrialPlan,
        size: int,
        total: int | None,
        key: Callable[[Mapping[str, Any]], str] | None = None,
    ) -> None:
        super().__init__(metric=searcher.metric, mode=searcher.mode)
        self.searcher = searcher
        self.plan = plan
        self.size = size
        self.total = total  # members the study runs in all (None: until the inner finishes)
        self.key = key or (lambda params: shared_key(plan, params))
        self._reset()

    def _reset(self) -> None:
        self.pending: list[tuple[str, dict[str, Any]]] = []  # asked, not yet in a group
        self.groups: dict[str, list[str]] = {}  # group id -> its member ids
        self.told: set[str] = set()  # members whose end the inner searcher was told
        self.asked = 0
        self.inner_done = False

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any
    ) -> bool:
        return True  # the inner searcher has its space already; a group's config is ours

    def get_state(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "groups": self.groups,
            "told": self.told,
            "asked": self.asked,
            "inner_done": self.inner_done,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _ask(self, temp_id: str) -> dict[str, Any] | None:
        if self.inner_done or (self.total is not None and self.asked >= self.total):
            return None
        params = self.searcher.suggest(temp_id)
        if params == Searcher.FINISHED or params is None:
            self.inner_done = params == Searcher.FINISHED
            return None
        self.asked += 1
        return {TRIAL_INDEX: self.asked - 1, **params}  # the inner searcher's index first

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        proposals = list(self.pending)
        for n in range(self.size - len(proposals)):
            params = self._ask(f"{trial_id}-ask{n}")
            if params is None:
                break
            proposals.append((f"{trial_id}-ask{n}", params))
        if not proposals:
            return Searcher.FINISHED if self._finished() else None  # type: ignore[return-value]
        first = self.key(proposals[0][1])
        chosen = [p for p in proposals if self.key(p[1]) == first][: self.size]
        self.pending = [p for p in proposals if p not in chosen]
        members: list[dict[str, Any]] = []
        for index, (asked_as, params) in enumerate(chosen):
            mid = member_id(trial_id, index)
            self._rename(asked_as, mid)
            members.append({"id": mid, "params": params})
        self.groups[trial_id] = [m["id"] for m in members]
        return {MEMBERS: members}

    def _finished(self) -> bool:
        return self.inner_done or (self.total is not None and self.asked >= self.total)

    def _rename(self, asked_as: str, member: str) -> None:
        """The inner searcher knows the proposal by the id it was asked under (Optuna: its
        trial and that trial's ``trial_id`` attribute): from now on by the member's."""
        trials = getattr(self.searcher, "_ot_trials", None)
        if isinstance(trials, dict) and asked_as in trials:
            trials[member] = trials.pop(asked_as)
            trials[member].set_user_attr("trial_id", member)

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        for mid, member in member_results(result).items():
            if mid not in self.groups.get(trial_id, ()) or mid in self.told:
                continue
            if ended(member):
                self._tell(mid, member, error=False)
            else:
                self.searcher.on_trial_result(mid, member)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        if result:
            self.on_trial_result(trial_id, result)
        last = member_results(result)
        for mid in self.groups.get(trial_id, ()):
            if mid not in self.told:  # did not end on its own: the group stopped or failed
                self._tell(mid, last.get(mid) if not error else None, error=error)

    def _tell(self, mid: str, result: dict[str, Any] | None, error: bool) -> None:
        self.told.add(mid)
        if result is not None and result.get("status") == STOPPED:
            result = {**result, "status": RUNNING}  # the inner's word for "cut short"
        self.searcher.on_trial_complete(mid, result, error)

    def save(self, checkpoint_path: str) -> None:
        self.searcher.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.searcher.restore(checkpoint_path)
