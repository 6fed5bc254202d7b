"""The LESR loop: I iterations x K candidates, a raw-state control, the final evaluation.

Per iteration the LLM writes K candidates one after the other (each through the repair loop); every
accepted candidate starts training at once on the executor while the model writes the next one.
When the iteration's trainings are done, the model analyses the results and the next prompt carries
the history (best and most recent first, trimmed to the context window) and that analysis. The best
candidate over all iterations and the raw-state baseline are then trained over S seeds x N steps.

Everything is kept in the store as it happens; `resume` picks a stopped or killed run up again:
finished candidates and LLM exchanges are reused, unfinished trainings continue from checkpoints.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lesr_local.config import RunConfig, save_toml, validate
from lesr_local.envs.catalogue import get_env_info
from lesr_local.errors import BadInput, Interrupted, LesrError, RunFailed
from lesr_local.llm.discovery import resolve_model
from lesr_local.llm.prompting import check_chat_template
from lesr_local.procs import pid_alive
from lesr_local.rl.spec import TrainSpec
from lesr_local.search import events as ev
from lesr_local.search.executors import Executor, LocalProcessExecutor, default_workers, make_executor
from lesr_local.search.halving import Rung, rung_schedule, rung_score, rung_survivors
from lesr_local.search.llm_session import GenerationCancelled, LLMSession
from lesr_local.search.sampling import CandidateSampler
from lesr_local.search.summary import (
    RunSummary,
    best_search_candidate,
    build_summary,
    choose_best,
    final_comparison,
    selection_finalists,
    selection_means,
)
from lesr_local.search.training import JobRecorder, TrainingJob, checkpoint_dir, policy_path
from lesr_local.store import CandidateRecord, Store, new_run_id
from lesr_local.store.files import atomic_write_text

if TYPE_CHECKING:
    from lesr_local.envs.info import EnvInfo
    from lesr_local.llm.discovery import ModelInfo

STOP_GRACE_S = 20.0


# "Baseline" names two different things in LESR. The search control is the raw-state training run
# alongside the candidates, once, at N_small steps, on the run's seed (stored as candidate
# "baseline", kind "baseline"; the summary's top-level `baseline`). The final-evaluation baseline
# arm is the raw state trained over S fresh seeds at N steps (kind "final-baseline";
# `final.baseline`). Code says "control" for the first and "baseline arm" for the second.
SEARCH_CONTROL_ID = "baseline"

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

    def resume(self, run_id: str, executor: str | None = None, ray_address: str | None = None) -> RunSummary:
        """Continue a stopped, killed or failed run where it was left (`executor`: on another one)."""
        run = self.store.get_run(run_id)
        if run.status == "finished":
            raise BadInput(f"run {run_id} already finished; nothing to resume")
        if run.status == "running" and run.owner_pid and run.owner_pid != os.getpid() and pid_alive(run.owner_pid):
            raise BadInput(f"run {run_id} is still running in process {run.owner_pid}")
        config = RunConfig.from_dict(run.config)
        if executor is not None:
            config.executor, config.ray_address = executor, ray_address
        env = _env_info(config)
        model = _model(config)
        chosen = self._executor(config)
        if executor is not None:  # saved only once the executor could be had (else: bad input, nothing written)
            self.store.set_run_config(run_id, config.to_dict())
        return self._guarded(run_id, config, env, model, chosen, resumed=True)

    def _executor(self, config: RunConfig) -> Executor:
        workers = config.workers or default_workers()
        if self._executor_factory is not None:
            return self._executor_factory(workers)
        return make_executor(config, workers)

    # -- driver ------------------------------------------------------------------------------

    def _guarded(self, run_id: str, config: RunConfig, env: EnvInfo, model: ModelInfo, executor: Executor,
                 resumed: bool) -> RunSummary:
        try:
            self.store.claim_run(run_id)
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
        try:
            video = _Loop(self, run_id, config, env, session, executor, halt).run()
        except BaseException as exc:
            halt.set()
            if self.cancel.is_set() or isinstance(exc, (_Stopped, GenerationCancelled, KeyboardInterrupt)):
                self._end(run_id, "interrupted", "interrupted by the user", executor, session)
                raise Interrupted(
                    f"run {run_id} interrupted; state saved, continue with `lesr run --resume {run_id}`"
                ) from None
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
        self.store.set_run_status(run_id, "finished")
        summary = build_summary(self.store, run_id, video_path=video)
        self._save_summary(run_id, summary)
        self.sink(ev.RunFinished(run_id, status="finished", summary=summary.to_dict()))
        return summary

    def _end(self, run_id: str, status: str, reason: str, executor: Executor, session: LLMSession) -> None:
        self._close(executor, session)
        self.store.requeue_unfinished(run_id)  # cut-off trainings wait as pending for a resume
        self.store.set_run_status(run_id, status, reason)
        summary = build_summary(self.store, run_id, status=status, reason=reason)
        self._save_summary(run_id, summary)
        self.sink(ev.RunFinished(run_id, status=status, summary=summary.to_dict(), reason=reason))

    def _save_summary(self, run_id: str, summary: RunSummary) -> None:
        best = summary.best or {}
        control = summary.baseline or {}  # the summary's `baseline` (a contract name) is the search control
        self.store.set_run_summary(run_id, summary.to_dict(), best.get("candidate_id"), best.get("score"),
                                   control.get("score"))

    @staticmethod
    def _close(executor: Executor, session: LLMSession) -> None:
        try:
            executor.close()
        finally:
            session.close()

    def _log(self, run_id: str, level: str, message: str) -> None:
        self.sink(ev.Log(run_id, level=level, message=message))


class _Loop:
    """One drive of one run (fresh or resumed)."""

    def __init__(self, engine: SearchEngine, run_id: str, config: RunConfig, env: EnvInfo,
                 session: LLMSession, executor: Executor, halt: threading.Event) -> None:
        self.engine = engine
        self.store = engine.store
        self.sink = engine.sink
        self.halt = halt  # set on the user's cancel or an engine error: stop taking new work
        self.run_id = run_id
        self.config = config
        self.env = env
        self.session = session
        self.executor = executor
        self.run_dir = self.store.ensure_run_dir(run_id)
        self.recorder = JobRecorder(self.store, self.sink, self.halt)
        self.sampler = CandidateSampler(self.store, run_id, config, env, session, self.sink, self.halt)

    def run(self) -> str | None:
        cfg = self.config
        control = None if self.engine.search_only else self._ensure_job(
            SEARCH_CONTROL_ID, kind=SEARCH_CONTROL_ID, code=None, seed=cfg.seed, steps=cfg.steps)
        analysis: str | None = None
        for it in range(cfg.iterations):
            self._check()
            record = next((r for r in self.store.list_iterations(self.run_id) if r.iteration == it), None)
            if record is not None and record.status == "finished":
                analysis = record.analysis
                continue
            self.store.start_iteration(self.run_id, it)
            self.sink(ev.IterationStarted(self.run_id, iteration=it, iterations=cfg.iterations))
            analysis = self._iteration(it, analysis, control)
        self._wait([control])
        self.session.close()  # the model is not needed any more: give its memory to the trainings
        if best_search_candidate(self.store.list_candidates(self.run_id)) is None:
            raise RunFailed("no candidate finished training with a score; see `lesr show` for the reasons")
        if self.engine.search_only:
            return None
        best = self._select()
        self._final(best)
        return self._video(best)

    # -- one iteration -----------------------------------------------------------------------

    def _iteration(self, it: int, analysis: str | None, control: TrainingJob | None) -> str | None:
        cfg = self.config
        history = self._history()
        prompt, dropped = self.sampler.iteration_prompt(it, history, analysis)
        if dropped:
            self.sink(ev.Log(self.run_id, level="info",
                             message=f"prompt trimmed to the context window; left out: {', '.join(dropped)}"))
        rungs = self._rungs()
        first_pause = rungs[0].step if rungs else None
        jobs: list[TrainingJob] = []
        for k in range(cfg.samples):
            self._check()
            cid = f"i{it}-k{k}"
            cand = self.store.find_candidate(self.run_id, cid)
            if cand is None:
                cand = self.sampler.sample(it, k, prompt)
            if cand.status in ("pending", "running") and cand.rung_step is None:  # not past rung 0 yet
                jobs.append(self._start(cand, pause_at=first_pause))
        # The control trains alongside every stage; only the analysis below needs its score.
        self._wait(jobs if rungs else [*jobs, control])
        for index, rung in enumerate(rungs):
            self._cut_at_rung(it, rung)
            pause = rungs[index + 1].step if index + 1 < len(rungs) else None
            survivors = [c for c in self._iteration_candidates(it)
                         if c.status in ("pending", "running") and c.rung_step == rung.step]
            self._wait([self._start(c, pause_at=pause) for c in survivors])
        self._wait([control])
        cands = [c for c in self.store.list_candidates(self.run_id, kind="search") if c.iteration == it]
        accepted = [c for c in cands if c.status != "rejected"]
        if not accepted:
            finished_before = best_search_candidate(self.store.list_candidates(self.run_id))
            reasons = "; ".join(sorted({c.reason or "?" for c in cands}))[:300]
            if finished_before is None:
                raise RunFailed(
                    f"iteration {it + 1}: none of the {cfg.samples} samples gave a valid candidate ({reasons})"
                )
            self.sink(ev.Log(self.run_id, level="warning",
                             message=f"iteration {it + 1}: no valid candidate ({reasons})"))
        next_analysis: str | None = None
        if it < cfg.iterations - 1:
            control = self.store.find_candidate(self.run_id, SEARCH_CONTROL_ID)
            next_analysis = self.sampler.analyse(it, cands, control.score if control else None)
        self.store.finish_iteration(self.run_id, it, next_analysis, dropped)
        best = best_search_candidate(self.store.list_candidates(self.run_id))
        control = self.store.find_candidate(self.run_id, SEARCH_CONTROL_ID)
        self.store.set_run_best(self.run_id, best.candidate_id if best else None, best.score if best else None,
                                control.score if control else None)
        self.sink(ev.IterationFinished(self.run_id, iteration=it, best_candidate_id=best.candidate_id if best else None,
                                       best_score=best.score if best else None))
        return next_analysis

    # -- successive halving (search/halving.py) ----------------------------------------------

    def _rungs(self) -> list[Rung]:
        cfg = self.config
        if cfg.prune != "halving":
            return []
        return rung_schedule(cfg.steps, cfg.samples, cfg.td3.start_steps, cfg.eval.every)

    def _iteration_candidates(self, it: int) -> list[CandidateRecord]:
        return [c for c in self.store.list_candidates(self.run_id, kind="search") if c.iteration == it]

    def _cut_at_rung(self, it: int, rung: Rung) -> None:
        """Keep the rung's best `rung.keep` of the candidates that reached it; stop the others there.

        Idempotent (a resumed run repeats it): the ranking uses only evaluations up to the rung step,
        which a candidate that went on keeps unchanged, and candidates already cut stay cut.
        """
        cfg = self.config
        cands = self._iteration_candidates(it)
        reached = [c for c in cands if c.status != "failed" and max(c.rung_step or 0, c.stopped_at_step or 0) >= rung.step]
        scores = {c.candidate_id: rung_score(c.curve, rung.step, cfg.td3.start_steps, cfg.eval.last_k) for c in reached}
        keep = set(rung_survivors(scores, [c.candidate_id for c in cands], rung.keep))
        for cand in reached:
            if cand.candidate_id in keep or cand.status != "pending" or cand.rung_step != rung.step:
                continue  # a survivor, already cut, or (trained on past the rung) not ours to cut
            reason = (f"stopped early at step {rung.step} of {cand.total_steps} by successive halving: not among "
                      f"the best {rung.keep} of {len(reached)} candidates of iteration {it + 1} at that step")
            score = scores[cand.candidate_id]
            self.store.stop_candidate(self.run_id, cand.candidate_id, step=rung.step, score=score, reason=reason)
            if cand.checkpoint_dir:
                shutil.rmtree(cand.checkpoint_dir, ignore_errors=True)  # never continued: free the disk
            self.sink(ev.CandidateStopped(self.run_id, candidate_id=cand.candidate_id, step=rung.step,
                                          total_steps=cand.total_steps, score=score, reason=reason))

    def _history(self) -> list[CandidateRecord]:
        return [c for c in self.store.list_candidates(self.run_id, kind="search")
                if c.status in ("finished", "failed", "rejected")]

    # -- re-evaluation before choosing (--select-seeds) -------------------------------------

    def _select(self) -> CandidateRecord:
        """Re-train the top candidates and the control on fresh seeds at N_small; pick on the seed mean."""
        cfg = self.config
        cands = self.store.list_candidates(self.run_id)
        finalists = selection_finalists(cands)
        if cfg.select_seeds > 0 and len(finalists) >= 2:
            # Fresh seeds, distinct from the search seed and from the final evaluation's seed+1..seed+S.
            seeds = [cfg.seed + cfg.seeds + 1 + j for j in range(cfg.select_seeds)]
            names = ", ".join(c.candidate_id for c in finalists)
            self._log(f"re-evaluating {names} and the raw-state control on {len(seeds)} fresh seed(s) x "
                      f"{cfg.steps} steps before choosing the best")
            jobs: list[TrainingJob | None] = []
            for seed in seeds:
                for cand in finalists:
                    jobs.append(self._ensure_job(f"select-{cand.candidate_id}-s{seed}", kind="selection",
                                                 code=cand.code, seed=seed, steps=cfg.steps,
                                                 source=cand.candidate_id, extra_dims=cand.extra_dims))
                jobs.append(self._ensure_job(f"select-baseline-s{seed}", kind="selection-baseline", code=None,
                                             seed=seed, steps=cfg.steps))
            self._wait(jobs)
            cands = self.store.list_candidates(self.run_id)
            means = selection_means(cands)
            for cand in finalists:
                runs = means.get(cand.candidate_id, [])
                mean = "no finished seed" if not runs else f"seed mean {sum(v for _, v in runs) / len(runs):.4g}"
                self._log(f"{cand.candidate_id}: search score {cand.score:.4g}, {mean}")
        best = choose_best(cands)
        if best is None:
            raise RunFailed("no candidate finished training with a score; see `lesr show` for the reasons")
        control = self.store.find_candidate(self.run_id, SEARCH_CONTROL_ID)
        self.store.set_run_best(self.run_id, best.candidate_id, best.score, control.score if control else None)
        return best

    def _log(self, message: str, level: str = "info") -> None:
        self.sink(ev.Log(self.run_id, level=level, message=message))

    # -- final evaluation --------------------------------------------------------------------

    def _final(self, best: CandidateRecord) -> None:
        cfg = self.config
        self.sink(ev.FinalEvaluationStarted(self.run_id, best_candidate_id=best.candidate_id, seeds=cfg.seeds,
                                            steps=cfg.final_steps))
        jobs: list[TrainingJob] = []
        for j in range(cfg.seeds):
            # Fresh seeds: the search seed picked the best, re-using it would carry that selection's luck.
            seed = cfg.seed + 1 + j
            jobs.append(self._ensure_job(f"final-best-s{seed}", kind="final-best", code=best.code, seed=seed,
                                         steps=cfg.final_steps, source=best.candidate_id,
                                         extra_dims=best.extra_dims))
            jobs.append(self._ensure_job(f"final-baseline-s{seed}", kind="final-baseline", code=None, seed=seed,
                                         steps=cfg.final_steps))
        self._wait([j for j in jobs if j is not None])
        rows = self.store.list_candidates(self.run_id)
        for kind in ("final-best", "final-baseline"):
            if not any(c.kind == kind and c.status == "finished" and c.score is not None for c in rows):
                reasons = "; ".join(sorted({c.reason or "?" for c in rows if c.kind == kind}))[:300]
                raise RunFailed(f"final evaluation: no {kind} training finished ({reasons})")
        comparison = final_comparison(rows)
        if comparison is None or not comparison.paired_seeds:
            raise RunFailed("final evaluation: no seed finished in both arms, so there is nothing to compare")
        for gone in comparison.excluded_seeds:
            # Both arms must be compared over the same seeds: this seed leaves the comparison.
            self.sink(ev.Log(self.run_id, level="warning",
                             message=f"final seed {gone['seed']} left out of both arms ({gone['reason']})"))

    def _video(self, best: CandidateRecord) -> str | None:
        if not self.config.render_video:
            return None
        self._check()
        finals = [c for c in self.store.list_candidates(self.run_id, kind="final-best")
                  if c.status == "finished" and c.policy_path and Path(c.policy_path).is_file()]
        chosen = finals[0] if finals else best
        if not chosen.policy_path:
            return None
        out = self.run_dir / "best.mp4"
        try:
            # imported here: the video needs imageio and ffmpeg, and only runs that render one load them
            from lesr_local.render.video import render_policy_video

            info = render_policy_video(self.config.env_id, chosen.policy_path, best.code, out, episodes=1,
                                       env_spec=self.config.env_spec, cancel=self.halt,
                                       unsafe_no_seccomp=self.config.unsafe_no_seccomp)
        except Exception as exc:  # noqa: BLE001 - a missing video is a warning, not a failed run
            self._check()
            self.sink(ev.Log(self.run_id, level="warning", message=f"no video: {type(exc).__name__}: {exc}"))
            return None
        self.sink(ev.VideoWritten(self.run_id, candidate_id=best.candidate_id, path=str(info.path)))
        return str(info.path)

    # -- trainings ---------------------------------------------------------------------------

    def _ensure_job(self, cid: str, *, kind: str, code: str | None, seed: int, steps: int,
                    source: str | None = None, extra_dims: int | None = None) -> TrainingJob | None:
        cand = self.store.find_candidate(self.run_id, cid)
        if cand is None:
            code_path = None
            if code is not None:
                code_path = str(atomic_write_text(self.run_dir / "candidates" / f"{cid}.py", code))
            cand = self.store.add_candidate(
                self.run_id, cid, kind=kind, seed=seed, total_steps=steps, code=code, code_path=code_path,
                source_candidate_id=source, extra_dims=extra_dims,
                checkpoint_dir=str(checkpoint_dir(self.run_dir, cid)),
            )
        if cand.status not in ("pending", "running"):
            return None
        return self._start(cand)

    def _start(self, cand: CandidateRecord, pause_at: int | None = None) -> TrainingJob:

        cfg = self.config
        job = TrainingJob(self.run_id, cand, self._dim_names(cand))
        job.curve = list(cand.curve) if cand.rung_step is not None else []  # a rung continues its curve
        spec = TrainSpec(
            env_id=cfg.env_id, steps=cand.total_steps, seed=cand.seed, candidate_source=cand.code,
            intrinsic_weight=cfg.intrinsic_weight, shaping=cfg.shaping, td3=cfg.td3, eval=cfg.eval,
            checkpoint_dir=checkpoint_dir(self.run_dir, cand.candidate_id),
            checkpoint_every=max(cfg.eval.every, cand.total_steps // 20),
            threads=cfg.train_threads,  # 0: the worker picks (procs.threads_per_worker)
            env_spec=cfg.env_spec, policy_path=policy_path(self.run_dir, cand.candidate_id),
            workers=self.executor.workers, pause_at_step=pause_at, unsafe_no_seccomp=cfg.unsafe_no_seccomp,
        )
        future = self.executor.submit(
            spec, lambda p: self.recorder.progress(job, p), self.halt, lambda: self.recorder.started(job),
            lambda pid: self.store.set_worker_pid(self.run_id, cand.candidate_id, pid),
            on_node=lambda node, host: self.store.set_placement(
                self.run_id, cand.candidate_id, getattr(self.executor, "name", "local"), node))
        future.add_done_callback(lambda f: self.recorder.done(job, f))
        return job

    def _dim_names(self, cand: CandidateRecord) -> list[str]:
        names = [d.description for d in self.env.dims]
        return names + extra_dim_names(cand.code, cand.extra_dims or 0)

    def _wait(self, jobs: list[TrainingJob | None]) -> None:
        pending = [j for j in jobs if j is not None]
        stop_deadline: float | None = None
        while pending:
            pending = [j for j in pending if not j.recorded.wait(0.2)]
            if self.halt.is_set():
                stop_deadline = stop_deadline or time.monotonic() + STOP_GRACE_S
                if time.monotonic() > stop_deadline:
                    break
        self._check()
        errors = [f"{j.candidate_id}: {j.error}" for j in jobs if j is not None and j.error]
        if errors:
            raise RuntimeError("recording a training failed: " + "; ".join(errors))

    def _check(self) -> None:
        if self.halt.is_set():
            raise _Stopped()


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


_FEATURE_LINE = re.compile(r"^\s*f(\d+)\s*=\s*(.+?)\s*$")


def extra_dim_names(code: str | None, extra: int) -> list[str]:
    """Names for the dims F adds: `f1 = <expression>` when the code assigns f1..fk, else generic."""
    found: dict[int, str] = {}
    for line in (code or "").splitlines():
        match = _FEATURE_LINE.match(line)
        if match and int(match.group(1)) not in found:
            found[int(match.group(1))] = f"f{match.group(1)} = {match.group(2)}"
    return [found.get(j + 1, f"extra feature {j}") for j in range(extra)]


def _env_info(config: RunConfig) -> EnvInfo:
    return get_env_info(config.env_id, config.env_spec)


def _model(config: RunConfig) -> ModelInfo:
    model = resolve_model(config.llm.model)
    check_chat_template(model)  # a broken template fails here, before the run exists
    return model

