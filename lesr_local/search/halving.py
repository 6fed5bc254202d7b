"""Successive halving of one iteration's candidates (`--prune halving`).

With eta = 2 the K candidates of an iteration all train to N/4, the better half of them continue to
N/2 and the best one to N (K // 2**r candidates, at least 1, pass rung r). Rung steps are rounded to
evaluation steps, so a rung compares evaluations every candidate actually had at the same step. A
rung exists only after the warm-up has been followed by `eval.last_k` evaluations: before
td3.start_steps the actor was never updated and its return says nothing about the features, and a
rung score of fewer evaluations than the search's own score would rank candidates on single noisy
evaluations (the quick preset's old rung at 4k steps was one 3-episode evaluation after 2k updates,
and its cuts were close to a coin toss). A rung that would keep everyone is dropped (it would only
cost a pause).

Rung score: the mean of the last `eval.last_k` evaluations at or before the rung step, leaving out
those taken during the random warm-up. It is the search's own score (mean of the last k
evaluations) truncated at the rung, so a candidate is cut on the same figure it would be ranked by
at the end, and averaging k evaluations damps the single-evaluation noise of early RL returns. The
area under the curve so far was the alternative; it weights the first, least informative
evaluations as much as the latest ones and so favours fast starters over better finishers.

Candidates are compared only with the other candidates of their iteration, at the same rung step.
A cut candidate keeps its rung score with `stopped_at_step` set; it is never picked as the best
(only candidates trained to N compete for that).
"""

from __future__ import annotations

from dataclasses import dataclass

ETA = 2
RUNG_FRACTIONS = (0.25, 0.5)  # of N_small; the last rung is N_small itself


@dataclass(frozen=True)
class Rung:
    step: int  # every candidate still in is trained to exactly this step
    keep: int  # how many of the iteration's candidates continue past it


def rung_schedule(steps: int, candidates: int, start_steps: int, eval_every: int, *, last_k: int = 1,
                  eta: int = ETA, fractions: tuple[float, ...] = RUNG_FRACTIONS) -> list[Rung]:
    """The cut points before N (`steps`) for an iteration of `candidates` candidates; [] = no pruning."""
    # the step of the last_k-th evaluation after the warm-up: a rung score has as many as the search score
    first_useful = (start_steps // eval_every + max(1, last_k)) * eval_every
    rungs: list[Rung] = []
    alive = candidates
    for depth, fraction in enumerate(fractions, start=1):
        step = max(eval_every, round(fraction * steps / eval_every) * eval_every)
        keep = max(1, candidates // eta ** depth)
        if step >= steps or step < first_useful or keep >= alive or (rungs and step <= rungs[-1].step):
            continue
        rungs.append(Rung(step=step, keep=keep))
        alive = keep
    return rungs


def rung_score(curve: list[tuple[int, float]], step: int, start_steps: int, last_k: int) -> float | None:
    """Mean of the last `last_k` evaluations in (start_steps, step]; None when there is none."""
    points = [v for s, v in sorted(curve) if start_steps < s <= step]
    if not points:
        return None
    recent = points[-last_k:]
    return sum(recent) / len(recent)


def rung_survivors(scores: dict[str, float | None], order: list[str], keep: int) -> list[str]:
    """The `keep` best by rung score; ties and missing scores go by sampling order (earlier first)."""
    rank = {cid: i for i, cid in enumerate(order)}
    ranked = sorted(scores, key=lambda cid: (scores[cid] is None, -(scores[cid] or 0.0), rank.get(cid, 0)))
    return ranked[:keep]


def halving_steps(steps: int, rungs: list[Rung], candidates: int) -> int:
    """Candidate env steps the schedule spends when no candidate fails."""
    total, alive, previous = 0, candidates, 0
    for rung in rungs:
        total += alive * (rung.step - previous)
        alive, previous = rung.keep, rung.step
    return total + alive * (steps - previous)
