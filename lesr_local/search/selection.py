"""Choosing the best candidate: the top search candidates re-trained on fresh seeds, compared on the
seeds they share.

- Finalists: the top SELECT_TOP search candidates trained to N_small (a candidate cut by successive
  halving was scored earlier and does not compete), by search score, ties to the earlier one.
- Re-evaluation (`--select-seeds S2`): every finalist and the raw-state control on S2 fresh seeds.
- A finalist whose own code failed a re-evaluation training (it raised or broke a runtime rule) is
  out: a representation that breaks a training on some seeds is not chosen, whatever it scored on the
  others. A training that failed for reasons outside the candidate (a killed worker) is missing data.
- The remaining finalists are ranked on their mean over the seeds where every one of them finished
  (paired: the same seeds for all), so a finalist cannot win on the easier seeds alone. With no such
  seed the pick falls back to the search score.
"""

from __future__ import annotations

from dataclasses import dataclass

from lesr_local.store import CANDIDATE_ARM, CANDIDATE_FAILURE, CandidateView, TrainingRecord

SELECT_TOP = 3


def search_trained(views: list[CandidateView]) -> list[CandidateView]:
    """Candidates whose search training finished at N_small with a score."""
    return [v for v in views if v.training is not None and v.training.status == "finished"
            and v.training.score is not None and v.training.stopped_at_step is None]


def best_search_candidate(views: list[CandidateView]) -> CandidateView | None:
    """The highest single-seed search score (ties: the earlier candidate)."""
    trained = search_trained(views)
    if not trained:
        return None
    return max(trained, key=lambda v: (v.score, -v.candidate.created_at))


def selection_finalists(views: list[CandidateView], top: int = SELECT_TOP) -> list[CandidateView]:
    return sorted(search_trained(views), key=lambda v: (-v.score, v.candidate.created_at))[:top]  # type: ignore[operator]


@dataclass
class SelectionOutcome:
    """The re-evaluation's reading: who is out, the common seeds, each finalist's mean over them."""

    common_seeds: list[int]
    means: dict[str, float]  # candidate id -> mean over the common seeds
    per_seed: dict[str, dict[int, float]]  # candidate id (or "control") -> seed -> score
    disqualified: dict[str, str]  # candidate id -> the reason its code failed a re-evaluation training


def read_selection(finalists: list[CandidateView], trainings: list[TrainingRecord]) -> SelectionOutcome:
    rows = [t for t in trainings if t.purpose == "selection"]
    per_seed: dict[str, dict[int, float]] = {}
    disqualified: dict[str, str] = {}
    for t in rows:
        owner = t.candidate_id if t.arm == CANDIDATE_ARM and t.candidate_id else "control"
        if t.status == "finished" and t.score is not None:
            per_seed.setdefault(owner, {})[t.seed] = float(t.score)
        elif t.status == "failed" and t.failure == CANDIDATE_FAILURE and owner != "control":
            disqualified.setdefault(owner, t.reason or "failed")
    remaining = [f.candidate_id for f in finalists if f.candidate_id not in disqualified]
    seed_sets = [set(per_seed.get(cid, {})) for cid in remaining]
    common = sorted(set.intersection(*seed_sets)) if seed_sets else []
    means = {cid: sum(per_seed[cid][s] for s in common) / len(common) for cid in remaining} if common else {}
    return SelectionOutcome(common, means, per_seed, disqualified)


def choose_best(views: list[CandidateView], trainings: list[TrainingRecord]) -> CandidateView | None:
    """The pick: the best paired re-evaluation mean when there was one, else the best search score."""
    finalists = selection_finalists(views)
    outcome = read_selection(finalists, trainings)
    standing = [f for f in finalists if f.candidate_id in outcome.means]
    if standing:
        return max(standing, key=lambda v: (outcome.means[v.candidate_id], v.score, -v.candidate.created_at))
    eligible = [v for v in search_trained(views) if v.candidate_id not in outcome.disqualified]
    if not eligible:
        return None
    return max(eligible, key=lambda v: (v.score, -v.candidate.created_at))
