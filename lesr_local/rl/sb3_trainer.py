"""One stable-baselines3 training (SAC, PPO, or SB3's TD3 for the bench) INSIDE the training worker.

The candidate's F and G reach SB3 through `rl.feature_env.FeatureRewardWrapper` (observation F(s),
reward r + w * G(F(s'))). Everything around the algorithm is the same as for our TD3: the evaluation
protocol (`rl.evaluation.Evaluator` on F(s), every `eval.every` steps and at the last step; score =
mean of the last `eval.last_k`), progress events, Lipschitz constants, `TrainResult`.

Checkpoints are data only: SB3's own `.zip` holds cloudpickled objects, so it is never used. A
checkpoint is a tensor file (`sandbox.tensorfile`) with `model.get_parameters()` (network and
optimizer state), the step and update counters, SAC's entropy coefficient, the replay buffer arrays
(off-policy) and the RNG states; on resume the model is rebuilt and `set_parameters` restores it.
Checkpoints are taken at the start of a rollout (after the previous update), for off-policy
algorithms only right after an episode ended; a resumed training starts a fresh episode and ends at
the same step count (its trajectory is not bit-identical to an uninterrupted one).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np
import torch
from stable_baselines3 import PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.common.vec_env import DummyVecEnv

from lesr_local.config import TD3Config
from lesr_local.envs.make import make_env
from lesr_local.errors import BadInput
from lesr_local.rl.algos import CONTINUOUS_ONLY, PPO_BATCH, SB3_TD3, ppo_rollout_steps
from lesr_local.rl.checkpoint import CHECKPOINT, POLICY, LocalFiles, TrainingFiles
from lesr_local.rl.device import configure_threads, resolve_device
from lesr_local.rl.evaluation import Evaluator
from lesr_local.rl.feature_env import FeatureRewardWrapper
from lesr_local.rl.features import CandidateError, Features
from lesr_local.rl.policy_io import to_torch
from lesr_local.rl.spec import CANDIDATE_FAILURE, TrainProgress, TrainResult, TrainSpec, buffer_rows
from lesr_local.rl.trainer import PROGRESS_INTERVAL_S, candidate_digest, env_metric, eval_episodes
from lesr_local.sandbox.tensorfile import pack

CHECKPOINT_FORMAT = "sb3-1"
POLICY_FORMAT = "sb3-policy-1"
BUFFER_FIELDS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")

ProgressFn = Callable[[TrainProgress], None]


def build_model(algo: str, spec: TrainSpec, venv: DummyVecEnv, device: torch.device) -> BaseAlgorithm:
    """The SB3 model with the preset's settings (see rl/algos.py). Seeding happens before this call
    (SB3's own `seed=` would re-seed the env on every later reset of the vector env)."""
    cfg = spec.learner
    net = {"net_arch": list(cfg.hidden_sizes)}
    common: dict[str, Any] = {"gamma": cfg.gamma, "device": device, "verbose": 0, "policy_kwargs": net}
    if algo == "ppo":
        return PPO("MlpPolicy", venv, learning_rate=cfg.actor_lr, n_steps=ppo_rollout_steps(spec.steps),
                   batch_size=PPO_BATCH, **common)
    off_policy = {"learning_rate": cfg.actor_lr, "buffer_size": buffer_rows(spec),
                  "learning_starts": cfg.start_steps, "batch_size": cfg.batch_size, "tau": cfg.tau,
                  "train_freq": 1, "gradient_steps": 1}
    if algo == "sac":
        return SAC("MlpPolicy", venv, **off_policy, **common)
    if algo == SB3_TD3:
        act_dim = int(np.prod(venv.action_space.shape))
        # SB3 adds the noise in the [-1, 1]-scaled action space: sigma = expl_noise there equals our
        # expl_noise * (high - low) / 2 in env units.
        noise = NormalActionNoise(np.zeros(act_dim), cfg.expl_noise * np.ones(act_dim))
        return TD3("MlpPolicy", venv, action_noise=noise, policy_delay=cfg.policy_delay,
                   target_policy_noise=cfg.policy_noise, target_noise_clip=cfg.noise_clip,
                   **off_policy, **common)
    raise ValueError(f"not a stable-baselines3 algo: {algo!r}")


def warm_up(spec: TrainSpec) -> None:
    """A few steps of a tiny model of this algo on the real env, before the sandbox walls go up:
    torch.optim's first optimizer imports torch._dynamo, which needs a temporary directory, and
    SB3 imports parts of itself lazily. The trainer seeds every RNG afterwards."""
    tiny = TrainSpec(env_id=spec.env_id, steps=64, algo=spec.algo, env_spec=spec.env_spec,
                     learner=TD3Config(hidden_sizes=(8, 8), start_steps=8, batch_size=8))
    env = make_env(spec.env_id, seed=0, env_spec=spec.env_spec)
    venv = DummyVecEnv([lambda: env])
    model = build_model(spec.algo, tiny, venv, resolve_device(spec.device))
    model.set_logger(Logger(folder=None, output_formats=[]))
    model.learn(16 if spec.algo != "ppo" else ppo_rollout_steps(tiny.steps))
    model.predict(np.zeros((2, *env.observation_space.shape), dtype=np.float32), deterministic=True)
    venv.close()


class SB3Trainer:
    def __init__(self, spec: TrainSpec, features: Features, on_progress: ProgressFn | None = None,
                 files: TrainingFiles | None = None) -> None:
        self.spec = spec
        self.files = files if files is not None else LocalFiles(spec.checkpoint_dir, spec.policy_path)
        if spec.threads > 0:
            configure_threads(spec.threads)
        self.features = features
        self.on_progress = on_progress
        self.device = resolve_device(spec.device)
        self.metric = env_metric(spec.env_id, spec.env_spec)
        set_random_seed(spec.seed)  # python, numpy and torch: SB3's own seeding minus the env re-seed
        env = make_env(spec.env_id, seed=spec.seed, env_spec=spec.env_spec)
        if spec.algo in CONTINUOUS_ONLY and not isinstance(env.action_space, gymnasium.spaces.Box):
            env.close()
            raise BadInput(f"{spec.algo} needs a continuous action space; {spec.env_id} has "
                           f"{type(env.action_space).__name__}")
        self.obs_dim = int(np.prod(env.observation_space.shape))
        first, _ = env.reset()
        feats = features.transform(first, "on the first state")  # F must work before training starts
        features.intrinsic(feats, "on the first state")
        self.feature_dim = int(feats.shape[0])
        self.wrapper = FeatureRewardWrapper(env, features, spec.intrinsic_weight, self.feature_dim,
                                            shaping=spec.shaping, gamma=spec.learner.gamma)
        self.venv = DummyVecEnv([lambda: self.wrapper])
        self.model = build_model(spec.algo, spec, self.venv, self.device)
        self.model.set_logger(Logger(folder=None, output_formats=[]))  # no files, no stdout
        self.evaluator = Evaluator(spec.env_id, eval_episodes(spec, self.metric), spec.seed, features,
                                   self.metric, spec.env_spec)
        self.curve: list[tuple[int, float]] = []
        self.last_checkpoint = 0
        self.resumed_from = 0
        self.prior_seconds = 0.0
        self._session_start = time.perf_counter()
        saved = self.files.load_checkpoint()
        if saved is not None and self._belongs(saved):
            self._restore(saved)

    # -- the loop -------------------------------------------------------------------------------
    def run(self, should_stop: Callable[[], bool] | None = None) -> TrainResult:
        start_step = self.model.num_timesteps
        started = time.perf_counter()
        loop = _Loop(self, should_stop, started, start_step)
        try:
            if start_step < self.spec.steps:
                self.model.learn(self.spec.steps - start_step, callback=loop, reset_num_timesteps=False)
        except CandidateError as exc:
            result = self._result("failed", str(exc), started, start_step)
            result.failure = CANDIDATE_FAILURE
            return result
        if loop.stopped:
            return self._result("cancelled", "stopped", started, start_step)
        result = self._result("finished", None, started, start_step, loop.train_mark)
        if self.files.wants_policy:
            self.files.save(POLICY, self._policy_file(result.score))
            result.policy_path = None if self.spec.policy_path is None else str(self.spec.policy_path)
        return result

    def evaluate(self) -> tuple[int, float]:
        def policy(batch: np.ndarray) -> np.ndarray:
            return self.model.predict(batch.astype(np.float32), deterministic=True)[0]

        evaluation = (int(self.model.num_timesteps), self.evaluator.run(policy, len(self.curve)))
        self.curve.append(evaluation)
        return evaluation

    def maybe_checkpoint(self, episode_just_ended: bool) -> None:
        step = self.model.num_timesteps
        if (not self.files.wants_checkpoints or step - self.last_checkpoint < self.spec.checkpoint_every
                or step >= self.spec.steps or step == self.resumed_from):
            return
        if isinstance(self.model, OffPolicyAlgorithm) and not episode_just_ended:
            return
        self.last_checkpoint = step
        self.files.save(CHECKPOINT, pack(self._checkpoint_state()))

    # -- results ----------------------------------------------------------------------------------
    def _result(self, status: str, reason: str | None, started: float, start_step: int,
                train_mark: tuple[float, int] | None = None) -> TrainResult:
        now = time.perf_counter()
        seconds = now - started
        k = self.spec.eval.last_k
        score = float(np.mean([v for _, v in self.curve[-k:]])) if self.curve else None
        lip = self.wrapper.lipschitz.value()
        steps = int(self.model.num_timesteps)
        rate = (steps - start_step) / max(seconds, 1e-9)
        train_rate = 0.0  # env steps/s after the random warm-up (what `bench td3` compares)
        if train_mark is not None:
            train_rate = (steps - train_mark[1]) / max(now - train_mark[0], 1e-9)
        return TrainResult(
            status=status, reason=reason, score=score if status == "finished" else None,
            curve=list(self.curve), lipschitz=None if lip is None else [float(x) for x in lip],
            feature_dim=self.feature_dim, steps=steps, seconds=self.prior_seconds + seconds,
            steps_per_s=rate, updates_per_s=0.0, policy_path=None, train_steps_per_s=train_rate,
            resumed_from=self.resumed_from, torch_threads=torch.get_num_threads(), device=str(self.device),
        )

    def _policy_file(self, score: float | None) -> Any:
        space = self.venv.action_space
        meta = {"algo": self.spec.algo, "env_id": self.spec.env_id, "obs_dim": self.obs_dim,
                "feature_dim": self.feature_dim, "act_low": np.asarray(space.low).tolist(),
                "act_high": np.asarray(space.high).tolist(), "hidden_sizes": list(self.spec.learner.hidden_sizes),
                "candidate_source": self.spec.candidate_source, "seed": self.spec.seed,
                "steps": int(self.model.num_timesteps), "score": score}
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.policy.state_dict().items()}
        return pack({"format": POLICY_FORMAT, "meta": meta, "policy": state})

    # -- checkpoints ------------------------------------------------------------------------------
    def _checkpoint_state(self) -> dict[str, Any]:
        model = self.model
        env = self.wrapper.unwrapped
        state: dict[str, Any] = {
            "format": CHECKPOINT_FORMAT, "algo": self.spec.algo, "env_id": self.spec.env_id,
            "seed": self.spec.seed, "candidate": candidate_digest(self.spec.candidate_source),
            "feature_dim": self.feature_dim, "step": int(model.num_timesteps),
            "n_updates": int(getattr(model, "_n_updates", 0)), "episode_num": int(model._episode_num),
            "params": model.get_parameters(), "curve": list(self.curve),
            "evaluations": self.evaluator.evaluations, "episodes": self.wrapper.episodes,
            "last_return": self.wrapper.last_return, "lipschitz": self.wrapper.lipschitz.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "numpy": _numpy_global_state(),
                    "env": env.np_random.bit_generator.state,
                    "action_space": self.venv.action_space.np_random.bit_generator.state},
            "seconds": self.prior_seconds + time.perf_counter() - self._session_start,
        }
        if getattr(model, "log_ent_coef", None) is not None:
            state["log_ent_coef"] = model.log_ent_coef.detach()
        if isinstance(model, OffPolicyAlgorithm) and self.spec.checkpoint_buffer:
            buffer = model.replay_buffer
            rows = buffer.buffer_size if buffer.full else buffer.pos
            state["buffer"] = {"pos": int(buffer.pos), "full": bool(buffer.full),
                               **{name: getattr(buffer, name)[:rows] for name in BUFFER_FIELDS
                                  if getattr(buffer, name, None) is not None}}
        return state

    def _belongs(self, state: dict[str, Any]) -> bool:
        return (state.get("format") == CHECKPOINT_FORMAT and state.get("algo") == self.spec.algo
                and state.get("env_id") == self.spec.env_id and state.get("seed") == self.spec.seed
                and state.get("feature_dim") == self.feature_dim
                and state.get("candidate") == candidate_digest(self.spec.candidate_source))

    def _restore(self, state: dict[str, Any]) -> None:
        model = self.model
        params = to_torch(state["params"])
        for name, value in params.items():
            if name.endswith("optimizer"):  # JSON turned the optimizer's int state keys into strings
                value["state"] = {int(k): v for k, v in value["state"].items()}
        model.set_parameters(params, exact_match=True, device=self.device)
        if "log_ent_coef" in state and getattr(model, "log_ent_coef", None) is not None:
            with torch.no_grad():
                model.log_ent_coef.copy_(torch.as_tensor(np.array(state["log_ent_coef"])))
        buffer_state = state.get("buffer")
        if buffer_state is not None and isinstance(model, OffPolicyAlgorithm):
            buffer = model.replay_buffer
            for name in BUFFER_FIELDS:
                if name in buffer_state and getattr(buffer, name, None) is not None:
                    rows = len(buffer_state[name])
                    getattr(buffer, name)[:rows] = buffer_state[name]
            buffer.pos, buffer.full = int(buffer_state["pos"]), bool(buffer_state["full"])
        model.num_timesteps = self.last_checkpoint = self.resumed_from = int(state["step"])
        if hasattr(model, "_n_updates"):
            model._n_updates = int(state["n_updates"])
        model._episode_num = int(state["episode_num"])
        rng = state["rng"]
        torch.set_rng_state(torch.as_tensor(np.array(rng["torch"])))
        _set_numpy_global_state(rng["numpy"])
        self.wrapper.unwrapped.np_random.bit_generator.state = rng["env"]
        self.venv.action_space.np_random.bit_generator.state = rng["action_space"]
        self.curve = [(int(s), float(v)) for s, v in state["curve"]]
        self.evaluator.evaluations = int(state["evaluations"])
        self.wrapper.episodes = int(state["episodes"])
        self.wrapper.last_return = state["last_return"]
        self.wrapper.lipschitz.load_state_dict(state["lipschitz"])
        self.wrapper.steps = int(state["step"])
        self.prior_seconds = float(state["seconds"])

    def close(self) -> None:
        self.venv.close()
        self.evaluator.close()


class _Loop(BaseCallback):
    """Per env step: evaluation, progress, stop at exactly spec.steps; per rollout: checkpoints."""

    def __init__(self, trainer: SB3Trainer, should_stop: Callable[[], bool] | None, started: float,
                 start_step: int) -> None:
        super().__init__(verbose=0)
        self.trainer, self.should_stop = trainer, should_stop
        self.started, self.start_step = started, start_step
        self.next_emit = 0.0
        self.episode_ended = False
        self.stopped = False
        self.train_mark: tuple[float, int] | None = None  # (time, step) the learning phase began
        off_policy = isinstance(trainer.model, OffPolicyAlgorithm)
        self.warmup = trainer.spec.learner.start_steps if off_policy else 0

    def _on_rollout_start(self) -> None:
        self.trainer.maybe_checkpoint(self.episode_ended)

    def _on_step(self) -> bool:
        trainer, spec = self.trainer, self.trainer.spec
        step = int(self.num_timesteps)
        if self.train_mark is None and step > self.warmup:
            self.train_mark = (time.perf_counter(), step)
        self.episode_ended = bool(np.asarray(self.locals.get("dones", [False]))[0])
        evaluation = None
        if step % spec.eval.every == 0 or step >= spec.steps:
            evaluation = trainer.evaluate()
        now = time.perf_counter()
        if trainer.on_progress is not None and (evaluation is not None or now >= self.next_emit):
            self.next_emit = now + PROGRESS_INTERVAL_S
            rate = (step - self.start_step) / max(now - self.started, 1e-9)
            trainer.on_progress(TrainProgress(step, spec.steps, rate, trainer.wrapper.last_return, evaluation))
        if self.should_stop is not None and self.should_stop():
            self.stopped = True
            return False
        return step < spec.steps  # PPO would otherwise finish its rollout past the budget


def _numpy_global_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"name": name, "keys": np.asarray(keys).astype(np.int64), "pos": int(pos), "has_gauss": int(has_gauss),
            "cached": float(cached)}


def _set_numpy_global_state(state: dict[str, Any]) -> None:
    np.random.set_state((state["name"], np.asarray(state["keys"], dtype=np.uint32), int(state["pos"]),
                         int(state["has_gauss"]), float(state["cached"])))


def train_sb3(spec: TrainSpec, features: Features, on_progress: ProgressFn | None = None,
              should_stop: Callable[[], bool] | None = None, files: TrainingFiles | None = None) -> TrainResult:
    """Build and run one SB3 training in this process (the worker calls this inside its sandbox)."""
    try:
        trainer = SB3Trainer(spec, features, on_progress, files)
    except CandidateError as exc:
        return TrainResult("failed", str(exc), None, [], None, features.feature_dim or 0, 0, 0.0, 0.0, 0.0,
                           None, failure=CANDIDATE_FAILURE)
    try:
        return trainer.run(should_stop)
    finally:
        trainer.close()
