"""End to end: one real smoke run (default model via llama.cpp, MuJoCo, TD3 workers, SQLite), then
assertions on its JSON summary, store rows, files and the history/show/export/plot commands."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lesr_local.store import Store
from tests.conftest import run_lesr

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("smoke-home")
    started = time.monotonic()
    proc = run_lesr("run", "--env", "InvertedPendulum-v5", "--preset", "smoke", "--headless", "--json",
                    home=home, timeout=600)
    wall = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout
    print(f"\nsmoke run: {wall:.1f} s\n{lines[0]}")
    return {"home": home, "summary": json.loads(lines[0]), "stderr": proc.stderr, "wall": wall}


def test_json_summary_fields(smoke: dict[str, Any]) -> None:
    s = smoke["summary"]
    assert s["status"] == "finished" and s["env_id"] == "InvertedPendulum-v5"
    assert s["iterations"] == 2
    assert s["best"]["candidate_id"].startswith("i") and isinstance(s["best"]["score"], float)
    assert Path(s["best"]["code_path"]).is_file()
    assert isinstance(s["control"]["score"], float) and s["baseline"] == s["control"]  # v1 name kept
    final = s["final"]
    assert final["baseline"] == final["raw"]
    for arm in ("best", "raw"):
        assert final[arm]["seeds"] == 2 and [p["seed"] for p in final[arm]["per_seed"]] == [1, 2]
        assert isinstance(final[arm]["mean"], float) and final[arm]["std"] >= 0.0
        assert isinstance(final[arm]["iqm"], float) and isinstance(final[arm]["auc"], float)
    assert final["improvement"] == pytest.approx(final["best"]["mean"] - final["raw"]["mean"])
    low, high = final["improvement_ci95"]
    assert low <= final["improvement"] <= high
    assert s["verdict"].startswith(final["verdict"]) and "preliminary" in s["verdict"]
    assert s["headline"]["kind"] == "final"
    assert s["final_env_steps"] == 2 * 2 * 1_200
    assert s["search_env_steps"] >= 2 * 1_200  # the control + at least one candidate
    assert s["total_env_steps"] == s["search_env_steps"] + s["selection_env_steps"] + s["final_env_steps"]
    assert s["reused_env_steps"] == 0 and s["trained_env_steps"] == s["total_env_steps"]  # a fresh home


def test_store_rows(smoke: dict[str, Any]) -> None:
    s = smoke["summary"]
    with Store(smoke["home"]) as store:
        run = store.get_run(s["run_id"])
        trainings = {t.training_id: t for t in store.list_trainings(run.run_id)}
        views = store.candidate_views(run.run_id)
        calls = store.list_llm_calls(run.run_id)
        iters = store.list_iterations(run.run_id)
    assert run.status == "finished" and run.summary == s and run.config["preset"] == "smoke"
    assert {"control", "final-best-s1", "final-best-s2", "final-raw-s1", "final-raw-s2"} <= set(trainings)
    assert {v.candidate_id for v in views} == {"i0-k0", "i0-k1", "i1-k0", "i1-k1"}
    for t in trainings.values():
        assert t.status in ("finished", "failed")
        assert t.walls is None or "seccomp" in t.walls
        if t.status == "finished":
            assert t.curve and t.lipschitz and len(t.dim_names) == len(t.lipschitz)
            assert t.finished_at is not None and t.steps_done == t.total_steps and t.numerics
        else:
            assert t.reason and t.failure in ("candidate", "infrastructure")
    assert trainings["final-best-s1"].candidate_id == s["best"]["candidate_id"]
    assert trainings["final-raw-s1"].is_raw and trainings["control"].purpose == "control"
    assert [it.status for it in iters] == ["finished", "finished"]
    assert iters[0].analysis  # the reasoning turn fed iteration 2
    # each iteration keeps the prompt its samples were asked with (a resume asks the rest the same way)
    first_ask = next(c.prompt for c in calls if c.call_key == "i1-k0-a0")
    assert iters[1].prompt and iters[1].prompt.strip()[:300] in first_ask
    purposes = [c.purpose for c in calls]
    assert purposes.count("analysis") == 1 and purposes.count("candidate") == 4
    assert all(c.reply is not None and c.completion_tokens >= 0 for c in calls)


def test_run_folder(smoke: dict[str, Any]) -> None:
    run_dir = Path(smoke["summary"]["run_dir"])
    assert (run_dir / "config.toml").is_file()
    assert list((run_dir / "candidates").glob("i*-k*.py"))
    assert (run_dir / "policies").is_dir() and list((run_dir / "policies").glob("*.safetensors"))
    assert "iteration 2/2" in smoke["stderr"] and "tok/s" in smoke["stderr"] and "ETA" in smoke["stderr"]


def test_history_show_export_plot(smoke: dict[str, Any], tmp_path: Path) -> None:
    home, run_id = smoke["home"], smoke["summary"]["run_id"]
    hist = run_lesr("history", "--json", home=home)
    assert hist.returncode == 0
    [row] = json.loads(hist.stdout)
    assert row["run_id"] == run_id and row["status"] == "finished"
    assert row["best_score"] == smoke["summary"]["best"]["score"]

    png = tmp_path / "run.png"
    show = run_lesr("show", run_id, "--json", "--plot", str(png), home=home)
    assert show.returncode == 0, show.stderr
    detail = json.loads(show.stdout)
    assert detail["config"]["samples"] == 2 and detail["llm_calls"]
    assert {c["status"] for c in detail["candidates"]} <= {"finished", "failed", "rejected"}
    assert png.stat().st_size > 10_000

    out = tmp_path / "best.py"
    exp = run_lesr("export", run_id, "--out", str(out), home=home)
    assert exp.returncode == 0, exp.stderr
    assert "unsandboxed" in out.read_text().lower() or "outside any sandbox" in out.read_text().lower()
    # The exported module is LLM-written code: run it in a child interpreter, never in this process.
    probe = ("import importlib.util, json, sys\nimport numpy as np\n"
             "spec = importlib.util.spec_from_file_location('exported_best', sys.argv[1])\n"
             "module = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(module)\n"
             "features = module.revise_state(np.zeros(4) + 0.1)\n"
             "print(json.dumps({'dim': int(features.shape[0]), "
             "'reward': float(module.intrinsic_reward(features))}))\n")
    child = subprocess.run([sys.executable, "-c", probe, str(out)], capture_output=True, text=True, timeout=120,
                           cwd=tmp_path)
    assert child.returncode == 0, child.stderr[-2000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["dim"] > 4 and math.isfinite(result["reward"])


def test_ablate_the_smoke_run(smoke: dict[str, Any]) -> None:
    """`lesr ablate` on the finished smoke run: the variants asked for, the same seeds, stored and shown
    (every default variant, with its statistics: tests/test_search_ablation.py)."""
    home, run_id = smoke["home"], smoke["summary"]["run_id"]
    # smoke's warm-up is 400 steps: 600 trains 200 after it, evaluated at the last step
    out = run_lesr("ablate", run_id, "--variants", "reward_only,raw", "--seeds", "2", "--steps", "600", "--json",
                   home=home, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert report["candidate_id"] == smoke["summary"]["best"]["candidate_id"]
    variants = ["reward_only", "raw"]
    assert [v["variant"] for v in report["variants"]] == variants
    for v in report["variants"]:
        assert [p["seed"] for p in v["per_seed"]] == [1, 2]  # paired with the final evaluation's seeds
        assert all(p["status"] == "finished" and p["score"] is not None for p in v["per_seed"]), v
    assert {d["variant"] for d in report["differences_from_raw"]} == set(variants) - {"raw"}
    show = run_lesr("show", run_id, "--json", home=home)
    assert [v["variant"] for v in json.loads(show.stdout)["ablations"][0]["variants"]] == variants


def test_transfer_of_the_smoke_run_is_stored_and_shown(smoke: dict[str, Any]) -> None:
    home, run_id = smoke["home"], smoke["summary"]["run_id"]
    proc = run_lesr("transfer", run_id, "--algo", "ppo", "--seeds", "2", "--steps", "400", "--json",
                    home=home, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["status"] == "finished" and result["algo"] == "ppo" and result["seeds"] == [1, 2]
    assert result["source_candidate_id"] == smoke["summary"]["best"]["candidate_id"]
    assert result["env_steps"] == 2 * 2 * 400
    with Store(home) as store:
        rows = store.list_trainings(run_id, purpose="transfer")
    assert sorted((r.arm, r.seed, r.status) for r in rows) == [
        ("candidate", 1, "finished"), ("candidate", 2, "finished"), ("raw", 1, "finished"), ("raw", 2, "finished")]
    show = run_lesr("show", run_id, "--json", home=home)
    [shown] = json.loads(show.stdout)["transfers"]
    assert shown["transfer_id"] == result["transfer_id"]
    assert [s["score"] for s in shown["best"]["per_seed"]] == [s["score"] for s in result["best"]["per_seed"]]
    assert shown["improvement"] == result["improvement"]
