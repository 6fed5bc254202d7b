"""`lesr bench search` pieces that need no training: orderings, rank correlation, bad input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lesr_local.bench.search_bench import final_ordering, spearman
from lesr_local.search.halving import Rung, halving_steps, rung_schedule, rung_score, rung_survivors
from lesr_local.store import Store


@dataclass
class _Cand:
    """What final_ordering reads of a CandidateView: status, score, how far it trained, its sample."""

    candidate_id: str
    status: str
    score: float | None
    stopped_at_step: int | None
    total_steps: int = 100
    sample: int = 0

    @property
    def training(self) -> Any:
        return SimpleNamespace(total_steps=self.total_steps)

    @property
    def candidate(self) -> Any:
        return SimpleNamespace(sample=self.sample)


def test_ordering_ranks_how_far_a_candidate_got_before_its_score() -> None:
    cands = [_Cand("a", "finished", 50.0, 25, sample=0), _Cand("b", "finished", 10.0, None, sample=1),
             _Cand("c", "finished", 60.0, 50, sample=2), _Cand("d", "failed", None, None, sample=3),
             _Cand("e", "finished", 70.0, 25, sample=4)]
    assert final_ordering(cands) == ["b", "c", "e", "a"]


def test_spearman_by_hand() -> None:
    assert spearman(["a", "b", "c"], ["a", "b", "c"]) == 1.0
    assert spearman(["a", "b", "c"], ["c", "b", "a"]) == -1.0
    # ranks (0, 1, 2, 3) vs (1, 0, 2, 3): sum d^2 = 2 -> 1 - 6 * 2 / (4 * 15) = 0.8
    assert spearman(["a", "b", "c", "d"], ["b", "a", "c", "d"]) == pytest.approx(0.8)
    assert spearman(["a", "b", "x"], ["b", "a", "y"]) == -1.0  # only shared ids count
    assert spearman(["a"], ["a"]) is None


def test_rung_schedule_of_the_presets() -> None:
    # quick: N 15k, K 3, warm-up 2k, eval every 2k, last_k 3 -> the rung waits for 3 evaluations after the
    # warm-up (4k, 6k, 8k): 3 to 8k, the best to 15k (69 % of 45k). Without that rule the rung was at 4k,
    # one evaluation after 2k updates.
    quick = rung_schedule(15_000, 3, 2_000, 2_000, last_k=3)
    assert quick == [Rung(8_000, 1)]
    assert halving_steps(15_000, quick, 3) == 3 * 8_000 + 7_000
    assert rung_schedule(15_000, 3, 2_000, 2_000, last_k=1) == [Rung(4_000, 1)]
    # paper: N 800k, K 6, warm-up 25k, eval every 5k -> 6 to 200k, 3 to 400k, 1 to 800k (46 %)
    paper = rung_schedule(800_000, 6, 25_000, 5_000, last_k=10)  # 10 evaluations after the warm-up: 75k
    assert paper == [Rung(200_000, 3), Rung(400_000, 1)]
    assert halving_steps(800_000, paper, 6) / (6 * 800_000) == pytest.approx(2_200_000 / 4_800_000)
    # no rung before an evaluation after the warm-up; none for a single candidate
    assert rung_schedule(4_000, 4, 2_500, 1_000) == []  # N/4 and N/2 both come before 3k
    assert rung_schedule(8_000, 4, 2_500, 1_000) == [Rung(4_000, 1)]  # N/4 dropped; N/2 keeps K // 4
    assert rung_schedule(15_000, 1, 2_000, 2_000) == []


def test_rung_score_and_survivors() -> None:
    curve = [(2_000, -50.0), (4_000, 10.0), (6_000, 30.0), (8_000, 80.0)]
    assert rung_score(curve, 6_000, start_steps=2_000, last_k=3) == pytest.approx(20.0)  # warm-up eval left out
    assert rung_score(curve, 2_000, start_steps=2_000, last_k=3) is None
    order = ["i0-k0", "i0-k1", "i0-k2", "i0-k3"]
    scores = {"i0-k0": 1.0, "i0-k1": 5.0, "i0-k2": 5.0, "i0-k3": None}
    assert rung_survivors(scores, order, 2) == ["i0-k1", "i0-k2"]  # a tie goes by sampling order
    assert rung_survivors(scores, order, 3) == ["i0-k1", "i0-k2", "i0-k0"]


def test_bench_search_bad_input_exits_2(home: Path, lesr) -> None:
    Store(home).close()
    for args in (("bench", "search"), ("bench", "search", "--run", "nope"),
                 ("bench", "search", "--candidates", str(home / "missing.py"))):
        out = lesr(*args, home=home, timeout=120)
        assert out.returncode == 2, (args, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_replay_client_answers_in_order_and_the_code_round_trips() -> None:
    from lesr_local.candidates.extract import extract_code
    from lesr_local.candidates.prompts import CANDIDATE_CODE_PREFIX
    from lesr_local.candidates.repair import GRAMMAR_CODE_PREFIX
    from lesr_local.llm.client import GenerationParams
    from lesr_local.search.replay import REPLAY_ANALYSIS, ReplayClient

    first = "import numpy as np\n\n\ndef revise_state(s):\n    return np.append(s, s[0])\n\n\n" \
            "def intrinsic_reward(updated_s):\n    return float(updated_s[-1])\n"
    second = first.replace("s[0]", "s[1]")
    client = ReplayClient(None, [first, second])
    constrained = GenerationParams(grammar="root ::= \"x\"")
    reply = client.generate("...user text" + GRAMMAR_CODE_PREFIX, constrained)
    assert extract_code(reply.text, GRAMMAR_CODE_PREFIX).strip() == first.strip()
    # an analysis prompt does not end in the code fence and uses up no candidate
    assert client.generate("Analyse these results.\n", GenerationParams()).text == REPLAY_ANALYSIS
    free = GenerationParams(stop=["```"])
    reply = client.generate("...user text" + CANDIDATE_CODE_PREFIX, free)
    assert extract_code(reply.text, CANDIDATE_CODE_PREFIX).strip() == second.strip()
    assert extract_code(client.generate("x" + GRAMMAR_CODE_PREFIX, constrained).text, GRAMMAR_CODE_PREFIX) is None
    assert client.served == 2
