"""What one calibration run measures, and the vramcalc request that describes it.

Standard library only: suite.py and the harness's own tests import this module without
torch. measure.py turns a spec into a measurement; this module turns it into an id, a
command line and a vramcalc request (field names of docs/api.md).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import shlex
from typing import Any, Literal

HERE = pathlib.Path(__file__).resolve().parent
CONFIG_DIR = HERE / "configs"
MEASURE_SCRIPT = "tools/calibrate/measure.py"  # as written in a row's `command`

Method = Literal["full", "lora", "qlora"]
Precision = Literal["fp32", "mixed_bf16", "bf16"]
OptimizerImpl = Literal["foreach", "fused", "forloop"]
Checkpointing = Literal["none", "full"]
Attention = Literal["sdpa", "eager"]

METHODS: tuple[Method, ...] = ("full", "lora", "qlora")
PRECISIONS: tuple[Precision, ...] = ("fp32", "mixed_bf16", "bf16")
OPTIMIZER_IMPLS: tuple[OptimizerImpl, ...] = ("foreach", "fused", "forloop")
CHECKPOINTING: tuple[Checkpointing, ...] = ("none", "full")
ATTENTIONS: tuple[Attention, ...] = ("sdpa", "eager")
ALL_LINEAR = "all-linear"  # PEFT's shorthand: every linear layer except the output head


def config_path(model: str) -> pathlib.Path:
    """The committed config.json of a model short name (`llama-3.1-8b`)."""
    return CONFIG_DIR / f"{model}.json"


def list_models() -> list[str]:
    """Short names of every committed config, sorted."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def load_config(model: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config.json as published, its `_source` note). Keys starting with `_` are ours."""
    path = config_path(model)
    if not path.is_file():
        known = ", ".join(list_models())
        raise ValueError(f"model: no config {path.name} in {CONFIG_DIR.name}/ (known: {known})")
    raw = json.loads(path.read_text(encoding="utf-8"))
    source = raw.get("_source")
    if not isinstance(source, dict) or not isinstance(source.get("model_id"), str):
        raise ValueError(f"{path.name}: `_source.model_id` must name the Hub model")
    config = {k: v for k, v in raw.items() if not k.startswith("_")}
    return config, source


def tiny_config(config: dict[str, Any]) -> dict[str, Any]:
    """A 2-layer, 64-wide copy of `config` that keeps its family and quirks (smoke tests only).

    GQA stays GQA (4 query heads, 2 KV heads) and MHA stays MHA; an explicit `head_dim`
    stays explicit (Qwen3 sets it apart from hidden/heads); tying is kept.
    """
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    small = dict(config)
    small.update(
        num_hidden_layers=2,
        hidden_size=64,
        intermediate_size=128,
        num_attention_heads=4,
        num_key_value_heads=2 if kv_heads < heads else 4,
        vocab_size=min(int(config["vocab_size"]), 512),
    )
    if "head_dim" in config:
        explicit = int(config["head_dim"]) * heads != int(config["hidden_size"])
        small["head_dim"] = 32 if explicit else 16  # 16 = 64 / 4 heads
    if "max_window_layers" in config:
        small["max_window_layers"] = 2
    if "layer_types" in config:
        small["layer_types"] = list(config["layer_types"])[:2]
    return small


def _lora_targets_text(targets: tuple[str, ...] | str) -> str:
    """`q_proj,v_proj` or `all-linear`, as on the command line."""
    return targets if isinstance(targets, str) else ",".join(targets)


def parse_lora_targets(text: str) -> tuple[str, ...] | str:
    """`all-linear` stays a string (PEFT's shorthand); a comma list becomes a tuple of names."""
    if text == ALL_LINEAR:
        return ALL_LINEAR
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    if not names:
        raise ValueError("lora targets: give module names (q_proj,v_proj) or all-linear")
    return names


def _short_targets(targets: tuple[str, ...] | str) -> str:
    """`qv`, `qkvo` or `all-linear`, for ids."""
    if isinstance(targets, str):
        return targets
    return "".join(t.removesuffix("_proj") for t in targets)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class TrainSpec:
    """Two full training steps (forward, backward, optimizer step, zero_grad) of one setup."""

    model: str
    method: Method = "full"
    precision: Precision = "bf16"
    optimizer_impl: OptimizerImpl = "foreach"
    checkpointing: Checkpointing = "none"
    attention: Attention = "sdpa"
    batch: int = 1
    seq: int = 512
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] | str = ("q_proj", "v_proj")
    # qlora: bitsandbytes NF4 with double quantization; `keep_inputs` makes its 4-bit matmul
    # keep its input for the backward, as bitsandbytes <= 0.43.1 did
    keep_inputs: bool = False
    tiny: bool = False
    kind: Literal["training"] = "training"

    def __post_init__(self) -> None:
        problems = _common_problems(self.model, self.batch, self.seq, "seq")
        for name, value, allowed in (
            ("method", self.method, METHODS),
            ("precision", self.precision, PRECISIONS),
            ("optimizer_impl", self.optimizer_impl, OPTIMIZER_IMPLS),
            ("checkpointing", self.checkpointing, CHECKPOINTING),
            ("attention", self.attention, ATTENTIONS),
        ):
            if value not in allowed:
                problems.append(f"{name}: must be one of {', '.join(allowed)}, got {value!r}")
        if self.method == "lora" and self.lora_rank < 1:
            problems.append(f"lora_rank: must be a positive integer, got {self.lora_rank}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def id(self) -> str:
        method = self.method
        if self.method in ("lora", "qlora"):
            method = f"{self.method}-r{self.lora_rank}-{_short_targets(self.lora_targets)}"
            method += "-keep-inputs" if self.keep_inputs else ""
        parts = [
            "train", self.model, method, self.precision, self.attention,
            f"ckpt-{self.checkpointing}", f"adamw-{self.optimizer_impl}",
            f"b{self.batch}-s{self.seq}",
        ]
        return ":".join(parts) + (":tiny" if self.tiny else "")

    def argv(self) -> list[str]:
        """measure.py arguments (without --device and --out)."""
        args = [
            "train", "--model", self.model, "--method", self.method,
            "--precision", self.precision, "--optimizer-impl", self.optimizer_impl,
            "--checkpointing", self.checkpointing, "--attention", self.attention,
            "--batch", str(self.batch), "--seq", str(self.seq),
        ]
        if self.method in ("lora", "qlora"):
            args += [
                "--lora-rank", str(self.lora_rank), "--lora-alpha", str(self.lora_alpha),
                "--lora-dropout", repr(self.lora_dropout),
                "--lora-targets", _lora_targets_text(self.lora_targets),
            ]
        if self.keep_inputs:
            args += ["--keep-inputs"]
        return args + (["--tiny"] if self.tiny else [])

    def request(self, config: dict[str, Any], name: str) -> dict[str, Any]:
        """The vramcalc training request for this run (docs/api.md field names)."""
        request: dict[str, Any] = {
            "mode": "training",
            "model": {"config": config, "name": name},
            "method": self.method,
            "micro_batch_size": self.batch,
            "sequence_length": self.seq,
            "gradient_accumulation_steps": 1,
            "precision": self.precision,
            "optimizer": "adamw",
            "optimizer_implementation": self.optimizer_impl,
            "gradient_checkpointing": self.checkpointing,
            "attention": self.attention,
            "loss": "standard",
            # QLoRA: mixed precision is PEFT's k-bit preparation under HF Trainer (fp32
            # non-quantized weights); bf16 leaves them bf16 with fp32 adapters, the dtypes of
            # the unsloth profile (every setting that changes kernels is given explicitly)
            "framework": "unsloth" if self.method == "qlora" and self.precision == "bf16"
            else "hf_trainer",
        }
        if self.method == "qlora":
            request["qlora"] = {"quant_type": "nf4", "double_quant": True,
                                "saves_linear_inputs": self.keep_inputs}
        if self.method in ("lora", "qlora"):
            targets = self.lora_targets
            request["lora"] = {
                "rank": self.lora_rank,
                "alpha": self.lora_alpha,
                "dropout": self.lora_dropout,
                "target_modules": targets if isinstance(targets, str) else list(targets),
            }
        return request


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class InferSpec:
    """bf16 generation with transformers: one prefill of the prompt, then greedy decode steps.

    The prompt is `context - new_tokens` long, so the KV cache ends holding `context` tokens.
    """

    model: str
    batch: int = 1
    context: int = 2048
    new_tokens: int = 8
    attention: Attention = "sdpa"
    tiny: bool = False
    kind: Literal["inference"] = "inference"

    def __post_init__(self) -> None:
        problems = _common_problems(self.model, self.batch, self.context, "context")
        if not 1 <= self.new_tokens < self.context:
            problems.append(f"new_tokens: must be between 1 and context - 1, got {self.new_tokens}")
        if self.attention not in ATTENTIONS:
            problems.append(f"attention: must be one of {', '.join(ATTENTIONS)}, "
                            f"got {self.attention!r}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def prompt_tokens(self) -> int:
        return self.context - self.new_tokens

    @property
    def id(self) -> str:
        parts = ["infer", self.model, "bf16", self.attention, f"b{self.batch}-ctx{self.context}",
                 f"new{self.new_tokens}"]
        return ":".join(parts) + (":tiny" if self.tiny else "")

    def argv(self) -> list[str]:
        args = [
            "infer", "--model", self.model, "--batch", str(self.batch),
            "--context", str(self.context), "--new-tokens", str(self.new_tokens),
            "--attention", self.attention,
        ]
        return args + (["--tiny"] if self.tiny else [])

    def request(self, config: dict[str, Any], name: str) -> dict[str, Any]:
        """The vramcalc inference request. The run prefills `prompt_tokens` (context minus the
        generated tokens) in one forward pass; vramcalc takes the prompt to fill the context."""
        return {
            "mode": "inference",
            "model": {"config": config, "name": name},
            "batch_size": self.batch,
            "context_length": self.context,
            "weight_format": "bf16",
            "kv_cache_dtype": "bf16",
            "engine": "transformers",
            "attention": self.attention,
        }


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class ContextSpec:
    """The CUDA context alone: after the first tiny tensor, then after the first cuBLAS matmul."""

    kind: Literal["cuda_context"] = "cuda_context"

    @property
    def id(self) -> str:
        return "cuda-context"

    def argv(self) -> list[str]:
        return ["context"]


Spec = TrainSpec | InferSpec | ContextSpec


def _common_problems(model: str, batch: int, length: int, length_name: str) -> list[str]:
    """Checks shared by training and inference specs."""
    problems = []
    if not config_path(model).is_file():
        problems.append(f"model: no config {model}.json (known: {', '.join(list_models())})")
    if batch < 1:
        problems.append(f"batch: must be a positive integer, got {batch}")
    if length < 2:
        problems.append(f"{length_name}: must be at least 2, got {length}")
    return problems


def command(spec: Spec, device: str) -> str:
    """The exact command that reproduces one row (it prints the row on stdout)."""
    argv = spec.argv()
    return shlex.join(["python3", MEASURE_SCRIPT, argv[0], "--device", device, *argv[1:]])


def row_header(spec: Spec, device: str) -> dict[str, Any]:
    """The fields every row has, whatever happens to the run (suite.py writes failed ones)."""
    head: dict[str, Any] = {"id": spec.id, "kind": spec.kind, "device": device,
                            "command": command(spec, device)}
    if isinstance(spec, TrainSpec | InferSpec):
        config, source = load_config(spec.model)
        if spec.tiny:
            config = tiny_config(config)
        head.update(model=source["model_id"],
                    config_file=f"tools/calibrate/configs/{spec.model}.json",
                    request=spec.request(config, source["model_id"]))
    return head


def spec_to_json(spec: Spec) -> dict[str, Any]:
    """A JSON-safe dict that spec_from_json turns back into the same spec."""
    data = dataclasses.asdict(spec)
    if isinstance(data.get("lora_targets"), tuple):
        data["lora_targets"] = list(data["lora_targets"])
    return data


def spec_from_json(data: dict[str, Any]) -> Spec:
    """Inverse of spec_to_json."""
    data = dict(data)
    kind = data.pop("kind")
    if kind == "training":
        if isinstance(data.get("lora_targets"), list):
            data["lora_targets"] = tuple(data["lora_targets"])
        return TrainSpec(**data)
    if kind == "inference":
        return InferSpec(**data)
    if kind == "cuda_context":
        return ContextSpec()
    raise ValueError(f"kind: must be training, inference or cuda_context, got {kind!r}")
