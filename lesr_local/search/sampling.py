"""The LLM side of an iteration: the prompt, K samples through the repair loop, the analysis turn.

Each attempt's reply and verdict are stored under its key, so a resumed run replays a sample from
the store (no new generation, no new check) up to the point where it was cut off.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from lesr_local import events as ev
from lesr_local.candidates.checks import check_candidate
from lesr_local.candidates.constrain_rule import PROBE_SAMPLES, decide_constrain
from lesr_local.candidates.prompts import (
    CANDIDATE_CODE_PREFIX,
    SYSTEM_PROMPT,
    CandidateFeedback,
    feedback_prompt,
    focus_dims,
    focus_prompt,
    initial_prompt,
    iteration_prompt,
)
from lesr_local.candidates.repair import sample_valid_candidate
from lesr_local.candidates.semantics import CheckResult
from lesr_local.config import RunConfig
from lesr_local.llm.client import GenerationParams
from lesr_local.llm.grammar import candidate_grammar
from lesr_local.llm.prompting import CODE_STOP, render_prompt
from lesr_local.search.llm_session import GenerationCancelled, LLMSession, SampleClient
from lesr_local.store import CandidateRecord, CandidateView, Store
from lesr_local.store.files import atomic_write_text

if TYPE_CHECKING:
    from lesr_local.candidates.semantics import CheckResult
    from lesr_local.envs.info import EnvInfo


class CandidateSampler:
    def __init__(self, store: Store, run_id: str, config: RunConfig, env: EnvInfo, session: LLMSession,
                 sink: ev.EventSink, cancel: threading.Event) -> None:
        self.store = store
        self.run_id = run_id
        self.config = config
        self.env = env
        self.session = session
        self.sink = sink
        self.cancel = cancel
        self._grammar: bool | None = None  # whether to constrain decoding; None = not decided yet

    # -- prompts -----------------------------------------------------------------------------

    def iteration_prompt(self, it: int, history: list[CandidateView], analysis: str | None) -> tuple[str, list[str]]:
        if it == 0 or not history:
            return initial_prompt(self.env), []

        budget = self.config.llm.max_tokens + 32  # room for the per-sample focus sentence

        def fits(prompt: str) -> bool:
            # Counted as the model sees it: system text, chat template markers and code priming included.
            rendered = render_prompt(self.session.model, SYSTEM_PROMPT, prompt, CANDIDATE_CODE_PREFIX)
            return self.session.fits(rendered, budget)

        if all(self.session.recorded(f"i{it}-k{k}-a0") for k in range(self.config.samples)):
            fits = _always  # every first ask of this iteration is stored: no need to load the model
        return iteration_prompt(self.env, [feedback(c) for c in history], analysis or "", fits)

    def _params(self, max_tokens: int, grammar: bool, seed_offset: int,
                focus: tuple[int, int] | None = None) -> GenerationParams:
        cfg = self.config.llm
        grammar_text = self._grammar_text(focus) if grammar else None
        return GenerationParams(
            max_tokens=max_tokens, temperature=cfg.temperature, top_p=cfg.top_p,
            seed=self.config.seed * 100_003 + seed_offset, grammar=grammar_text,
            # an unconstrained code reply ends with its block; the grammar ends the constrained one
            stop=list(CODE_STOP) if grammar and grammar_text is None else [],
        )

    def _grammar_text(self, focus: tuple[int, int] | None = None) -> str | None:
        if self._grammar is None:
            self._grammar = self._decide_constrain()
        return candidate_grammar(self.env.state_dim, focus=focus) if self._grammar else None

    def _decide_constrain(self) -> bool:
        model = self.session.model

        def announce() -> None:
            self.sink(ev.Log(self.run_id, level="info", message=(
                f"--constrain auto: measuring how {model.name} writes free-form code "
                f"({PROBE_SAMPLES} samples, once per model file)")))

        constrain, verdict = decide_constrain(self.config.llm.constrain, model, self.session.client, announce,
                                              unsafe_no_seccomp=self.config.unsafe_no_seccomp)
        if verdict is not None:
            self.sink(ev.Log(self.run_id, level="info", message=(
                f"--constrain auto: {model.name} wrote {verdict.valid} valid of {verdict.samples} free-form "
                f"candidates, so decoding is {'constrained' if constrain else 'free-form'}")))
        return constrain

    # -- one sample --------------------------------------------------------------------------

    def sample(self, it: int, k: int, prompt: str) -> CandidateRecord:
        """Ask for sample k of iteration it (with repairs); store it as pending (valid) or rejected."""

        cid = f"i{it}-k{k}"
        client = SampleClient(self.session, it, k)
        attempt_no = {"n": 0}

        def check(code: str) -> CheckResult:
            key = f"i{it}-k{k}-a{attempt_no['n']}"
            cached = self.store.find_llm_call(self.run_id, key)
            if cached is not None and cached.parsed and cached.parsed.get("code") == code:
                return _check_result(cached.parsed)
            twin = self._same_code_as(code)
            if twin is not None:
                # Training the same code again would only repeat a result: ask for something new.
                return _check_result({"valid": False, "state_dim": self.env.state_dim,
                                      "reason": f"same code as candidate {twin}: write different features "
                                                "or a different intrinsic reward"})
            return check_candidate(code, self.config.env_id, self.config.env_spec,
                                   unsafe_no_seccomp=self.config.unsafe_no_seccomp)

        def on_attempt(attempt: Any) -> None:
            key = f"i{it}-k{k}-a{attempt.index}"
            attempt_no["n"] = attempt.index + 1
            if attempt.reason == "cancelled":
                return
            parsed = {"code": attempt.code, "valid": attempt.reason is None, "reason": attempt.reason}
            if attempt.result is not None:
                parsed.update(attempt.result.to_dict())
                parsed["reason"] = attempt.reason
            if self.store.find_llm_call(self.run_id, key) is not None:
                self.store.set_llm_parsed(self.run_id, key, parsed)
            if attempt.reason is not None:
                last = attempt.index >= self.config.llm.repair_attempts
                self.sink(ev.CandidateRejected(self.run_id, candidate_id=cid, iteration=it, sample=k,
                                               attempt=attempt.index, reason=attempt.reason, final=last))


        prompt = focus_prompt(prompt, self.env, it, k, self.config.seed)
        focus = focus_dims(self.env.state_dim, it, k, self.config.seed)
        outcome = sample_valid_candidate(
            client, self.env, prompt, self._params(self.config.llm.max_tokens, True, it * 1000 + k, focus),
            self.config.llm.repair_attempts, check, on_attempt, model=self.session.model, cancel=self.cancel,
            fits=lambda rendered: self._fits_unless_replayed(it, k, rendered),
        )
        if outcome.cancelled or self.cancel.is_set():
            raise GenerationCancelled()
        if not outcome.valid or outcome.code is None:
            return self.store.add_candidate(self.run_id, cid, iteration=it, sample=k, code=outcome.code or "",
                                            status="rejected", reason=outcome.reason or "rejected")
        run_dir = self.store.ensure_run_dir(self.run_id)
        path = atomic_write_text(run_dir / "candidates" / f"{cid}.py", outcome.code)
        extra = outcome.result.extra_dims if outcome.result is not None else None
        cand = self.store.add_candidate(self.run_id, cid, iteration=it, sample=k, code=outcome.code,
                                        code_path=path, extra_dims=extra)
        self.sink(ev.CandidateAccepted(self.run_id, candidate_id=cid, iteration=it, sample=k, extra_dims=extra or 0))
        return cand

    def _fits_unless_replayed(self, it: int, k: int, rendered: str) -> bool:
        """Room for the reply after a repair prompt (stored exchanges are replayed without the model)."""
        if all(self.session.recorded(f"i{it}-k{k}-a{a}") for a in range(1, self.config.llm.repair_attempts + 1)):
            return True
        return self.session.fits(rendered, self.config.llm.max_tokens)

    def _same_code_as(self, code: str) -> str | None:
        wanted = _normalised(code)
        for view in self.store.candidate_views(self.run_id):
            # a failed training (crash, killed worker) may deserve another go; the others would repeat
            if view.status in ("pending", "running", "finished") and view.code and _normalised(view.code) == wanted:
                return view.candidate_id
        return None

    # -- analysis turn -----------------------------------------------------------------------

    def analyse(self, it: int, results: list[CandidateView], baseline_score: float | None) -> str | None:
        """The model's reasoning on this iteration's results (None when nothing was trained)."""

        shown = [feedback(c) for c in results if c.status in ("finished", "failed")]
        if not shown:
            return None
        user = feedback_prompt(self.env, shown, baseline_score, self.config.shaping,
                                       self.config.intrinsic_weight, self.config.td3.gamma)
        key = f"analysis-i{it}"
        if not self.session.recorded(key):
            budget = self.config.llm.analysis_max_tokens + 64
            while len(shown) > 1 and not self.session.fits(render_prompt(self.session.model, SYSTEM_PROMPT, user), budget):
                shown = sorted(shown, key=lambda f: f.score if f.score is not None else float("-inf"))[1:]
                user = feedback_prompt(self.env, shown, baseline_score, self.config.shaping,
                                       self.config.intrinsic_weight, self.config.td3.gamma)
        prompt = render_prompt(self.session.model, SYSTEM_PROMPT, user)
        gen = self.session.generate(key, purpose="analysis", iteration=it, sample=-1, attempt=0, prompt=prompt,
                                    params=self._params(self.config.llm.analysis_max_tokens, False, it * 1000 + 999))
        text = gen.text.strip()
        return text or None


def feedback(view: CandidateView) -> CandidateFeedback:
    return CandidateFeedback(
        candidate_id=view.candidate_id, iteration=view.iteration or 0, code=view.code or "", score=view.score,
        lipschitz=view.training.lipschitz if view.training else None, status=view.status, reason=view.reason,
        stopped_at_step=view.stopped_at_step,
    )


def _check_result(parsed: dict[str, Any]) -> CheckResult:
    return CheckResult(
        valid=bool(parsed.get("valid")), reason=parsed.get("reason"), state_dim=int(parsed.get("state_dim") or 0),
        feature_dim=parsed.get("feature_dim"), extra_dims=parsed.get("extra_dims"),
        mean_call_ms=parsed.get("mean_call_ms"),
    )


def _normalised(code: str) -> str:
    return "\n".join(line.rstrip() for line in code.strip().splitlines() if line.strip())


def _always(prompt: str) -> bool:
    return True
