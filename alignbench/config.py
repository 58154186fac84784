"""Config schema, built-in configs, and validation with one-line errors naming the setting."""

from __future__ import annotations

import math
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from .errors import AlignbenchError, validation_error
from .evaluation.simulated_judge import SimulatedJudgeSettings
from .methods.params import MAX_COUNT
from .methods.registry import get_method
from .names import name_problem
from .plugins import find_plugin
from .registry import EVALUATORS, TASKS
from .safe_yaml import load_yaml_file, load_yaml_text
from .stats import MAX_SEED
from .tasks import task_loader, task_option_types

BUILTIN = ("quickstart", "hh-harmless", "oracle-sweep")


Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


class _Strict(BaseModel):
    # One typing rule for every setting (as methods.params has): a boolean is not a number, text is not a number.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class LoraConfig(_Strict):
    r: int = Field(8, gt=0, le=4096)
    alpha: int = Field(16, gt=0, le=65536)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    target_modules: list[str] | str | None = None


class TaskConfig(_Strict):
    # a registered task (alignbench.registry.TASKS: oracle, jsonl, the data sets in alignbench/tasks/*.yaml),
    # a task YAML's path, or the user's: package.module:loader or an alignbench.tasks entry point
    name: str = "oracle"
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name):
        task_loader(name)
        return name


class PolicyConfig(_Strict):
    path: str | None = None  # a local Hugging Face model directory; None builds a tiny GPT-2
    n_layer: int = Field(2, gt=0, le=MAX_COUNT)
    n_embd: int = Field(64, gt=0, le=MAX_COUNT)
    n_head: int = Field(4, gt=0, le=MAX_COUNT)
    tokenizer_vocab: int = Field(4096, gt=16, le=MAX_COUNT)
    max_new_tokens: int = Field(64, gt=0, le=MAX_COUNT)
    max_prompt_tokens: int = Field(256, gt=1, le=MAX_COUNT)
    lora: dict[str, Any] | None = None  # e.g. {r: 8, alpha: 16}: methods train LoRA adapters (peft) on π_sft

    @field_validator("lora")
    @classmethod
    def _lora(cls, v):
        # Typed through LoraConfig, handed on as the plain dict that models.policy.apply_lora reads.
        return None if v is None else LoraConfig.model_validate(v).model_dump(exclude_unset=True)


class SFTConfig(_Strict):
    # 0: the given model (policy.path, e.g. an instruct checkpoint) is π_sft
    steps: int = Field(300, ge=0, le=MAX_COUNT)
    lr: float = Field(3e-3, gt=0)
    batch_size: int = Field(64, gt=0, le=MAX_COUNT)
    # token: NLL summed over the batch's response tokens / their count (TRL, the papers' SFT);
    # sequence: mean of per-response token-averaged NLLs (up-weights short responses); sum: per-response sums.
    normalization: Literal["token", "sequence", "sum"] = "token"


class RewardModelConfig(_Strict):
    # A local reward model to train methods on instead of training one: a Hugging Face
    # …ForSequenceClassification directory with one label (TRL's RewardTrainer output) or an alignbench one.
    path: str | None = None
    backbone: Literal["policy", "minilm"] = "policy"
    loss: Literal["bradley-terry", "pointwise"] = "bradley-terry"
    finetune: Literal["head", "full"] = "head"
    # policy backbone: last-token head; per-token rewards summed; or next-token (Σ_t q(x, y_<t)[y_t])
    pooling: Literal["last", "sum", "next-token"] = "last"
    steps: int = Field(300, gt=0, le=MAX_COUNT)
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(32, gt=0, le=MAX_COUNT)


class GenerationConfig(_Strict):
    backend: Literal["transformers", "vllm"] = "transformers"
    samples_per_prompt: int = Field(1, gt=0, le=MAX_COUNT)
    # transformers backend: a sampling batch holds as many sequences as their KV cache, last logits and prefill
    # activations fit in this many MB (models/generation.bytes_per_sequence); vLLM manages its own memory
    memory_budget_mb: float = Field(256.0, gt=0, le=1_048_576)


class EvaluationConfig(_Strict):
    baselines: list[Literal["dataset", "sft"]] = Field(default_factory=lambda: ["dataset", "sft"])
    evaluators: list[str] = Field(default_factory=lambda: ["reward-model", "gold-reward"])  # registered evaluator names
    judges: list[str] = Field(default_factory=list)
    # A simulated annotator (Bradley–Terry on the true reward, with position bias) served over HTTP and
    # judged like any LLM judge; only on tasks with a true reward.
    simulated_judge: SimulatedJudgeSettings | None = None
    bootstrap: int = Field(2000, ge=100, le=1_000_000)
    ci: float = Field(0.95, gt=0, lt=1)

    @field_validator("evaluators")
    @classmethod
    def _registered(cls, names):
        known = [n for n in EVALUATORS.names() if n != "llm"]
        for name in names:
            if name.partition(":")[0] not in known:  # LLM judges go under evaluation.judges
                find_plugin(name, "evaluator", "evaluation.evaluators", known)
        return names


class Config(_Strict):
    name: str = "quickstart"
    task: TaskConfig = Field(default_factory=TaskConfig)
    seed: Seed = 0  # seed of the shared stages (data split, SFT, reward model)
    seeds: list[Seed] = Field(default_factory=lambda: [0])  # one training + generation per method per seed
    beta: float = Field(0.1, gt=0)  # β of the target π*_β that the exact oracle KL is measured against
    beta_sweep: list[float] = Field(default_factory=list)  # methods with a 'beta' hyper-parameter run once per value
    train_reward: Literal["reward-model", "gold"] = "reward-model"
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    sft: SFTConfig = Field(default_factory=SFTConfig)
    reward_model: RewardModelConfig = Field(default_factory=RewardModelConfig)
    methods: dict[str, dict[str, Any]] = Field(default_factory=dict)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    runs_dir: str = "runs"
    leaderboard_dir: str = "leaderboards"

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v):
        if not v:
            raise ValueError("at least one seed")
        if len(set(v)) != len(v):
            raise ValueError("seeds repeat")
        return v

    @field_validator("beta_sweep")
    @classmethod
    def _sweep(cls, v):
        if any(not math.isfinite(b) or b <= 0 for b in v):
            raise ValueError("every β must be positive")
        return v

    @field_validator("methods")
    @classmethod
    def _methods(cls, v):
        if not v:
            raise ValueError("name at least one method")
        for label, params in v.items():
            problem = name_problem(str(label))
            if problem:
                raise ValueError(f"method label {str(label)[:40]!r} {problem}")
            if params is None:
                v[label] = {}
            elif not isinstance(params, dict):
                raise ValueError(f"methods.{label} must be a mapping of hyper-parameters")
            elif not isinstance(params.get("method", label), str):
                raise ValueError(f"methods.{label}.method must be a method name, got {type(params['method']).__name__}")
        return v


def builtin_config_path(name: str) -> Path:
    return Path(str(resources.files("alignbench") / "configs" / f"{name}.yaml"))


def load_config(source: str | Path, overrides: list[str] | None = None) -> Config:
    """Load a YAML path or a built-in config name, apply ``KEY=VALUE`` overrides, validate."""
    source = str(source)
    path = Path(source)
    if not path.exists() and source in BUILTIN:
        path = builtin_config_path(source)
    if not path.exists():
        raise AlignbenchError(f"config {source!r}: no such file and not a built-in config ({', '.join(BUILTIN)})")
    data = load_yaml_file(path, "config")
    if data is None:
        raise AlignbenchError(f"{path}: config is empty")
    if not isinstance(data, dict):
        raise AlignbenchError(f"{path}: config must be a mapping, got {type(data).__name__}")
    for item in overrides or []:
        _apply_override(data, item)
    return validate_config(data, str(path))


def validate_config(data: dict, origin: str = "config") -> Config:
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        raise validation_error(e, origin) from None
    except AlignbenchError as e:  # a validator that names its own setting (plugins)
        raise AlignbenchError(f"{origin}: {e}") from None
    for label, params in cfg.methods.items():
        params = dict(params)
        name = params.pop("method", label)
        try:
            get_method(name, setting=f"methods.{label}" + (".method" if name != label else ""))(params, label=label)
        except AlignbenchError as e:
            raise AlignbenchError(f"{origin}: {e}") from None
    _check_task_options(cfg.task.name, cfg.task.options, origin)
    problem = name_problem(str(task_name(cfg)))
    if problem:
        raise AlignbenchError(f"{origin}: setting 'task.options.name': the task's name "
                              f"{str(task_name(cfg))[:40]!r} {problem}")
    return cfg


def task_name(cfg: Config) -> str:
    """The task's name as published: the leaderboard files are ``<name>.csv`` and so on."""
    if cfg.task.name == "jsonl":
        return cfg.task.options.get("name", "custom")
    # a declared task's own name, not its YAML path
    return getattr(TASKS.get(cfg.task.name), "task_name", cfg.task.name)


def _check_task_options(task: str, options: dict, origin: str) -> None:
    """Each task option has the type its task declares: counts are integers in range, numbers finite."""
    types = task_option_types(task)
    unknown = sorted(set(options) - set(types))
    if unknown:
        raise AlignbenchError(f"{origin}: setting 'task.options': unknown option(s) "
                              f"{', '.join(unknown)} for task {task} (known: {', '.join(sorted(types))})")
    model = create_model(
        f"{task}_options", __config__=ConfigDict(extra="forbid", allow_inf_nan=False, strict=True),
        **{k: (_bounded(t), ...) for k, t in types.items() if k in options},
    )
    try:
        model.model_validate(options)
    except ValidationError as e:
        raise validation_error(e, origin, prefix="task.options.") from None


def _bounded(annotation):
    """Integers of task options are counts and seeds: not negative, not astronomically large."""
    if annotation is int:
        return Annotated[int, Field(ge=0, le=MAX_SEED)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if int in args:
            return typing.Union[tuple(_bounded(a) for a in args)]
    return annotation


def _apply_override(data: dict, item: str) -> None:
    if "=" not in item:
        raise AlignbenchError(f"--set {item!r}: expected KEY=VALUE")
    key, raw = item.split("=", 1)
    value = load_yaml_text(raw, f"--set {key}", lenient=True)
    node = data
    parts = key.split(".")
    for p in parts[:-1]:
        if node.get(p) is None:
            node[p] = {}
        node = node[p]
        if not isinstance(node, dict):
            raise AlignbenchError(f"--set {key}: '{p}' is not a mapping")
    node[parts[-1]] = value


def method_instances(cfg: Config):
    """(label, Method) for every configured method, expanding ``beta_sweep`` over β-carrying methods.

    A method with a ``beta`` hyper-parameter that the config does not set takes the run's ``beta``,
    so every KL-regularised method of a comparison aims at the same π*_β."""
    out = []
    for label, params in cfg.methods.items():
        params = dict(params)
        cls = get_method(params.pop("method", label))
        if cls.Params.has("beta") and "beta" not in params and not cfg.beta_sweep:
            params["beta"] = cfg.beta
        if cfg.beta_sweep and cls.Params.has("beta") and "beta" not in params:
            for b in cfg.beta_sweep:
                out.append((f"{label}@β={b:g}", cls({**params, "beta": b}, label=f"{label}@β={b:g}")))
        else:
            out.append((label, cls(params, label=label)))
    return out
