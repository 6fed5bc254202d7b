"""Pictures of a run (matplotlib, no display needed): learning curves and per-dim Lipschitz bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lesr_local.envs.catalogue import get_env_info
from lesr_local.errors import BadInput, LesrError
from lesr_local.store import CandidateView, RunRecord, TrainingRecord


def metric_label(run: RunRecord) -> str:
    """Axis label of the run's evaluations: the env's metric (success rate for goal tasks)."""
    env_spec = run.config.get("env_spec") if isinstance(run.config, dict) else None
    try:
        metric = get_env_info(run.env_id, env_spec).metric
    except LesrError:  # an env this machine can no longer make: label the plain return
        metric = "return"
    return "success rate" if metric == "success_rate" else "evaluation return"


def plot_run(run: RunRecord, candidates: list[CandidateView], trainings: list[TrainingRecord], out: str | Path,
             ablations: list[dict[str, Any]] | None = None) -> Path:
    """Left: evaluation curves of every search candidate, the best and the raw-state control (plus the
    final-evaluation seeds). Middle: the best candidate's Lipschitz constant per dim of F(s). Right,
    when the run has `lesr ablate` results (experiments.ablation.ablation_report): the latest
    ablation's per-variant mean ± std with every seed's score as a dot."""
    path = Path(out).expanduser()
    if path.suffix.lower() != ".png":
        raise BadInput(f"plot file must end in .png, got {path.name!r}")
    if not path.parent.exists():
        raise BadInput(f"folder {path.parent} does not exist")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best_id = run.best_candidate_id
    best_view = next((c for c in candidates if c.candidate_id == best_id), None)
    best = best_view.training if best_view is not None else None
    if ablations:
        fig, (ax_curve, ax_lip, ax_abl) = plt.subplots(1, 3, figsize=(18, 5),
                                                       gridspec_kw={"width_ratios": [3, 2, 2]})
        _plot_ablation(ax_abl, ablations[-1])
    else:
        fig, (ax_curve, ax_lip) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    metric = metric_label(run)
    drawn = 0
    for t in trainings:
        if not t.curve or t.purpose in ("ablation", "transfer"):
            continue
        steps = [s for s, _ in t.curve]
        values = [v for _, v in t.curve]
        if t.purpose == "search":
            is_best = t.candidate_id == best_id
            ax_curve.plot(steps, values, linewidth=2.5 if is_best else 1.0, alpha=1.0 if is_best else 0.45,
                          color="tab:red" if is_best else None,
                          label=f"{t.candidate_id} (best)" if is_best else t.candidate_id)
        elif t.purpose == "control":
            ax_curve.plot(steps, values, color="black", linestyle="--", linewidth=2.0, label="control (raw state)")
        elif t.purpose == "final" and not t.is_raw:
            ax_curve.plot(steps, values, color="tab:red", linestyle=":", alpha=0.7, label=t.training_id)
        else:
            ax_curve.plot(steps, values, color="gray", linestyle=":", alpha=0.7, label=t.training_id)
        drawn += 1
    ax_curve.set_title(f"{run.env_id} — run {run.run_id}")
    ax_curve.set_xlabel("env steps")
    ax_curve.set_ylabel(metric)
    ax_curve.grid(alpha=0.3)
    if drawn:
        ax_curve.legend(fontsize=7, loc="best", ncol=2)
    else:
        ax_curve.text(0.5, 0.5, "no evaluations yet", ha="center", va="center", transform=ax_curve.transAxes)

    if best is not None and best.lipschitz:
        names = best.dim_names or [f"dim {i}" for i in range(len(best.lipschitz))]
        labels = [_short(f"{i}: {name}") for i, name in enumerate(names)]
        state_dim = len(best.lipschitz) - ((best_view.extra_dims if best_view else 0) or 0)
        colors = ["tab:blue" if i < state_dim else "tab:orange" for i in range(len(best.lipschitz))]
        ax_lip.barh(range(len(best.lipschitz)), best.lipschitz, color=colors)
        ax_lip.set_yticks(range(len(labels)), labels, fontsize=7)
        ax_lip.invert_yaxis()
        ax_lip.set_xlabel("Lipschitz constant vs extrinsic reward (orange: extra features)")
        ax_lip.set_title(f"per-dim Lipschitz of {best_id}")
    else:
        ax_lip.text(0.5, 0.5, "no Lipschitz data", ha="center", va="center", transform=ax_lip.transAxes)
        ax_lip.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_ablation(ax: Any, report: dict[str, Any]) -> None:
    variants = report["variants"]
    names = [v["variant"] for v in variants]
    means = [v["mean"] if v["mean"] is not None else 0.0 for v in variants]
    stds = [v["std"] or 0.0 for v in variants]
    colors = ["gray" if n == "raw" else "tab:green" for n in names]
    ax.bar(range(len(names)), means, yerr=stds, color=colors, alpha=0.6, capsize=4)
    for i, v in enumerate(variants):
        scores = [p["score"] for p in v["per_seed"] if p["score"] is not None]
        ax.scatter([i] * len(scores), scores, color="black", s=12, zorder=3)
    ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
    ax.set_title(f"ablation of {report['candidate_id']} ({report['steps']} steps, {len(report['seeds'])} seeds)")
    ax.grid(alpha=0.3, axis="y")


def _short(text: str, width: int = 38) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
