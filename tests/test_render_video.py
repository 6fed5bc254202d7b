"""Videos: frame counts of written files, a trained candidate's policy rendered in the sandbox, the CLI."""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio_v2
import imageio.v3 as iio
import numpy as np
import pytest

from lesr_local.errors import BadInput
from lesr_local.render.video import render_policy_video
from tests.conftest import run_lesr

CANDIDATE = '''
import numpy as np

def revise_state(s):
    angle_speed = s[1] * s[3]
    return np.concatenate([s, [angle_speed, abs(s[1])]])

def intrinsic_reward(updated_s):
    return -float(updated_s[5])
'''


def _mp4_frames(path: Path) -> int:
    reader = imageio_v2.get_reader(path)
    try:
        return reader.count_frames()
    finally:
        reader.close()


def test_mp4_has_one_frame_per_step_plus_reset(tmp_path: Path) -> None:
    out = tmp_path / "cheetah.mp4"
    info = render_policy_video("HalfCheetah-v5", None, None, out, random=True, max_steps=40)
    assert info.path == out and out.stat().st_size > 0
    assert info.frames == 41  # HalfCheetah never terminates early: reset frame + 40 steps
    assert _mp4_frames(out) == 41
    first = imageio_v2.get_reader(out).get_data(0)
    assert float(np.asarray(first).std()) > 2.0


def test_gif_frame_count_over_episodes(tmp_path: Path) -> None:
    out = tmp_path / "pendulum.gif"
    info = render_policy_video("InvertedPendulum-v5", None, None, out, random=True, max_steps=30, episodes=2,
                               seed=3)
    assert info.episodes == 2
    frames = iio.imread(out, index=None)
    assert frames.shape[0] == info.frames
    assert frames.shape[1:] == (240, 240, 3)


def test_bad_paths_are_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"\.mp4 or \.gif"):
        render_policy_video("HalfCheetah-v5", None, None, tmp_path / "x.avi", random=True)
    with pytest.raises(BadInput, match="does not exist"):
        render_policy_video("HalfCheetah-v5", None, None, tmp_path / "no" / "x.mp4", random=True)
    with pytest.raises(BadInput, match="policy file"):
        render_policy_video("HalfCheetah-v5", None, None, tmp_path / "x.mp4")


@pytest.fixture(scope="module")
def trained_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real TD3 policy trained briefly on the candidate's features (in the sandboxed trainer)."""
    from lesr_local.config import EvalConfig, TD3Config
    from lesr_local.rl.client import run_training
    from lesr_local.rl.trainer import TrainSpec

    policy = tmp_path_factory.mktemp("policy") / "policy.safetensors"
    spec = TrainSpec(
        env_id="InvertedPendulum-v5", steps=300, seed=0, candidate_source=CANDIDATE,
        learner=TD3Config(hidden_sizes=(32, 32), start_steps=100, batch_size=32),
        eval=EvalConfig(every=150, episodes=1, last_k=1, goal_episodes=1),
        policy_path=policy, threads=1,
    )
    result = run_training(spec)
    assert result.status == "finished", result.reason
    return Path(result.policy_path or policy)


def test_trained_candidate_policy_renders_in_the_sandbox(tmp_path: Path, trained_policy: Path) -> None:
    out = tmp_path / "candidate.mp4"
    info = render_policy_video("InvertedPendulum-v5", trained_policy, CANDIDATE, out, max_steps=60)
    assert info.frames >= 2
    assert _mp4_frames(out) == info.frames


def test_candidate_code_cannot_escape_the_render_sandbox(tmp_path: Path, trained_policy: Path) -> None:
    """The worker applies the sandbox before loading the code: a forbidden import is refused."""
    from lesr_local.render.client import RenderError

    hostile = CANDIDATE.replace("import numpy as np", "import numpy as np\nimport os")
    with pytest.raises((RenderError, BadInput)) as info:
        render_policy_video("InvertedPendulum-v5", trained_policy, hostile, tmp_path / "x.mp4", max_steps=5)
    assert "os" in str(info.value)


def test_cli_renders_a_stored_run(tmp_path: Path, home: Path, trained_policy: Path) -> None:
    from lesr_local.store.db import Store
    from tests.helpers_runs import record_training

    store = Store(home)
    store.create_run("r-render", "InvertedPendulum-v5", "smoke", {"env_id": "InvertedPendulum-v5"})
    store.add_candidate("r-render", "i0-k0", iteration=0, sample=0, code=CANDIDATE, extra_dims=2)
    record_training(store, "r-render", "i0-k0", purpose="search", candidate_id="i0-k0", steps=300, score=5.0,
                    curve=[(300, 5.0)])
    store.finish_training("r-render", "i0-k0", score=5.0, curve=[(300, 5.0)], lipschitz=None, dim_names=None,
                          steps=300, seconds=1.0, steps_per_s=300.0, policy_path=str(trained_policy))
    store.set_run_best("r-render", "i0-k0", 5.0, None)
    store.close()
    out = tmp_path / "best.gif"
    result = run_lesr("render", "r-render", "--out", str(out), "--max-steps", "20", home=home)
    assert result.returncode == 0, result.stderr
    assert "candidate i0-k0" in result.stdout
    assert iio.imread(out, index=None).shape[0] >= 2
    missing = run_lesr("render", "r-render", "--candidate", "i9-k9", "--out", str(out), home=home)
    assert missing.returncode == 2 and "i9-k9" in missing.stderr


def test_cli_random_preview(tmp_path: Path, home: Path) -> None:
    out = tmp_path / "hopper.mp4"
    result = run_lesr("render", "--env", "Hopper-v5", "--random", "--out", str(out), "--max-steps", "20",
                      "--json", home=home)
    assert result.returncode == 0, result.stderr
    import json

    payload = json.loads(result.stdout)
    assert payload["frames"] == _mp4_frames(out)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--out", "x.mp4"], "RUN_ID"),
        (["--env", "Hopper-v5", "--out", "x.mp4"], "--random"),
        (["--env", "Hopper-v5", "--random", "--out", "x.webm"], ".mp4 or .gif"),
        (["no-such-run", "--out", "x.mp4"], "no-such-run"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(args: list[str], message: str, home: Path, tmp_path: Path) -> None:
    result = run_lesr("render", *[a.replace("x.", str(tmp_path / "x.")) for a in args], home=home)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
