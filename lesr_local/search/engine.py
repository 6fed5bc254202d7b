"""The LESR run: the paper's loop (sample -> train -> feed back, I times; select; evaluate).

`SearchEngine` is the entry point: it validates, creates (or claims, on resume) the run in the store,
drives `LesrLoop`, and writes the run's end state and summary in one transaction. Everything else
lives where it belongs: the LLM's side of an iteration in `search.sampling`, successive halving in
`search.halving`, the choice of the best in `search.selection`, the paired final evaluation in
`experiments.evaluation`, and every training goes through `trainings.service.Trainings` (the one place
that trains, resumes or reuses one).

Everything is kept in the store as it happens; `resume` picks a stopped or killed run up again:
finished trainings and LLM exchanges are reused, unfinished trainings continue from checkpoints, and
an iteration cut off mid-way asks its remaining samples with the prompt its first ones got.
`add_seeds` gives a finished run more paired seeds in its final evaluation.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lesr_local import events as ev
from lesr_local.candidates.checks import sandbox_walls
from lesr_local.config import RunConfig, save_toml, validate
from lesr_local.envs.catalogue import get_env_info
from lesr_local.errors import BadInput, Interrupted, LesrError, RunFailed
from lesr_local.experiments.evaluation import Contender, evaluate_arms, final_comparison
from lesr_local.llm.discovery import resolve_model
from lesr_local.llm.prompting import check_chat_template
from lesr_local.llm.server import LLMServerUnavailable, served_model
from lesr_local.search.halving import Rung, rung_schedule, rung_score, rung_survivors
from lesr_local.search.llm_session import GenerationCancelled, LLMSession
from lesr_local.search.sampling import CandidateSampler
from lesr_local.search.selection import (
    best_search_candidate,
    choose_best,
    read_selection,
    selection_finalists,
)
from lesr_local.search.summary import RunSummary, build_summary
from lesr_local.store import CandidateRecord, CandidateView, Store, new_run_id
from lesr_local.trainings.executors import Executor, LocalProcessExecutor, default_workers, make_executor
from lesr_local.trainings.requests import arm_request, control_request, search_request, selection_seeds
from lesr_local.trainings.service import TrainingJob, Trainings

if TYPE_CHECKING:
    from lesr_local.envs.info import EnvInfo
    from lesr_local.llm.discovery import ModelInfo


class _Stopped(Exception):
    """The cancel event was set: unwind, keep state, report 'interrupted'."""


class SearchEngine:
    def __init__(self, store: Store, sink: ev.EventSink, cancel: threading.Event | None = None,
                 executor_factory: type[LocalProcessExecutor] | None = None,
                 llm_client_factory: Callable[..., Any] | None = None, search_only: bool = False) -> None:
        self.search_only = search_only  # `lesr bench search`: the iterations only (no control, selection, final)
        self.store = store
        self.sink = sink
        self.cancel = cancel or threading.Event()
        self._executor_factory = executor_factory
        self._llm_client_factory = llm_client_factory  # None = the real llama.cpp client (search.replay replays)

    # -- entry points ------------------------------------------------------------------------

    def start(self, config: RunConfig) -> RunSummary:
        """Validate, create the run in the store, drive it to the end."""
        validate(config)  # a config built in code skipped RunConfig.from_dict: refuse before writing anything
        env = _env_info(config)
        _require_walls(config)  # the walls fail closed: a machine without them is refused before the run exists
        model = _model(config)
        executor = self._executor(config)  # an unusable executor is bad input: nothing stored yet
        try:
            run_id = new_run_id()
            while self.store.find_run(run_id) is not None:
                time.sleep(0.01)
                run_id = new_run_id()
            self.store.create_run(run_id, config.env_id, config.preset, config.to_dict())
            save_toml(config, self.store.ensure_run_dir(run_id) / "config.toml")
        except BaseException:
            executor.close()
            raise
        return self._guarded(run_id, config, env, model, executor, resumed=False)

    def resume(self, run_id: str, executor: str | None = None, ray_address: str | None = None,
               seeds: int | None = None) -> RunSummary:
        """Continue a stopped, killed or failed run where it was left (`executor`: on another one;
        `seeds`: with that many final seeds)."""
        run = self.store.get_run(run_id)
        if run.kind != "search":
            raise BadInput(f"run {run_id} is an evaluation (lesr evaluate), not a search; "
                           "run that `lesr evaluate` again to continue it")
        if run.status == "finished":
            raise BadInput(f"run {run_id} already finished; nothing to resume "
                           f"(more final seeds: lesr run --resume {run_id} --seeds S)")
        config = RunConfig.from_dict(run.config)
        if executor is not None:
            config.executor, config.ray_address = executor, ray_address
        if seeds is not None:
            config.seeds = seeds
        env = _env_info(config)
        model = _model(config)
        chosen = self._executor(config)
        if executor is not None or seeds is not None:  # saved once the executor could be had (else: bad input)
            self.store.set_run_config(run_id, config.to_dict())
        return self._guarded(run_id, config, env, model, chosen, resumed=True)

    def add_seeds(self, run_id: str, seeds: int) -> RunSummary:
        """Give a finished run's final evaluation `seeds` paired seeds in all, training only the
        missing ones, and recompute its summary and verdict."""
        run = self.store.get_run(run_id)
        config = RunConfig.from_dict(run.config)
        if run.status != "finished":
            raise BadInput(f"run {run_id} is {run.status}: resume it first (lesr run --resume {run_id}); "
                           "--seeds adds seeds to a finished run")
        if seeds <= config.seeds:
            raise BadInput(f"run {run_id} already has {config.seeds} final seed(s); ask for more than that")
        best_id = run.best_candidate_id
        best = self.store.find_candidate(run_id, best_id) if best_id else None
        if best is None:
            raise BadInput(f"run {run_id} has no best candidate to evaluate on more seeds")
        env = _env_info(config)
        config.seeds = seeds
        executor = self._executor(config)
        try:
            self.store.claim_run(run_id)
        except BaseException:
            executor.close()
            raise
        self.store.set_run_config(run_id, config.to_dict())
        self.sink(ev.RunStarted(run_id, env_id=config.env_id, config=config.to_dict(), resumed=True))
        halt = threading.Event()
        bridge = _Bridge(self.cancel, halt)
        trainings = Trainings(self.store, run_id, executor, self.sink, halt, reuse=config.reuse)
        try:
            self.sink(ev.FinalEvaluationStarted(run_id, best_candidate_id=best.candidate_id, seeds=seeds,
                                                steps=config.final_steps))
            evaluate_arms(trainings, config, env, Contender(best.candidate_id, best.code, best.extra_dims))
            if halt.is_set():
                raise _Stopped()
        except BaseException as exc:
            halt.set()
            executor.close()
            # the run stays finished; its summary counts the seeds trained so far
            summary = build_summary(self.store, run_id, status="finished")
            self.store.end_run(run_id, "finished", None, summary.to_dict(), run.best_candidate_id, run.best_score,
                               run.baseline_score)
            if self.cancel.is_set() or isinstance(exc, (_Stopped, KeyboardInterrupt)):
                raise Interrupted(f"adding seeds to run {run_id} interrupted; the seeds trained so far are kept "
                                  f"(continue with `lesr run --resume {run_id} --seeds {seeds}`)") from None
            raise
        finally:
            bridge.stop()
        executor.close()
        summary = build_summary(self.store, run_id, status="finished")
        self.store.end_run(run_id, "finished", None, summary.to_dict(), run.best_candidate_id, run.best_score,
                           run.baseline_score)
        self.sink(ev.RunFinished(run_id, status="finished", summary=summary.to_dict()))
        return summary

    def _executor(self, config: RunConfig) -> Executor:
        workers = config.workers or default_workers()
        if self._executor_factory is not None:
            return self._executor_factory(workers)
        return make_executor(config, workers)

    # -- driver ------------------------------------------------------------------------------

    def _guarded(self, run_id: str, config: RunConfig, env: EnvInfo, model: ModelInfo, executor: Executor,
                 resumed: bool) -> RunSummary:
        try:
            self.store.claim_run(run_id)  # atomic: a second driver of the same run is refused here
            requeued = self.store.requeue_unfinished(run_id)
        except BaseException:
            executor.close()
            raise
        self.sink(ev.RunStarted(run_id, env_id=config.env_id, config=config.to_dict(), resumed=resumed))
        if resumed and requeued:
            self._log(run_id, "info", f"{requeued} unfinished training(s) continue from their checkpoints")
        # `halt` stops every LLM call and training of this drive: set by the user's cancel (bridged)
        # or by the engine itself when the run fails, so nothing keeps running after the return.
        halt = threading.Event()
        bridge = _Bridge(self.cancel, halt)
        session = LLMSession(self.store, run_id, model, config.llm.n_ctx, self.sink, halt, self._llm_client_factory)
        trainings = Trainings(self.store, run_id, executor, self.sink, halt, reuse=config.reuse)
        try:
            video = LesrLoop(self, run_id, config, env, session, trainings, halt).run()
        except BaseException as exc:
            halt.set()
            if self.cancel.is_set() or isinstance(exc, (_Stopped, GenerationCancelled, KeyboardInterrupt)):
                self._end(run_id, "interrupted", "interrupted by the user", executor, session)
                raise Interrupted(
                    f"run {run_id} interrupted; state saved, continue with `lesr run --resume {run_id}`"
                ) from None
            if isinstance(exc, LLMServerUnavailable):
                # Nothing failed but the server: the run pauses; its candidates wait for a resume.
                self._end(run_id, "interrupted", str(exc), executor, session)
                raise RunFailed(f"run {run_id} paused: {exc}; state saved, continue with "
                                f"`lesr run --resume {run_id}` once the server answers") from None
            if isinstance(exc, (RunFailed, BadInput)):
                self._end(run_id, "failed", str(exc), executor, session)
                raise
            if isinstance(exc, LesrError):  # e.g. the LLM worker died twice: the run failed (exit 3)
                self._end(run_id, "failed", str(exc), executor, session)
                raise RunFailed(f"run {run_id} failed: {exc}") from None
            self._end(run_id, "failed", f"{type(exc).__name__}: {exc}", executor, session)
            raise
        finally:
            bridge.stop()
        self._close(executor, session)
        summary = build_summary(self.store, run_id, status="finished", video_path=video)
        self._save_end(run_id, "finished", None, summary)
        self.sink(ev.RunFinished(run_id, status="finished", summary=summary.to_dict()))
        return summary

    def _end(self, run_id: str, status: str, reason: str, executor: Executor, session: LLMSession) -> None:
        self._close(executor, session)
        self.store.requeue_unfinished(run_id)  # cut-off trainings wait as pending for a resume
        summary = build_summary(self.store, run_id, status=status, reason=reason)
        self._save_end(run_id, status, reason, summary)
        self.sink(ev.RunFinished(run_id, status=status, summary=summary.to_dict(), reason=reason))

    def _save_end(self, run_id: str, status: str, reason: str | None, summary: RunSummary) -> None:
        best = summary.best or {}
        control = summary.control or {}
        self.store.end_run(run_id, status, reason, summary.to_dict(), best.get("candidate_id"), best.get("score"),
                           control.get("score"))

    @staticmethod
    def _close(executor: Executor, session: LLMSession) -> None:
        try:
            executor.close()
        finally:
            session.close()

    def _log(self, run_id: str, level: str, message: str) -> None:
        self.sink(ev.Log(run_id, level=level, message=message))


class LesrLoop:
    """One drive of one run (fresh or resumed): the paper's loop."""

    def __init__(self, engine: SearchEngine, run_id: str, config: RunConfig, env: EnvInfo,
                 session: LLMSession, trainings: Trainings, halt: threading.Event) -> None:
        self.engine = engine
        self.store = engine.store
        self.sink = engine.sink
        self.halt = halt  # set on the user's cancel or an engine error: stop taking new work
        self.run_id = run_id
        self.config = config
        self.env = env
        self.session = session
        self.trainings = trainings
        self.run_dir = self.store.ensure_run_dir(run_id)
        self.sampler = CandidateSampler(self.store, run_id, config, env, session, self.sink, self.halt)
        self._dropped: list[str] = []  # candidates the current iteration's prompt left out (context window)
        self._jobs: list[TrainingJob] = []

    def run(self) -> str | None:
        cfg = self.config
        # The raw-state control trains alongside the whole search; only the feedback needs its score.
        control = None if self.engine.search_only else self.trainings.ask(control_request(cfg, self.env))
        analysis: str | None = None
        for it in range(cfg.iterations):
            self._check()
            record = next((r for r in self.store.list_iterations(self.run_id) if r.iteration == it), None)
            if record is not None and record.status == "finished":
                analysis = record.analysis
                continue
            candidates = self._sample(it, analysis)
            self._train(it, candidates)
            self._wait([control] if control else [])
            analysis = self._feed_back(it)
        self._wait([control] if control else [])
        self.session.close()  # the model is not needed any more: give its memory to the trainings
        if best_search_candidate(self._views()) is None:
            raise RunFailed("no candidate finished training with a score; see `lesr show` for the reasons")
        if self.engine.search_only:
            return None
        best = self._select()
        self._evaluate(best)
        return self._video(best)

    # -- sample: K candidates through the repair loop ----------------------------------------

    def _sample(self, it: int, analysis: str | None) -> list[CandidateRecord]:
        started = next((r for r in self.store.list_iterations(self.run_id) if r.iteration == it), None)
        self._dropped = []
        if started is not None and started.prompt is not None:
            prompt = started.prompt  # a resumed iteration asks its remaining samples as it asked the first
        else:
            prompt, dropped = self.sampler.iteration_prompt(it, self._history(), analysis)
            if dropped:
                self._log(f"prompt trimmed to the context window; left out: {', '.join(dropped)}")
            self._dropped = dropped
        self.store.start_iteration(self.run_id, it, prompt)
        self.sink(ev.IterationStarted(self.run_id, iteration=it, iterations=self.config.iterations))
        rungs = self._rungs()
        first_pause = rungs[0].step if rungs else None
        candidates: list[CandidateRecord] = []
        self._jobs = []
        for k in range(self.config.samples):
            self._check()
            cand = self.store.find_candidate(self.run_id, f"i{it}-k{k}") or self.sampler.sample(it, k, prompt)
            candidates.append(cand)
            if cand.status == "accepted":  # trains at once, while the model writes the next sample
                job = self._search_job(cand, first_pause, not_past_rung=True)
                if job is not None:
                    self._jobs.append(job)
        return candidates

    # -- train: every accepted candidate, with successive halving ----------------------------

    def _search_job(self, cand: CandidateRecord, pause_at: int | None, not_past_rung: bool = False) -> TrainingJob | None:
        training = self.store.find_training(self.run_id, cand.candidate_id)
        if not_past_rung and training is not None and training.rung_step is not None:
            return None  # already through rung 0: the rung loop below continues it
        pauses = tuple(r.step for r in self._rungs())
        return self.trainings.ask(search_request(self.config, self.env, cand.candidate_id, cand.code, cand.extra_dims,
                                                 pauses), pause_at=pause_at)

    def _train(self, it: int, candidates: list[CandidateRecord]) -> None:
        self._wait(self._jobs)
        rungs = self._rungs()
        for index, rung in enumerate(rungs):
            self._cut_at_rung(it, rung)
            pause = rungs[index + 1].step if index + 1 < len(rungs) else None
            survivors = [v for v in self._iteration_views(it) if v.training is not None
                         and v.training.status in ("pending", "running") and v.training.rung_step == rung.step]
            self._wait([j for v in survivors if (j := self._search_job(v.candidate, pause)) is not None])
        accepted = [c for c in candidates if c.status == "accepted"]
        if not accepted:
            reasons = "; ".join(sorted({c.reason or "?" for c in candidates}))[:300]
            if best_search_candidate(self._views()) is None:
                raise RunFailed(
                    f"iteration {it + 1}: none of the {self.config.samples} samples gave a valid candidate ({reasons})")
            self._log(f"iteration {it + 1}: no valid candidate ({reasons})", level="warning")

    def _rungs(self) -> list[Rung]:
        cfg = self.config
        if cfg.prune != "halving":
            return []
        return rung_schedule(cfg.steps, cfg.samples, cfg.td3.start_steps, cfg.eval.every, last_k=cfg.eval.last_k)

    def _cut_at_rung(self, it: int, rung: Rung) -> None:
        """Keep the rung's best `rung.keep` of the candidates that reached it; stop the others there.

        Idempotent (a resumed run repeats it): the ranking uses only evaluations up to the rung step,
        which a candidate that went on keeps unchanged, and candidates already cut stay cut.
        """
        cfg = self.config
        views = [v for v in self._iteration_views(it) if v.training is not None]
        reached = [v for v in views if v.training.status != "failed"  # type: ignore[union-attr]
                   and max(v.training.rung_step or 0, v.training.stopped_at_step or 0) >= rung.step]  # type: ignore[union-attr]
        scores = {v.candidate_id: rung_score(v.training.curve, rung.step, cfg.td3.start_steps, cfg.eval.last_k)  # type: ignore[union-attr]
                  for v in reached}
        keep = set(rung_survivors(scores, [v.candidate_id for v in views], rung.keep))
        for view in reached:
            training = view.training
            assert training is not None
            if view.candidate_id in keep or training.status != "pending" or training.rung_step != rung.step:
                continue  # a survivor, already cut, or (trained on past the rung) not ours to cut
            reason = (f"stopped early at step {rung.step} of {training.total_steps} by successive halving: not among "
                      f"the best {rung.keep} of {len(reached)} candidates of iteration {it + 1} at that step")
            score = scores[view.candidate_id]
            self.store.stop_training(self.run_id, training.training_id, step=rung.step, score=score, reason=reason)
            if training.checkpoint_dir:
                _remove_tree(training.checkpoint_dir)  # never continued: free the disk
            self.sink(ev.TrainingStopped(self.run_id, training_id=training.training_id, step=rung.step,
                                         total_steps=training.total_steps, score=score, reason=reason))

    # -- feed back: the LLM's analysis of the iteration --------------------------------------

    def _feed_back(self, it: int) -> str | None:
        cfg = self.config
        shown = [v for v in self._iteration_views(it) if v.status != "rejected"]
        next_analysis: str | None = None
        if it < cfg.iterations - 1:
            next_analysis = self.sampler.analyse(it, shown, self._control_score())
        self.store.finish_iteration(self.run_id, it, next_analysis, self._dropped)
        best = best_search_candidate(self._views())
        self.store.set_run_best(self.run_id, best.candidate_id if best else None, best.score if best else None,
                                self._control_score())
        self.sink(ev.IterationFinished(self.run_id, iteration=it, best_candidate_id=best.candidate_id if best else None,
                                       best_score=best.score if best else None))
        return next_analysis

    # -- select: the top candidates again on fresh seeds ------------------------------------

    def _select(self) -> CandidateView:
        cfg = self.config
        finalists = selection_finalists(self._views())
        if cfg.select_seeds > 0 and len(finalists) >= 2:
            seeds = selection_seeds(cfg)
            names = ", ".join(f.candidate_id for f in finalists)
            self._log(f"re-evaluating {names} and the raw-state control on {len(seeds)} fresh seed(s) x "
                      f"{cfg.steps} steps before choosing the best")
            jobs = []
            for seed in seeds:
                for view in finalists:
                    jobs.append(self.trainings.ask(arm_request(cfg, self.env, "selection", seed, cfg.steps,
                                                               view.candidate_id, view.code, view.extra_dims)))
                jobs.append(self.trainings.ask(arm_request(cfg, self.env, "selection", seed, cfg.steps, None, None)))
            self._wait(jobs)
            outcome = read_selection(finalists, self.store.list_trainings(self.run_id))
            for view in finalists:
                if view.candidate_id in outcome.disqualified:
                    mean = f"out: its code failed a re-evaluation ({outcome.disqualified[view.candidate_id][:120]})"
                elif view.candidate_id in outcome.means:
                    mean = f"mean {outcome.means[view.candidate_id]:.4g} over the common seeds {outcome.common_seeds}"
                else:
                    mean = "no common finished seed"
                self._log(f"{view.candidate_id}: search score {view.score:.4g}, {mean}")
        best = choose_best(self._views(), self.store.list_trainings(self.run_id))
        if best is None:
            raise RunFailed("no candidate finished training with a score; see `lesr show` for the reasons")
        self.store.set_run_best(self.run_id, best.candidate_id, best.score, self._control_score())
        return best

    # -- evaluate: the best and the raw state on paired fresh seeds --------------------------

    def _evaluate(self, best: CandidateView) -> None:
        cfg = self.config
        self.sink(ev.FinalEvaluationStarted(self.run_id, best_candidate_id=best.candidate_id, seeds=cfg.seeds,
                                            steps=cfg.final_steps))
        evaluate_arms(self.trainings, cfg, self.env, Contender(best.candidate_id, best.code, best.extra_dims))
        self._check()
        comparison = final_comparison(self.store.list_trainings(self.run_id, purpose="final"))
        if comparison is None or (not comparison.paired_seeds and not comparison.candidate_failed_seeds):
            raise RunFailed("final evaluation: no seed finished in both arms, so there is nothing to compare")
        for gone in comparison.excluded_seeds:
            # Both arms must be compared over the same seeds: this seed leaves the comparison.
            self._log(f"final seed {gone['seed']} left out of both arms ({gone['reason']})", level="warning")
        for failed in comparison.candidate_failed_seeds:
            self._log(f"final seed {failed['seed']}: the best candidate's code failed its training "
                      f"({failed['reason'][:200]})", level="warning")

    def _video(self, best: CandidateView) -> str | None:
        if not self.config.render_video:
            return None
        self._check()
        finals = [t for t in self.store.list_trainings(self.run_id, purpose="final")
                  if t.candidate_id == best.candidate_id and t.status == "finished" and t.policy_path
                  and Path(t.policy_path).is_file()]
        search = best.training
        chosen = finals[0].policy_path if finals else (search.policy_path if search else None)
        if not chosen:
            return None
        out = self.run_dir / "best.mp4"
        try:
            # imported here: the video needs imageio and ffmpeg, and only runs that render one load them
            from lesr_local.render.video import render_policy_video

            info = render_policy_video(self.config.env_id, chosen, best.code, out, episodes=1,
                                       env_spec=self.config.env_spec, cancel=self.halt,
                                       unsafe_no_seccomp=self.config.unsafe_no_seccomp)
        except Exception as exc:  # noqa: BLE001 - a missing video is a warning, not a failed run
            self._check()
            self._log(f"no video: {type(exc).__name__}: {exc}", level="warning")
            return None
        self.sink(ev.VideoWritten(self.run_id, candidate_id=best.candidate_id, path=str(info.path)))
        return str(info.path)

    # -- helpers -----------------------------------------------------------------------------

    def _views(self) -> list[CandidateView]:
        return self.store.candidate_views(self.run_id)

    def _iteration_views(self, it: int) -> list[CandidateView]:
        return [v for v in self._views() if v.iteration == it]

    def _history(self) -> list[CandidateView]:
        return [v for v in self._views() if v.status in ("finished", "failed", "rejected")]

    def _control_score(self) -> float | None:
        control = next(iter(self.store.list_trainings(self.run_id, purpose="control")), None)
        return control.score if control else None

    def _wait(self, jobs: list[TrainingJob]) -> None:
        self.trainings.wait(jobs)
        self._check()

    def _check(self) -> None:
        if self.halt.is_set():
            raise _Stopped()

    def _log(self, message: str, level: str = "info") -> None:
        self.sink(ev.Log(self.run_id, level=level, message=message))


class _Bridge:
    """Copies the user's cancel event onto the drive's halt event (polling; stops with the drive)."""

    def __init__(self, source: threading.Event, target: threading.Event) -> None:
        self._source = source
        self._target = target
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="lesr-cancel-bridge", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.is_set():
            if self._source.wait(0.1):
                self._target.set()
                return

    def stop(self) -> None:
        self._done.set()
        self._thread.join(1.0)


def _remove_tree(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def _require_walls(config: RunConfig) -> None:
    """BadInput (one line) when this machine's sandbox would refuse candidate code and the user did not
    opt out: found by a real check worker with a harmless probe, before anything is stored."""
    if config.unsafe_no_seccomp:
        return
    refused = sandbox_walls().get("refused")
    if refused:
        raise BadInput(str(refused))


def _env_info(config: RunConfig) -> EnvInfo:
    return get_env_info(config.env_id, config.env_spec)


def _model(config: RunConfig) -> ModelInfo:
    if config.llm.url is not None:
        # A llama.cpp server: what it serves now; recorded in the run's config (a resume checks it).
        recorded = {"served_model": config.llm.served_model}
        model, facts = served_model(config.llm.url, recorded)
        for key, value in facts.record().items():
            setattr(config.llm, key, value)
    else:
        model = resolve_model(config.llm.model)
    check_chat_template(model)  # a broken template fails here, before the run exists
    return model

