"""`lesr show RUN_ID`: one run in detail (config, candidates, LLM exchanges); `--plot FILE.png` draws it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lesr_local.cli import add_home_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("show", help="show one run: config, candidates, LLM calls, final evaluation")
    add_home_option(parser)
    parser.add_argument("run_id", metavar="RUN_ID")
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout")
    parser.add_argument("--plot", default=None, metavar="FILE.png",
                        help="draw learning curves and per-dim Lipschitz bars into a PNG")
    parser.set_defaults(func=_handle)


# What v1 called each training (its `kind`), kept in the JSON for scripts that read it.
V1_KINDS = {("search", "candidate"): "search", ("control", "raw"): "baseline", ("selection", "candidate"): "selection",
            ("selection", "raw"): "selection-baseline", ("final", "candidate"): "final-best",
            ("final", "raw"): "final-baseline"}


def training_entry(t: Any) -> dict[str, Any]:
    from lesr_local.commands.history import iso

    return {
        "training_id": t.training_id, "purpose": t.purpose, "arm": t.arm, "kind": V1_KINDS.get((t.purpose, t.arm),
                                                                                                 t.purpose),
        "candidate_id": t.candidate_id, "group_id": t.group_id, "seed": t.seed, "status": t.status,
        "failure": t.failure, "reason": t.reason, "score": t.score, "lipschitz": t.lipschitz,
        "dim_names": t.dim_names, "curve": [list(p) for p in t.curve], "steps_done": t.steps_done,
        "total_steps": t.total_steps, "env_steps": t.env_steps, "trained_steps": t.trained_steps,
        "algo": t.algo, "shaping": t.shaping, "intrinsic_weight": t.intrinsic_weight, "observation": t.observation,
        "seconds": t.seconds, "steps_per_s": t.steps_per_s, "policy_path": t.policy_path,
        "checkpoint_dir": t.checkpoint_dir, "executor": t.executor, "node": t.node, "resumed_from": t.resumed_from,
        "rung_step": t.rung_step, "stopped_at_step": t.stopped_at_step, "key": t.key,
        "reused_from": None if t.reused_from_training is None else {
            "run_id": t.reused_from_run, "training_id": t.reused_from_training, "steps": t.reused_steps},
        "walls": t.walls, "numerics": t.numerics, "started_at": iso(t.started_at), "finished_at": iso(t.finished_at),
    }


def run_detail(store: Any, run_id: str) -> dict[str, Any]:
    from lesr_local.commands.history import iso
    from lesr_local.experiments.ablation import ablation_report
    from lesr_local.experiments.transfer_report import transfer_reports
    from lesr_local.search.headline import run_headline
    from lesr_local.trainings.disk import run_disk_use

    run = store.get_run(run_id)
    trainings = store.list_trainings(run.run_id)
    views = store.candidate_views(run.run_id)
    calls = store.list_llm_calls(run.run_id)
    candidates = []
    for v in views:
        t = v.training
        entry = {
            "candidate_id": v.candidate_id, "kind": "search", "iteration": v.iteration, "sample": v.candidate.sample,
            "status": v.status, "reason": v.reason, "extra_dims": v.extra_dims, "code": v.code,
            "code_path": v.candidate.code_path, "created_at": iso(v.candidate.created_at),
        }
        entry.update({key: None for key in ("seed", "score", "lipschitz", "dim_names", "finished_at", "started_at",
                                            "seconds", "policy_path", "stopped_at_step", "rung_step", "executor",
                                            "node", "resumed_from", "reused_from", "training_id")})
        entry.update({"steps_done": 0, "total_steps": 0, "curve": []})
        if t is not None:
            training = training_entry(t)
            entry.update({key: training[key] for key in (
                "training_id", "seed", "score", "lipschitz", "dim_names", "finished_at", "started_at", "seconds",
                "policy_path", "stopped_at_step", "rung_step", "executor", "node", "resumed_from", "reused_from",
                "steps_done", "total_steps", "curve")})
        candidates.append(entry)
    return {
        "run_id": run.run_id, "kind": run.kind, "env": run.env_id, "env_id": run.env_id, "preset": run.preset,
        "status": run.status, "reason": run.reason, "created": iso(run.created), "updated": iso(run.updated),
        "finished_at": iso(run.finished_at), "best_candidate_id": run.best_candidate_id,
        "best_score": run.best_score, "control_score": run.baseline_score, "baseline_score": run.baseline_score,
        "config": run.config, "headline": run_headline(run), "summary": run.summary,
        "run_dir": str(store.runs_dir / run.run_id),
        # runs saved before the setting existed trained with additive shaping
        "shaping": run.config.get("shaping", "additive"),
        "ablations": ablation_report(trainings),
        "iterations": [
            {"iteration": it.iteration, "status": it.status, "analysis": it.analysis, "dropped": it.dropped,
             "started_at": iso(it.started_at), "finished_at": iso(it.finished_at)}
            for it in store.list_iterations(run.run_id)
        ],
        "candidates": candidates,
        "trainings": [training_entry(t) for t in trainings],
        "llm_calls": [
            {"id": c.id, "call_key": c.call_key, "purpose": c.purpose, "iteration": c.iteration,
             "sample": c.sample, "attempt": c.attempt, "prompt_tokens": c.prompt_tokens,
             "completion_tokens": c.completion_tokens, "seconds": c.seconds, "finish_reason": c.finish_reason,
             "created_at": iso(c.created_at), "created_ts": c.created_at, "prompt": c.prompt, "reply": c.reply}
            for c in calls
        ],
        "transfers": transfer_reports(store, run.run_id),
        "disk": run_disk_use(store, run.run_id).to_json(),
    }


def _handle(args: argparse.Namespace) -> int:
    from lesr_local.output import print_json
    from lesr_local.store import Store
    from lesr_local.workspace import home_from

    with Store(home_from(args)) as store:
        detail = run_detail(store, args.run_id)
        if args.plot:
            from lesr_local.plots import plot_run

            run = store.get_run(args.run_id)
            plot_run(run, store.candidate_views(run.run_id), store.list_trainings(run.run_id), args.plot,
                     detail["ablations"])
    if args.json:
        print_json(detail)
    else:
        _print(detail)
        if args.plot:
            print(f"plot written to {args.plot}")
    return 0


def _print(detail: dict[str, Any]) -> None:
    import tomli_w
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    from lesr_local.experiments.comparison_text import comparison_text
    from lesr_local.search.headline import headline_text
    from lesr_local.search.reporter import env_steps_text

    # No markup anywhere: ids, reasons, paths and the config come from the store (a candidate's
    # reason "[/]" would raise MarkupError); styling only through Text.
    console = Console(width=None if sys.stdout.isatty() else 160, markup=False, highlight=False)
    console.print(Text.assemble((f"run {detail['run_id']}", "bold"), f" — {detail['env']} — preset "
                                f"{detail['preset']} — {detail['status']}"
                                + (f" ({detail['reason']})" if detail["reason"] else "")))
    console.print(f"created {detail['created']}, folder {detail['run_dir']}, shaping {detail['shaping']}")
    config = detail["config"]
    console.print(f"executor: {config.get('executor', 'local')}"
                  + (f" (Ray address {config['ray_address']})" if config.get("ray_address") else ""))
    console.print("config", style="bold")
    console.print(tomli_w.dumps(detail["config"]).strip(), markup=False, highlight=False)
    table = Table(title="candidates")
    for name in ("candidate", "iter", "status", "score", "+dims", "steps", "Lipschitz (max)", "where", "note"):
        table.add_column(name)
    for c in detail["candidates"]:
        lip = c["lipschitz"]
        table.add_row(
            c["candidate_id"], "-" if c["iteration"] is None else str(c["iteration"] + 1), c["status"],
            "-" if c["score"] is None else f"{c['score']:.2f}", "-" if c["extra_dims"] is None else str(c["extra_dims"]),
            f"{c['steps_done']}/{c['total_steps']}", "-" if not lip else f"{max(lip):.3g}", _where(c),
            (c["reason"] or "")[:60],
        )
    console.print(table)
    others = [t for t in detail["trainings"] if t["purpose"] in ("control", "selection", "final")]
    if others:
        table = Table(title="control, re-evaluation and final evaluation")
        for name in ("training", "seed", "status", "score", "steps", "where", "note"):
            table.add_column(name)
        for t in others:
            reused = t["reused_from"]
            note = (f"reused from {reused['run_id']} {reused['training_id']}"
                    + ("" if reused["steps"] >= t["total_steps"] else f" (first {reused['steps']} steps)")
                    if reused else (t["reason"] or ""))
            table.add_row(escape(t["training_id"]), str(t["seed"]), t["status"],
                          "-" if t["score"] is None else f"{t['score']:.2f}", f"{t['env_steps']}/{t['total_steps']}",
                          escape(_where(t)), escape(note[:70]))
        console.print(table)
    summary = detail["summary"] or {}
    console.print(Text.assemble(("headline", "bold"), f": {headline_text(detail['headline'])}"))
    final = summary.get("final")
    if final and "improvement_ci95" in final:
        b, r = final["best"], final.get("raw") or final["baseline"]
        console.print(f"final: best {_pm(b)} vs baseline {_pm(r)} over {b['seeds']} paired seed(s); "
                      f"IQM {_num(b.get('iqm'))} vs {_num(r.get('iqm'))}; AUC {_num(b.get('auc'))} vs "
                      f"{_num(r.get('auc'))}", highlight=False)
        if final.get("improvement") is not None:
            console.print("final " + comparison_text(
                final["improvement"], final.get("improvement_relative"), final.get("improvement_ci95"),
                final.get("improvement_ci95_t"), final.get("verdict"), has_t="improvement_ci95_t" in final),
                markup=False, highlight=False)
        for gone in final.get("excluded_seeds") or []:
            console.print(f"final seed {gone['seed']} excluded from both arms: {gone['reason']}", highlight=False)
    if summary.get("verdict"):
        console.print(f"verdict: {summary['verdict']}", highlight=False)
    pruning = summary.get("pruning")
    if pruning:
        console.print(f"successive halving: {pruning['stopped_candidates']} candidate(s) stopped early, "
                      f"{pruning['saved_candidate_steps']} candidate steps saved", highlight=False)
    if (summary.get("best") or {}).get("selection_mean") is not None:
        best = summary["best"]
        console.print(f"best chosen on fresh seeds: {best['candidate_id']} seed mean {best['selection_mean']:.4g}",
                      highlight=False)
    if summary:
        console.print(env_steps_text({"selection_env_steps": 0, "search_env_steps": 0, "final_env_steps": 0,
                                      "total_env_steps": 0, **summary}), highlight=False, markup=False)
    disk = detail["disk"]
    kept = ", ".join(f"{entry['files']} {why} ({_mb(entry['bytes'])})" for why, entry in disk["checkpoints"].items())
    console.print(f"on disk: policies {_mb(disk['policies_bytes'])}, checkpoints {_mb(disk['checkpoints_bytes'])}"
                  + (f" ({kept})" if kept else "") + f", videos {_mb(disk['videos_bytes'])}; "
                  f"`lesr gc` could free {_mb(disk['freeable_bytes'])}", highlight=False, markup=False)
    if detail["ablations"]:
        from lesr_local.commands.ablate import print_ablation

        for report in detail["ablations"]:
            print_ablation(report)
    if detail.get("transfers"):
        from lesr_local.commands.transfer import transfer_text

        console.print("transfers", style="bold")
        for transfer in detail["transfers"]:
            console.print(transfer_text(transfer), markup=False, highlight=False)
    calls = detail["llm_calls"]
    tokens = sum(c["completion_tokens"] for c in calls)
    console.print(f"LLM exchanges: {len(calls)} ({tokens} tokens written)")


def _where(c: dict[str, Any]) -> str:
    """"ray 69418472…" / "local vm": the executor and the (shortened) node a training ran on."""
    if not c["executor"]:
        return "-"
    node = c["node"] or "?"
    return f"{c['executor']} {node[:8] + '…' if len(node) > 12 else node}"


def _pm(arm: dict[str, Any]) -> str:
    if arm.get("mean") is None:
        return "-"
    return f"{arm['mean']:.2f} ± {_num(arm.get('std'))}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"
