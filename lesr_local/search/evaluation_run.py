"""`lesr evaluate`: the final evaluation alone, for a representation from a file (hand-written,
exported, from a paper): its F/G after the same checks as the search's candidates, and the raw state,
trained on the same paired seeds with the same statistics and verdict as a run.

It is stored as a run of kind "evaluation" (shown by `lesr history` and `lesr show`), so its trainings
are reused like any other and reuse theirs: the raw arm of a run with the same settings is not
trained again. The same command run again continues an unfinished evaluation of the same code and
settings instead of starting another one.
"""

from __future__ import annotations

import threading
import time

from lesr_local import events as ev
from lesr_local.candidates.checks import check_candidate
from lesr_local.config import RunConfig, save_toml, validate
from lesr_local.envs.catalogue import get_env_info
from lesr_local.errors import BadInput, Interrupted
from lesr_local.experiments.evaluation import Contender, evaluate_arms, final_comparison
from lesr_local.procs import same_process
from lesr_local.search.summary import RunSummary, build_summary
from lesr_local.store import Store, new_run_id
from lesr_local.store.files import atomic_write_text
from lesr_local.trainings.executors import Executor
from lesr_local.trainings.service import Trainings

CANDIDATE_ID = "features"


def evaluate_representation(store: Store, config: RunConfig, code: str, executor: Executor, sink: ev.EventSink,
                            cancel: threading.Event) -> RunSummary:
    """Check `code` (BadInput with the check's reason when rejected), then evaluate it against the raw
    state on `config.seeds` paired seeds of `config.final_steps` steps."""
    validate(config)
    env = get_env_info(config.env_id, config.env_spec)
    check = check_candidate(code, config.env_id, config.env_spec)
    if not check.valid:
        raise BadInput(f"the features file was rejected: {check.reason}")
    run_id = _unfinished_twin(store, config, code) or _new_run(store, config, code, check.extra_dims)
    store.claim_run(run_id)
    sink(ev.RunStarted(run_id, env_id=config.env_id, config=config.to_dict()))
    sink(ev.FinalEvaluationStarted(run_id, best_candidate_id=CANDIDATE_ID, seeds=config.seeds,
                                   steps=config.final_steps))
    trainings = Trainings(store, run_id, executor, sink, cancel, reuse=config.reuse)
    try:
        evaluate_arms(trainings, config, env, Contender(CANDIDATE_ID, code, check.extra_dims))
    except BaseException:
        store.requeue_unfinished(run_id)
        _end(store, run_id, "interrupted", "interrupted by the user", sink)
        raise
    if cancel.is_set():
        store.requeue_unfinished(run_id)
        _end(store, run_id, "interrupted", "interrupted by the user", sink)
        raise Interrupted(f"evaluation {run_id} interrupted; run the same `lesr evaluate` again to continue it")
    comparison = final_comparison(store.list_trainings(run_id, purpose="final"))
    if comparison is None or (not comparison.paired_seeds and not comparison.candidate_failed_seeds):
        return _end(store, run_id, "failed", "no seed finished in both arms, so there is nothing to compare", sink)
    return _end(store, run_id, "finished", None, sink)


def _new_run(store: Store, config: RunConfig, code: str, extra_dims: int | None) -> str:
    run_id = new_run_id()
    while store.find_run(run_id) is not None:
        time.sleep(0.01)
        run_id = new_run_id()
    store.create_run(run_id, config.env_id, config.preset, config.to_dict(), kind="evaluation")
    folder = store.ensure_run_dir(run_id)
    save_toml(config, folder / "config.toml")
    path = atomic_write_text(folder / "candidates" / f"{CANDIDATE_ID}.py", code)
    store.add_candidate(run_id, CANDIDATE_ID, code=code, code_path=path, extra_dims=extra_dims)
    store.set_run_best(run_id, CANDIDATE_ID, None, None)
    return run_id


def _unfinished_twin(store: Store, config: RunConfig, code: str) -> str | None:
    """An unfinished evaluation of the same code with the same settings (not driven right now)."""
    for run in store.list_runs():
        if run.kind != "evaluation" or run.status == "finished" or run.config != config.to_dict():
            continue
        if run.status == "running" and run.owner_pid and same_process(run.owner_pid, run.owner_started):
            continue
        candidate = store.find_candidate(run.run_id, CANDIDATE_ID)
        if candidate is not None and candidate.code == code:
            return run.run_id
    return None


def _end(store: Store, run_id: str, status: str, reason: str | None, sink: ev.EventSink) -> RunSummary:
    summary = build_summary(store, run_id, status=status, reason=reason)
    store.end_run(run_id, status, reason, summary.to_dict(), CANDIDATE_ID, None, None)
    sink(ev.RunFinished(run_id, status=status, summary=summary.to_dict(), reason=reason))
    return summary
