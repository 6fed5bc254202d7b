"""One TD3 training (runs INSIDE a worker process): env loop, evaluation, Lipschitz, checkpoints.

Per env step F(s') is computed once and stored with the transition (the features of s come from the
previous step), the stored reward is r + w * G(F(s')) (additive shaping) or
r + w * (gamma * Phi(s') - Phi(s)) with Phi = G(F(.)) and Phi(s') = 0 on a true termination (potential
shaping), and only a true termination cuts the bootstrap (a time-limit truncation does not). With
`spec.observation == "raw"` the agent sees the raw state and F only feeds G. Checkpoints are taken
at episode boundaries, so a resumed training restores the env RNG, resets, and continues exactly as
if it had not stopped.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from lesr_local.envs.catalogue import get_env_info
from lesr_local.envs.make import make_env
from lesr_local.rl.buffer import ReplayBuffer
from lesr_local.rl.checkpoint import CHECKPOINT, POLICY, LocalFiles, TrainingFiles
from lesr_local.rl.device import configure_threads, resolve_device
from lesr_local.rl.evaluation import Evaluator
from lesr_local.rl.features import CandidateError, Features
from lesr_local.rl.lipschitz import LipschitzEMA, episode_lipschitz
from lesr_local.rl.policy_io import PolicyMeta, policy_file, to_torch
from lesr_local.rl.spec import (
    CANDIDATE_FAILURE,
    OBSERVATIONS,
    SHAPINGS,
    TrainProgress,
    TrainResult,
    TrainSpec,
    buffer_rows,
    failed_result,
)
from lesr_local.rl.td3 import TD3
from lesr_local.sandbox.tensorfile import pack

CHECKPOINT_VERSION = 3  # 3: a tensor file (2: torch.save of the stacked-MLP agent, not read any more)
PROGRESS_INTERVAL_S = 0.25  # at most 4 progress events per second (plus one per evaluation)

__all__ = ["TrainProgress", "TrainResult", "TrainSpec", "Trainer", "train"]


ProgressFn = Callable[[TrainProgress], None]


def eval_episodes(spec: TrainSpec, metric: str) -> int:
    return spec.eval.goal_episodes if metric == "success_rate" else spec.eval.episodes


def env_metric(env_id: str, env_spec: str | None) -> str:
    try:
        return get_env_info(env_id, env_spec).metric
    except Exception:  # noqa: BLE001 - an uncatalogued env that cannot be described: plain returns
        return "return"


@dataclass
class _Clock:
    """Wall and CPU time of this session and of its training phase (after the random warm-up)."""

    start: float = field(default_factory=time.perf_counter)
    train_start: float | None = None
    train_cpu_start: float = 0.0  # process CPU time (all threads) when the training phase began
    train_start_step: int = 0

    def mark_training(self, step: int) -> None:
        if self.train_start is None:
            self.train_start, self.train_start_step = time.perf_counter(), step
            self.train_cpu_start = time.process_time()


class Trainer:
    def __init__(
        self, spec: TrainSpec, features: Features, on_progress: ProgressFn | None = None,
        files: TrainingFiles | None = None,
    ) -> None:
        if spec.shaping not in SHAPINGS or spec.observation not in OBSERVATIONS:
            raise ValueError(f"unknown shaping {spec.shaping!r} or observation {spec.observation!r}")
        self.spec = spec
        self.files = files if files is not None else LocalFiles(spec.checkpoint_dir, spec.policy_path)
        if spec.threads > 0:  # explicit; otherwise rl.client has set cores // concurrent workers
            configure_threads(spec.threads)
        # `features` is the candidate's F and G; the agent observes F(s) unless the observation is raw
        # (reward_only ablation), where it sees s and F(s) is computed only to feed G.
        self.reward_features = features
        self.features = Features() if spec.observation == "raw" else features
        self.on_progress = on_progress
        self.device = resolve_device(spec.device)
        self.metric = env_metric(spec.env_id, spec.env_spec)
        self.env = make_env(spec.env_id, seed=spec.seed, env_spec=spec.env_spec)
        self.rng = np.random.default_rng(spec.seed)
        torch.manual_seed(spec.seed)
        space = self.env.action_space
        self.act_low = np.asarray(space.low, dtype=np.float64)
        self.act_high = np.asarray(space.high, dtype=np.float64)
        self.act_dim = int(np.prod(space.shape))
        self.obs_dim = int(np.prod(self.env.observation_space.shape))
        # The candidate's first real state: F must work here before any training starts.
        state, _ = self.env.reset()
        self.feats = self.features.transform(state, "on the first state")
        features.intrinsic(self._reward_feats(self.feats, "on the first state"), "on the first state")
        self.feature_dim = int(self.feats.shape[0])
        self.agent = TD3(self.feature_dim, self.act_dim, self.act_low, self.act_high, spec.learner, self.device)
        capacity = buffer_rows(spec)
        self.buffer = ReplayBuffer(self.feature_dim, self.act_dim, capacity, self.device)
        self.evaluator = Evaluator(spec.env_id, eval_episodes(spec, self.metric), spec.seed, self.features,
                                   self.metric, spec.env_spec)
        self.lipschitz = LipschitzEMA()
        self.step = 0
        self.episodes = 0
        self.curve: list[tuple[int, float]] = []
        self.last_return: float | None = None
        self.last_checkpoint = 0
        self.resumed_from = 0
        self.prior_seconds = 0.0
        self._session_start = time.perf_counter()
        self._episode_feats: list[np.ndarray] = []
        self._episode_rewards: list[float] = []
        self._episode_return = 0.0
        self._phi: float | None = None  # potential shaping: Phi(s) of the current state (None = not yet)
        saved = self.files.load_checkpoint()
        # Continue only a checkpoint of this very training (layout, env, seed, candidate); any other
        # (an older layout, another seed's or candidate's) is ignored and the training starts afresh.
        if saved is not None and self._belongs(saved):
            self._restore(saved)

    # -- the loop -------------------------------------------------------------------------------
    def run(self, should_stop: Callable[[], bool] | None = None) -> TrainResult:
        spec, cfg = self.spec, self.spec.learner
        clock = _Clock()
        start_step, start_updates = self.step, self.agent.updates
        next_emit = 0.0
        noise_scale = cfg.expl_noise * (self.act_high - self.act_low) / 2
        w = spec.intrinsic_weight
        pause_at = spec.pause_at_step if spec.pause_at_step is not None and spec.pause_at_step < spec.steps else None
        if pause_at is not None and not self.files.wants_checkpoints:
            raise ValueError("pause_at_step needs a checkpoint_dir to continue from")
        if pause_at is not None and self.step >= pause_at:  # resumed at (or past) the pause: nothing to do
            return self._result("paused", None, clock, start_step, start_updates)
        try:
            while self.step < spec.steps:
                if should_stop is not None and should_stop():
                    return self._result("cancelled", "stopped", clock, start_step, start_updates)
                if self.step < cfg.start_steps:
                    action = self.rng.uniform(self.act_low, self.act_high)
                else:
                    clock.mark_training(self.step)
                    action = self.agent.act(self.feats) + self.rng.normal(0.0, noise_scale)
                    action = np.clip(action, self.act_low, self.act_high)
                state, reward, terminated, truncated, _ = self.env.step(action)
                where = f"at step {self.step + 1}"
                next_feats = self.features.transform(state, where)
                stored = float(reward)
                if w:
                    stored += w * self._shaping_term(next_feats, bool(terminated), where)
                self.buffer.add(self.feats, action, stored, next_feats, bool(terminated))
                self._episode_feats.append(next_feats)
                self._episode_rewards.append(float(reward))
                self._episode_return += float(reward)
                self.feats = next_feats
                self.step += 1
                if self.step > cfg.start_steps and self.buffer.size >= cfg.batch_size:
                    self.agent.update(self.buffer.sample(cfg.batch_size))
                episode_over = terminated or truncated
                pausing = self.step == pause_at
                if episode_over or pausing:  # a pause cuts the episode like a time limit would
                    self._end_episode(finished=episode_over)
                evaluation = None
                if self.step % spec.eval.every == 0 or self.step == spec.steps or pausing:  # always the last policy
                    evaluation = (self.step, self.evaluator.run(self.agent.act, len(self.curve)))
                    self.curve.append(evaluation)
                if episode_over and not pausing:  # after the evaluation, so a checkpoint includes it
                    self._maybe_checkpoint()
                    self._reset()
                    self._phi = None  # the next episode's Phi(s_0) is G(F(reset state))
                now = time.perf_counter()
                if self.on_progress is not None and (evaluation is not None or now >= next_emit):
                    next_emit = now + PROGRESS_INTERVAL_S
                    rate = (self.step - start_step) / max(now - clock.start, 1e-9)
                    self.on_progress(TrainProgress(self.step, spec.steps, rate, self.last_return, evaluation))
                if pausing:  # after the evaluation, so the checkpoint includes it; resuming resets the env
                    self.last_checkpoint = self.step
                    self.files.save(CHECKPOINT, pack(self._checkpoint_state(episode_boundary=False)))
                    return self._result("paused", None, clock, start_step, start_updates)
        except CandidateError as exc:
            result = self._result("failed", str(exc), clock, start_step, start_updates)
            result.failure = CANDIDATE_FAILURE
            return result
        result = self._result("finished", None, clock, start_step, start_updates)
        if self.files.wants_policy:
            self._save_policy(result.score)
            result.policy_path = None if spec.policy_path is None else str(spec.policy_path)
        return result

    def _reward_feats(self, obs: np.ndarray, where: str) -> np.ndarray:
        """F(s) for G: the observation itself, or F of the raw state the agent observes."""
        if self.features is self.reward_features:
            return obs
        return self.reward_features.transform(obs, where)

    def _shaping_term(self, next_obs: np.ndarray, terminated: bool, where: str) -> float:
        """What w multiplies: G(F(s')), or gamma * Phi(s') - Phi(s) under potential shaping."""
        g_next = self.reward_features.intrinsic(self._reward_feats(next_obs, where), where)
        if self.spec.shaping != "potential":
            return g_next
        if self._phi is None:  # first step of an episode (after a reset or a resume)
            start = f"{where} (episode start)"
            self._phi = self.reward_features.intrinsic(self._reward_feats(self.feats, start), start)
        # A true termination ends the return: the terminal state's potential is 0, which keeps the
        # optimal policy unchanged. A time-limit truncation is not the end of the task: keep Phi(s').
        term = self.spec.learner.gamma * (0.0 if terminated else g_next) - self._phi
        self._phi = g_next
        return term

    def _end_episode(self, finished: bool = True) -> None:
        if len(self._episode_feats) >= 2:
            self.lipschitz.update(episode_lipschitz(np.stack(self._episode_feats),
                                                    np.asarray(self._episode_rewards)))
        if finished:  # a paused episode's partial return is not an episode return
            self.last_return = self._episode_return
        self.episodes += 1
        self._episode_feats, self._episode_rewards, self._episode_return = [], [], 0.0

    def _maybe_checkpoint(self) -> None:
        """At an episode boundary, before the reset: the env RNG state then fully determines what follows.

        Besides every `checkpoint_every` steps, at each episode end of the last evaluation interval:
        the checkpoint a finished training leaves is then close to its end, so a longer training of
        the same settings continues it exactly and retrains little (trainings/service.py)."""
        spec = self.spec
        final_stretch = self.step >= spec.steps - spec.eval.every
        if (self.files.wants_checkpoints and self.step < spec.steps
                and (self.step - self.last_checkpoint >= spec.checkpoint_every or final_stretch)):
            self.last_checkpoint = self.step
            self.files.save(CHECKPOINT, pack(self._checkpoint_state()))

    def _reset(self) -> None:
        state, _ = self.env.reset()
        self.feats = self.features.transform(state, f"at step {self.step} (reset)")

    # -- results ----------------------------------------------------------------------------------
    def _result(
        self, status: str, reason: str | None, clock: _Clock, start_step: int, start_updates: int,
    ) -> TrainResult:
        seconds = time.perf_counter() - clock.start
        k = self.spec.eval.last_k
        score = float(np.mean([v for _, v in self.curve[-k:]])) if self.curve else None
        lip = self.lipschitz.value()
        train_rate = update_rate = cpu_rate = 0.0
        if clock.train_start is not None:  # updates happen only in the training phase
            train_seconds = max(time.perf_counter() - clock.train_start, 1e-9)
            train_rate = (self.step - clock.train_start_step) / train_seconds
            update_rate = (self.agent.updates - start_updates) / train_seconds
            # Steps per CPU-second: what the code costs, whatever else the machine is doing.
            cpu_rate = (self.step - clock.train_start_step) / max(time.process_time() - clock.train_cpu_start, 1e-9)
        return TrainResult(
            status=status, reason=reason, score=score if status == "finished" else None,
            curve=list(self.curve), lipschitz=None if lip is None else [float(x) for x in lip],
            feature_dim=self.feature_dim, steps=self.step, seconds=self.prior_seconds + seconds,
            steps_per_s=(self.step - start_step) / max(seconds, 1e-9),
            updates_per_s=update_rate,
            policy_path=None, train_steps_per_s=train_rate, train_steps_per_cpu_s=cpu_rate,
            resumed_from=self.resumed_from,
            torch_threads=torch.get_num_threads(), device=str(self.device),
        )

    def _save_policy(self, score: float | None) -> None:
        meta = PolicyMeta(
            env_id=self.spec.env_id, obs_dim=self.obs_dim, feature_dim=self.feature_dim,
            act_dim=self.act_dim, act_low=self.act_low.tolist(), act_high=self.act_high.tolist(),
            hidden_sizes=tuple(self.spec.learner.hidden_sizes),
            candidate_source=None if self.spec.observation == "raw" else self.spec.candidate_source,
            seed=self.spec.seed, steps=self.step, score=score,
        )
        self.files.save(POLICY, policy_file(self.agent.policy_module(), meta))

    # -- checkpoints ------------------------------------------------------------------------------
    def _checkpoint_state(self, episode_boundary: bool = True) -> dict[str, Any]:
        # episode_boundary: a resume from here is exact (a rung pause cuts an episode, it is not)
        return {
            "version": CHECKPOINT_VERSION, "env_id": self.spec.env_id, "seed": self.spec.seed,
            "episode_boundary": episode_boundary,
            "candidate": candidate_digest(self.spec.candidate_source),
            "feature_dim": self.feature_dim, "step": self.step, "episodes": self.episodes,
            "curve": list(self.curve), "last_return": self.last_return,
            "agent": self.agent.state_dict(),
            "buffer": self.buffer.state_dict() if self.spec.checkpoint_buffer else None,
            "lipschitz": self.lipschitz.state_dict(),
            "rng": self.rng.bit_generator.state,
            "env_rng": self.env.unwrapped.np_random.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "evaluations": self.evaluator.evaluations,
            "seconds": self.prior_seconds + time.perf_counter() - self._session_start,
        }

    def _belongs(self, state: dict[str, Any]) -> bool:
        return (state.get("version") == CHECKPOINT_VERSION and state.get("env_id") == self.spec.env_id
                and state.get("seed") == self.spec.seed and state.get("feature_dim") == self.feature_dim
                and state.get("candidate") == candidate_digest(self.spec.candidate_source)
                # the agent's own layout and network shapes (a checkpoint of other sizes is not continued)
                and isinstance(state.get("agent"), dict) and self.agent.mismatch(state["agent"]) is None)

    def _restore(self, state: dict[str, Any]) -> None:
        state = to_torch(state)
        self.agent.load_state_dict(state["agent"])
        if state["buffer"] is not None:
            self.buffer.load_state_dict(state["buffer"])
        self.lipschitz.load_state_dict(state["lipschitz"])
        self.rng.bit_generator.state = state["rng"]
        self.env.unwrapped.np_random.bit_generator.state = state["env_rng"]
        torch.set_rng_state(state["torch_rng"])
        self.evaluator.evaluations = int(state["evaluations"])
        self.step = self.last_checkpoint = self.resumed_from = int(state["step"])
        self.episodes = int(state["episodes"])
        self.curve = [(int(s), float(v)) for s, v in state["curve"]]
        self.last_return = state["last_return"]
        self.prior_seconds = float(state["seconds"])
        # Checkpoints sit on episode boundaries: continue with a fresh episode from the restored RNG.
        state0, _ = self.env.reset()
        self.feats = self.features.transform(state0, f"at step {self.step} (resume)")

    def close(self) -> None:
        self.env.close()
        self.evaluator.close()


def candidate_digest(source: str | None) -> str | None:
    return None if source is None else hashlib.sha256(source.encode()).hexdigest()


def train(
    spec: TrainSpec, features: Features, on_progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None, files: TrainingFiles | None = None,
) -> TrainResult:
    """Build and run one training in this process (the worker calls this inside its sandbox)."""
    try:
        trainer = Trainer(spec, features, on_progress, files)
    except CandidateError as exc:
        result = failed_result("failed", str(exc), feature_dim=features.feature_dim or 0)
        result.failure = CANDIDATE_FAILURE
        return result
    try:
        return trainer.run(should_stop)
    finally:
        trainer.close()
