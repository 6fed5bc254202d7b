"""Run configuration: dataclasses, presets (smoke, quick, paper) and TOML load/save.

Precedence when building a run's config: preset < TOML file (--config) < command-line flags.
The effective config is saved with every run, so `lesr show` reports exactly what ran.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from lesr_local.errors import BadInput
from lesr_local.llm.server_url import check_llm_url

SHAPINGS = ("additive", "potential")
# Re-evaluation seeds are seed + 1000 + j: clear of the search seed and of any number of final seeds
SELECTION_SEED_OFFSET = 1000  # how G enters the stored reward (see RunConfig.shaping)
SEED_MAX = 2**32 - 1  # numpy's and SB3's seeding take seeds in [0, 2**32 - 1]


@dataclass
class TD3Config:
    """TD3 hyperparameters; defaults are Fujimoto et al.'s, as used by the LESR paper."""

    hidden_sizes: tuple[int, ...] = (256, 256)
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    batch_size: int = 256
    start_steps: int = 25_000
    expl_noise: float = 0.1
    policy_noise: float = 0.2
    noise_clip: float = 0.5
    policy_delay: int = 2
    tau: float = 0.005
    gamma: float = 0.99


@dataclass
class EvalConfig:
    every: int = 5_000  # env steps between evaluations
    episodes: int = 10  # episodes per evaluation on return tasks (goal tasks use goal_episodes)
    last_k: int = 10  # score = mean of the last k evaluations
    goal_episodes: int = 50


@dataclass
class LLMConfig:
    model: str | None = None  # path or name; None = discovery order (see lesr_local.llm.discovery)
    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 700
    analysis_max_tokens: int = 400
    constrain: str = "auto"  # auto | on | off: grammar-constrained decoding
    n_ctx: int = 0  # 0 = the model's trained context, capped at 8192
    repair_attempts: int = 2  # re-asks per sample after a rejection
    # A llama.cpp server to use instead of a model file (--llm-url): loopback or the user's own
    # network only (llm/server_url.py). Exclusive with `model`.
    url: str | None = None
    # Not settings: what the server served when the run started (llm/server.py records them; a
    # resumed run refuses a server that now serves another model).
    served_by: str | None = None
    served_model: str | None = None
    served_n_ctx: int | None = None
    served_chat_template: bool | None = None


@dataclass
class RunConfig:
    """A run's settings. The field defaults are the paper's setting as published (no pruning, no
    re-evaluation); `preset(name)` gives the smoke, quick and paper presets the CLI offers."""

    env_id: str = "HalfCheetah-v5"
    preset: str = "paper"
    samples: int = 6  # K candidates per iteration
    iterations: int = 3  # I
    steps: int = 800_000  # N_small: TD3 steps per candidate during the search
    final_steps: int = 1_000_000  # N: TD3 steps per seed in the final evaluation
    seeds: int = 5  # S
    workers: int = 0  # 0 = from the core count
    intrinsic_weight: float = 0.02  # w in r + w * G(F(s')), s' the state the step led to
    # additive: r + w * G(F(s')) (the paper); potential: r + w * (gamma * G(F(s')) - G(F(s))),
    # which cannot change the optimal policy (Ng, Harada & Russell 1999). Runs saved before this
    # setting existed were additive, which is what a missing key reads as.
    shaping: str = "additive"
    seed: int = 0
    render_video: bool = True
    env_spec: str | None = None  # TOML description of an uncatalogued env
    prune: str = "none"  # none | halving: successive halving of each iteration's candidates (search/halving.py)
    select_seeds: int = 0  # S2: re-train the top search candidates + the control on S2 fresh seeds, pick on the mean
    executor: str = "local"  # local | ray: where trainings run (trainings.executors.make_executor)
    ray_address: str | None = None  # HOST:PORT of a Ray head, "auto", or "local" (a private cluster)
    train_threads: int = 0  # torch threads (= Ray num_cpus) per training; 0 = auto (1 on Ray)
    # Take a finished training with the same key from the home instead of training it again
    # (trainings/keys.py says what the key covers); False: `--no-reuse`, everything trained afresh.
    reuse: bool = True
    # The user's opt-out (--unsafe-no-seccomp): check, train and render candidates even where the
    # sandbox worker cannot install its seccomp filter (the walls fail closed without it).
    unsafe_no_seccomp: bool = False
    td3: TD3Config = field(default_factory=TD3Config)
    eval: EvalConfig = field(default_factory=EvalConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, check: bool = True) -> RunConfig:
        """`check=False` reads a stored run's settings as they ran, without today's rules on budgets
        and ranges (a run stored before a rule existed still exports); types are still checked."""
        return _build(cls, data, "config", check=check)


def _preset_smoke() -> RunConfig:
    # Every stage of a run, end to end, in about three minutes on a 2-core CPU.
    return RunConfig(
        env_id="InvertedPendulum-v5", preset="smoke", samples=2, iterations=2, steps=1_200,
        final_steps=1_200, seeds=2, render_video=False,
        td3=TD3Config(hidden_sizes=(64, 64), start_steps=400, batch_size=64),
        eval=EvalConfig(every=300, episodes=2, last_k=3, goal_episodes=2),
        llm=LLMConfig(max_tokens=400, analysis_max_tokens=64, repair_attempts=1),
    )


def _preset_quick() -> RunConfig:
    # A meaningful run on a 2-core CPU (docs/method.md, "Presets"; measured wall times: docs/benchmarks.md).
    # Potential shaping: the quick preset is what the bundled 270M model runs, and its intrinsic
    # rewards are often unaligned with the task (it paid for |torso height| on HalfCheetah); a
    # potential-based G can slow learning but cannot redirect it. The paper preset stays additive.
    # Four paired final seeds: with two, the t interval's t(0.975, 1) = 12.7 keeps any verdict at "no
    # detectable difference"; with four (t = 3.18) a large, consistent difference reads "better" or
    # "worse". The raw-state trainings (the control, the re-evaluation's raw arm, the final raw arm) are
    # the same in every quick run of an env and seed on one machine, so from the second run on they
    # are reused, not trained: a run then trains about 60 % of the first one's env steps.
    # No successive halving: at this budget its rung (8k steps, the third evaluation after the
    # warm-up) cut the candidate that scored best at 12-15k in `lesr bench search` (docs/benchmarks.md).
    return RunConfig(
        preset="quick", shaping="potential", samples=3, iterations=2, steps=12_000, final_steps=20_000, seeds=4,
        prune="none", select_seeds=1,
        td3=TD3Config(start_steps=2_000),
        eval=EvalConfig(every=2_000, episodes=3, last_k=3, goal_episodes=10),
    )


def _preset_paper() -> RunConfig:
    return RunConfig(preset="paper", prune="halving", select_seeds=2)


PRESETS = {"smoke": _preset_smoke, "quick": _preset_quick, "paper": _preset_paper}


def preset(name: str) -> RunConfig:
    try:
        return PRESETS[name]()
    except KeyError:
        raise BadInput(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None


def load_toml(path: str | Path, base: RunConfig | None = None) -> RunConfig:
    """Overlay a TOML file on `base` (or on the preset the file names, default quick)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise BadInput(f"config file not found: {p}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"cannot read config file {p}: {exc}") from None
    start = base or preset(str(data.get("preset", "quick")))
    merged = _deep_merge(start.to_dict(), data)
    return _build(RunConfig, merged, str(p))


def save_toml(config: RunConfig, path: str | Path) -> None:
    Path(path).write_text(tomli_w.dumps(config.to_dict()))


def with_overrides(config: RunConfig, **overrides: Any) -> RunConfig:
    """Apply flat overrides; dotted keys reach nested sections (e.g. 'llm.temperature'). None is skipped."""
    data = config.to_dict()
    for key, value in overrides.items():
        if value is None:
            continue
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return _build(RunConfig, data, "overrides")


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    # TOML has no null: leave unset optional values out.
    return {k: (_drop_none(v) if isinstance(v, dict) else v) for k, v in data.items() if v is not None}


def _build(cls: type, data: dict[str, Any], origin: str, *, check: bool = True) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise BadInput(f"{origin}: unknown setting(s) {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        f = fields[name]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            if not isinstance(value, dict):
                raise BadInput(f"{origin}: [{name}] must be a table")
            kwargs[name] = _build(type(default), value, origin, check=check)
        elif isinstance(default, tuple):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = _coerce(value, default, f"{origin}: {name}")
    config = cls(**kwargs)
    if cls is RunConfig and check:
        validate(config)
    return config


def _coerce(value: Any, default: Any, where: str) -> Any:
    if default is None or value is None:
        return value
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise BadInput(f"{where} must be {expected.__name__}, got {value!r}")
    return value


def check_seeds(first: int, last: int, flag: str) -> None:
    """Every seed a command trains, first..last, must be one numpy and SB3 accept; BadInput (the flag
    named) otherwise, before anything is trained or written."""
    if first < 0:
        raise BadInput(f"{flag} must be within [0, {SEED_MAX}] (2**32 - 1), got {first}")
    if last > SEED_MAX:
        raise BadInput(f"{flag} {first} is too large: its trainings would use seeds up to {last}, above "
                       f"{SEED_MAX} (2**32 - 1)")


def check_past_warmup(steps: int, warmup: int, name: str, what: str, hint: str,
                      kind: str = "the random warm-up") -> None:
    """A training must go past its warm-up: before it the actor is never trained (random actions, or no
    policy update yet), so its score says nothing about the features. The last step is always
    evaluated, so steps > warmup also means at least one evaluation after the warm-up."""
    if steps <= warmup:
        raise BadInput(f"{name} ({steps}) must be above {what} ({warmup}, {kind}): {hint}")


def validate(config: RunConfig) -> None:
    positive = {
        "samples": config.samples, "iterations": config.iterations, "steps": config.steps,
        "final_steps": config.final_steps, "seeds": config.seeds,
        "eval.every": config.eval.every, "eval.episodes": config.eval.episodes,
        "eval.last_k": config.eval.last_k, "td3.batch_size": config.td3.batch_size,
    }
    for name, value in positive.items():
        if value < 1:
            raise BadInput(f"{name} must be at least 1, got {value}")
    if config.shaping not in SHAPINGS:
        raise BadInput(f"shaping must be {' or '.join(SHAPINGS)}, got {config.shaping!r}")
    warmup = config.td3.start_steps
    for name, flag, value in (("steps", "--steps", config.steps), ("final_steps", "--final-steps", config.final_steps)):
        check_past_warmup(value, warmup, name, "td3.start_steps", f"raise {flag} or lower td3.start_steps")
    if config.select_seeds < 0:
        raise BadInput(f"select_seeds must be 0 (no re-evaluation) or more, got {config.select_seeds}")
    # The run trains seed (search), seed+1..seed+S (final, more with --resume --seeds), and
    # seed+1000.. for the re-evaluation (trainings/requests.py)
    check_seeds(config.seed, config.seed + max(config.seeds, SELECTION_SEED_OFFSET + config.select_seeds), "seed")
    if config.prune not in ("none", "halving"):
        raise BadInput(f"prune must be none or halving, got {config.prune!r}")
    if config.workers < 0:
        raise BadInput(f"workers must be 0 (auto) or more, got {config.workers}")
    if config.executor not in ("local", "ray"):
        raise BadInput(f"executor must be local or ray, got {config.executor!r}")
    if config.train_threads < 0:
        raise BadInput(f"train_threads must be 0 (auto) or more, got {config.train_threads}")
    if config.llm.url is not None:
        check_llm_url(config.llm.url)  # BadInput: not loopback or a private address of the user's network
        if config.llm.model is not None:
            raise BadInput("llm.model and llm.url (--model and --llm-url) are exclusive: a run uses a model "
                           "file or a server's model")
    if config.llm.constrain not in ("auto", "on", "off"):
        raise BadInput(f"llm.constrain must be auto, on or off, got {config.llm.constrain!r}")
    if not 0.0 <= config.llm.temperature <= 5.0:
        raise BadInput(f"llm.temperature must be within [0, 5], got {config.llm.temperature}")
    if not 0.0 < config.llm.top_p <= 1.0:
        raise BadInput(f"llm.top_p must be within (0, 1], got {config.llm.top_p}")
