"""A model's shape from its Hugging Face `config.json`, and its exact parameter counts.

Each family's reader mirrors the module layout of the matching `transformers` model file
(`src/transformers/models/<family>/modeling_<family>.py`, v5): the counts it yields equal
`sum(p.numel() for p in model.parameters())` for the instantiated model (tied weights once),
which `tests/data/param_counts.json` pins for every supported family.

The model is described as a tensor inventory (`TensorGroup`s: a role such as `attn_q` or
`ffn_down_exps`, the element count of one tensor, the layers it occurs in) plus the attention
geometry of every layer. Weights, adapters, optimizer states and KV cache are all computed
from that one description.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from . import catalogs
from .errors import Collector, Fields, count

if TYPE_CHECKING:
    from collections.abc import Mapping

# Parameter categories reported in `parameters.by_category`.
CATEGORIES = (
    "embeddings",
    "attention",
    "mlp",
    "routed_experts",
    "shared_experts",
    "router",
    "norms",
    "lm_head",
)

# Tensor roles (GGUF-like names) -> category. `LINEAR_ROLES` are the 2-D projection weights
# that weight-only quantizers (bitsandbytes, GPTQ, AWQ, GGUF) compress.
_ROLE_CATEGORY = {
    "token_embd": "embeddings",
    "pos_embd": "embeddings",
    "output": "lm_head",
    "norm": "norms",
    "attn_q": "attention",
    "attn_k": "attention",
    "attn_v": "attention",
    "attn_qkv": "attention",
    "attn_output": "attention",
    "attn_q_a": "attention",
    "attn_q_b": "attention",
    "attn_kv_a": "attention",
    "attn_kv_b": "attention",
    "attn_bias": "attention",
    "attn_sinks": "attention",
    "ffn_gate": "mlp",
    "ffn_up": "mlp",
    "ffn_down": "mlp",
    "ffn_gate_up": "mlp",
    "ffn_bias": "mlp",
    "ffn_gate_exps": "routed_experts",
    "ffn_up_exps": "routed_experts",
    "ffn_down_exps": "routed_experts",
    "ffn_gate_up_exps": "routed_experts",
    "ffn_exps_bias": "routed_experts",
    "ffn_gate_shexp": "shared_experts",
    "ffn_up_shexp": "shared_experts",
    "ffn_down_shexp": "shared_experts",
    "ffn_gate_inp_shexp": "shared_experts",
    "ffn_gate_inp": "router",
    "ffn_gate_inp_bias": "router",
}
LINEAR_ROLES = frozenset(
    {
        "attn_q",
        "attn_k",
        "attn_v",
        "attn_qkv",
        "attn_output",
        "attn_q_a",
        "attn_q_b",
        "attn_kv_a",
        "attn_kv_b",
        "ffn_gate",
        "ffn_up",
        "ffn_down",
        "ffn_gate_up",
        "ffn_gate_exps",
        "ffn_up_exps",
        "ffn_down_exps",
        "ffn_gate_up_exps",
        "ffn_gate_shexp",
        "ffn_up_shexp",
        "ffn_down_shexp",
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class TensorGroup:
    """Tensors of one role and size: `numel` elements each, one per layer in `layers`
    (`layers == ()` for a tensor outside the layer stack, counted once).
    `in_features` is the input width of a linear weight (LoRA adds `r·(in + out)`)."""

    role: str
    numel: int
    layers: tuple[int, ...] = ()
    in_features: int = 0
    out_features: int = 0
    experts: int = 1  # a stacked expert tensor holds this many matrices of in x out

    @property
    def count(self) -> int:
        return len(self.layers) if self.layers else 1

    @property
    def total(self) -> int:
        return self.numel * self.count

    @property
    def category(self) -> str:
        return _ROLE_CATEGORY[self.role]


@dataclass(frozen=True, kw_only=True, slots=True)
class AttentionLayer:
    """What one layer keeps in the KV cache.

    `kind`: "full" (grows with the context), "sliding" (at most `window` tokens),
    "chunked" (Llama 4 local attention: at most `window` tokens) or "none".
    `k_width`/`v_width`: elements per token cached for K and V when every head is stored
    (`g·d_k` and `g·d_v`). For MLA, `latent_width` is what an engine that caches the
    compressed latent stores per token (`kv_lora_rank + qk_rope_head_dim`, one "head").
    """

    kind: str
    window: int = 0
    k_width: int = 0
    v_width: int = 0
    latent_width: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class MoESpec:
    num_experts: int
    experts_per_token: int
    expert_intermediate_size: int
    shared_intermediate_size: int  # 0 when the model has no shared expert
    moe_layers: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelSpec:
    """Everything the estimators need to know about a decoder-only model."""

    name: str
    model_type: str
    family: str  # the reader used
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int  # dense MLP width (0 when every layer is MoE)
    gated_mlp: bool  # SwiGLU/GeGLU (3 matrices) vs a plain 2-matrix MLP
    norm: str  # "rms", "layer" or "none" (OLMo's parameter-free LayerNorm)
    tie_word_embeddings: bool
    max_position_embeddings: int
    torch_dtype: str
    tensors: tuple[TensorGroup, ...]
    attention: tuple[AttentionLayer, ...]
    mla: bool
    moe: MoESpec | None
    dense_layer_widths: tuple[int, ...]  # per layer: dense MLP width, 0 for an MoE layer
    dropout: float  # attention/hidden dropout used in training (0.0 for most LLMs)
    notes: tuple[str, ...]  # model quirks worth telling the user
    mlp_activation: str = "silu"  # config's activation name (hidden_act, activation_function)
    residual_dropout: float = 0.0  # dropout on each block's output (GPT-2 resid_pdrop)
    embedding_dropout: float = 0.0  # dropout on the embeddings (GPT-2 embd_pdrop)

    @property
    def parameters_by_category(self) -> dict[str, int]:
        counts = dict.fromkeys(CATEGORIES, 0)
        for group in self.tensors:
            counts[group.category] += group.total
        return counts

    @property
    def total_parameters(self) -> int:
        return sum(group.total for group in self.tensors)

    @property
    def active_parameters(self) -> int:
        """Parameters one token touches: routed experts scaled by top-k / experts."""
        total = self.total_parameters
        if self.moe is None:
            return total
        routed = self.parameters_by_category["routed_experts"]
        used = routed * self.moe.experts_per_token // self.moe.num_experts
        return total - routed + used

    def summary(self) -> dict[str, Any]:
        kinds = [layer.kind for layer in self.attention]
        windows = sorted({layer.window for layer in self.attention if layer.window})
        return {
            "name": self.name,
            "model_type": self.model_type,
            "family": self.family,
            "layers": self.num_layers,
            "hidden_size": self.hidden_size,
            "attention_heads": self.num_heads,
            "kv_heads": self.num_kv_heads,
            "head_dim": self.head_dim,
            "intermediate_size": self.intermediate_size,
            "vocab_size": self.vocab_size,
            "tie_word_embeddings": self.tie_word_embeddings,
            "max_position_embeddings": self.max_position_embeddings,
            "torch_dtype": self.torch_dtype,
            "attention": "mla" if self.mla else _attention_name(self.num_heads, self.num_kv_heads),
            "full_attention_layers": kinds.count("full"),
            "sliding_window_layers": kinds.count("sliding") + kinds.count("chunked"),
            "sliding_windows": windows,
            "moe": None
            if self.moe is None
            else {
                "experts": self.moe.num_experts,
                "experts_per_token": self.moe.experts_per_token,
                "expert_intermediate_size": self.moe.expert_intermediate_size,
                "shared_intermediate_size": self.moe.shared_intermediate_size,
                "moe_layers": self.moe.moe_layers,
            },
        }


def _attention_name(heads: int, kv_heads: int) -> str:
    if kv_heads == heads:
        return "mha"
    return "mqa" if kv_heads == 1 else "gqa"


# ----------------------------------------------------------------------------------------
# Reading config.json


@dataclass(slots=True)
class _Builder:
    """Accumulates tensor groups layer by layer."""

    groups: dict[tuple[str, int, int, int, int], list[int]]
    globals_: list[TensorGroup]

    @classmethod
    def new(cls) -> _Builder:
        return cls(groups={}, globals_=[])

    def layer(
        self, role: str, layer: int, in_f: int, out_f: int, *, experts: int = 1, bias: bool = False
    ) -> None:
        numel = in_f * out_f * experts
        self.groups.setdefault((role, numel, in_f, out_f, experts), []).append(layer)
        if bias:
            bias_role = {
                "ffn_gate_exps": "ffn_exps_bias",
                "ffn_up_exps": "ffn_exps_bias",
                "ffn_down_exps": "ffn_exps_bias",
                "ffn_gate_up_exps": "ffn_exps_bias",
                "ffn_gate_inp": "ffn_gate_inp_bias",
            }.get(role, "attn_bias" if role.startswith("attn") else "ffn_bias")
            self.groups.setdefault((bias_role, out_f * experts, 0, 0, 1), []).append(layer)

    def vector(self, role: str, layer: int, size: int) -> None:
        self.groups.setdefault((role, size, 0, 0, 1), []).append(layer)

    def single(self, role: str, numel: int, in_f: int = 0, out_f: int = 0) -> None:
        self.globals_.append(
            TensorGroup(role=role, numel=numel, in_features=in_f, out_features=out_f)
        )

    def head(self, *, vocab: int, hidden: int, tie: bool, norm: int) -> None:
        """The final norm (`norm` elements, 0 for none) and the lm_head unless tied."""
        if norm:
            self.single("norm", norm)
        if not tie:
            self.single("output", vocab * hidden, hidden, vocab)

    def build(self) -> tuple[TensorGroup, ...]:
        layered = [
            TensorGroup(
                role=role,
                numel=numel,
                layers=tuple(layers),
                in_features=in_f,
                out_features=out_f,
                experts=experts,
            )
            for (role, numel, in_f, out_f, experts), layers in self.groups.items()
        ]
        return (*self.globals_, *layered)


_FAMILIES = (
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "gemma",
    "gemma2",
    "gemma3",
    "gemma3_text",
    "phi3",
    "gpt2",
    "gpt_bigcode",
    "gpt_neox",
    "falcon",
    "deepseek_v2",
    "deepseek_v3",
    "gpt_oss",
    "olmo",
    "olmo2",
    "llama4",
    "llama4_text",
    "mistral3",
)

_TEXT_CONFIG_DEFAULTS: dict[str, dict[str, Any]] = {
    "gemma3": {
        "vocab_size": 262208,
        "hidden_size": 2304,
        "intermediate_size": 9216,
        "num_hidden_layers": 26,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "max_position_embeddings": 131072,
        "sliding_window": 4096,
        "tie_word_embeddings": True,
    },
}


def from_config(
    config: Mapping[str, Any], collector: Collector, *, path: str = "model.config", name: str = ""
) -> ModelSpec | None:
    """Read a config.json dict into a ModelSpec; problems go to `collector`.

    Returns None when the config cannot describe a model (the problems say why).
    """
    if not isinstance(config, dict):
        collector.add(path, "must be an object (the model's config.json)")
        return None
    if not _within_limits(config, collector, path):
        return None
    model_type = config.get("model_type")
    notes: list[str] = []
    # Multimodal wrappers: the language model is described by `text_config`
    # (Gemma 3 4B+, Llama 4, Mistral Small 3.1). Vision towers are not counted.
    if model_type in ("gemma3", "llama4", "mistral3") or (
        model_type not in _FAMILIES and isinstance(config.get("text_config"), dict)
    ):
        text = config.get("text_config")
        if not isinstance(text, dict):
            collector.add(f"{path}.text_config", "is required for a multimodal config")
            return None
        inner_type = text.get("model_type") or {
            "gemma3": "gemma3_text",
            "llama4": "llama4_text",
            "mistral3": "mistral",
        }.get(str(model_type), "llama")
        notes.append(
            f"{model_type} is multimodal: only its language model (text_config) is counted; "
            "the vision encoder and projector are not"
        )
        # Gemma 3's published multimodal configs leave out text_config fields equal to
        # Gemma3TextConfig's defaults (gemma-3-4b-it has no vocab_size or head counts):
        # fill them in as transformers does (configuration_gemma3.py, v5).
        # The outer config's dtype and tying apply unless the text config sets its own.
        outer = {k: config[k] for k in ("torch_dtype", "dtype", "tie_word_embeddings")
                 if k in config}
        merged = {**_TEXT_CONFIG_DEFAULTS.get(str(model_type), {}), **outer, **text}
        merged["model_type"] = inner_type
        spec = from_config(merged, collector, path=f"{path}.text_config", name=name)
        if spec is None:
            return None
        return _with(spec, model_type=str(model_type), notes=(*notes, *spec.notes))
    if model_type is not None and not isinstance(model_type, str):
        collector.add(f"{path}.model_type", f"must be a string, got {model_type!r}")
        return None
    family = model_type if model_type in _FAMILIES else "generic"
    if family == "generic":
        notes.append(
            f"model_type {model_type!r} is not one of the supported families; it is read as a "
            "generic Llama-style decoder (RMSNorm, gated MLP, separate q/k/v/o projections), "
            "so its counts may be off"
        )
    fields = Fields(config, collector, path)
    before = len(collector.problems)
    reader = _READERS.get(family, _read_llama_like)
    spec = reader(fields, family)
    if spec is None or len(collector.problems) > before:
        return None
    most = catalogs.bound("parameters")
    if spec.total_parameters > most:
        collector.add(path, f"describes {spec.total_parameters:,} parameters, more than "
                      f"{most:,}: no real model is that large; check its sizes")
        return None
    return _with(spec, name=name or str(config.get("_name_or_path") or model_type or "model"),
                 model_type=str(model_type or "unknown"), notes=(*notes, *spec.notes))


def _within_limits(config: Mapping[str, Any], collector: Collector, path: str) -> bool:
    """Every count and size of the config below its bound (data/limits.json), checked
    before any work, so that the cost of reading a config is bounded whatever it says."""
    ok = True
    for key, limit in catalogs.limits()["config"].items():
        for name in (key, *limit.get("aliases", ())):
            value = config.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > limit["max"]:
                collector.add(f"{path}.{name}",
                              f"at most {limit['max']:,} ({limit['why']}); got {count(value)}")
                ok = False
    return ok


_CACHE: dict[str, ModelSpec] = {}
_CACHE_SIZE = 32


def from_config_cached(
    config: Mapping[str, Any], collector: Collector, *, path: str = "model.config", name: str = ""
) -> ModelSpec | None:
    """`from_config`, remembering the last few successful reads by the config's canonical
    JSON (a page recomputes the same pasted config on every keystroke)."""
    try:
        key = json.dumps([config, path, name], sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return from_config(config, collector, path=path, name=name)
    spec = _CACHE.get(key)
    if spec is not None:
        return spec
    spec = from_config(config, collector, path=path, name=name)
    if spec is not None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = spec
    return spec


def _with(spec: ModelSpec, **changes: Any) -> ModelSpec:
    return replace(spec, **changes)


def _dtype(fields: Fields) -> str:
    """The checkpoint dtype: `torch_dtype` (transformers < 5) or `dtype` (v5 configs)."""
    value = fields.data.get("torch_dtype") or fields.data.get("dtype") or "bfloat16"
    return {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32", "half": "fp16"}.get(
        str(value), "bf16"
    )


def _head_width(fields: Fields, hidden: int, heads: int) -> int:
    """hidden_size // heads, the head size where the config gives none; a config whose heads
    outnumber its hidden size would build zero-width heads, and is refused."""
    if heads > hidden:
        fields.add("num_attention_heads", f"must be at most hidden_size ({hidden:,}) when "
                   f"head_dim is not given (head_dim = hidden_size // heads), got {heads:,}")
        return 1
    return hidden // heads


def _heads(fields: Fields, hidden: int) -> tuple[int, int, int]:
    """(query heads, kv heads, head_dim). `head_dim` is explicit in Qwen3, Gemma, Mistral Nemo;
    otherwise hidden/heads. Missing `num_key_value_heads` means MHA (transformers' default)."""
    heads = fields.integer("num_attention_heads", "n_head")
    kv_heads = fields.integer("num_key_value_heads", default=heads)
    head_dim = fields.optional_integer("head_dim") or _head_width(fields, hidden, heads)
    if heads and kv_heads and heads % kv_heads:
        fields.collector.add(
            f"{fields.path}.num_key_value_heads",
            f"must divide num_attention_heads ({heads}), got {kv_heads}",
        )
    return heads, kv_heads, head_dim


def _layer_kinds(fields: Fields, family: str, layers: int) -> list[tuple[str, int]]:
    """(kind, window) per layer from `layer_types`, `sliding_window_pattern` or the family's
    fixed pattern, following transformers' config classes (v5)."""
    window = fields.optional_integer("sliding_window") or 0
    types = fields.data.get("layer_types")
    if isinstance(types, list):
        if len(types) != layers:
            fields.collector.add(
                f"{fields.path}.layer_types",
                f"must list one type per layer ({layers}), got {len(types)}",
            )
            return [("full", 0)] * layers
        out = []
        chunk = fields.optional_integer("attention_chunk_size") or 0
        for i, kind in enumerate(types):
            if kind in ("sliding_attention",):
                out.append(("sliding", window))
            elif kind == "chunked_attention":
                out.append(("chunked", chunk))
            elif kind in ("full_attention", "attention"):
                out.append(("full", 0))
            else:
                fields.collector.add(
                    f"{fields.path}.layer_types[{i}]", f"unsupported layer type {kind!r}"
                )
                out.append(("full", 0))
        return out
    if family == "gemma2" or family == "gpt_oss":
        # even layers use the sliding window (Gemma 2: W=4096; gpt-oss: W=128)
        return [("sliding", window) if (i + 1) % 2 else ("full", 0) for i in range(layers)]
    if family == "llama4_text":
        # chunked local attention on RoPE layers; every 4th layer is global without RoPE
        chunk = fields.integer("attention_chunk_size", default=8192)
        interval = fields.integer("no_rope_layer_interval", default=4)
        return [("chunked", chunk) if (i + 1) % interval else ("full", 0) for i in range(layers)]
    if family == "gemma3_text":
        pattern = fields.integer("sliding_window_pattern", default=6)
        return [("sliding", window) if (i + 1) % pattern else ("full", 0) for i in range(layers)]
    if family in ("qwen2", "qwen2_moe", "qwen3", "qwen3_moe"):
        # Qwen: the window applies only with use_sliding_window, from max_window_layers on
        if fields.boolean("use_sliding_window", default=False) and window:
            first = fields.integer("max_window_layers", default=layers, minimum=0)
            return [("sliding", window) if i >= first else ("full", 0) for i in range(layers)]
        return [("full", 0)] * layers
    if family in ("mistral", "mixtral", "phi3", "generic", "llama") and window:
        # Mistral-7B-v0.1 (W=4096) and Phi-3-mini (W=2047) slide on every layer
        return [("sliding", window)] * layers
    return [("full", 0)] * layers


def _attention_layers(
    kinds: list[tuple[str, int]], k_width: int, v_width: int, latent: int = 0
) -> tuple[AttentionLayer, ...]:
    return tuple(
        AttentionLayer(kind=kind, window=window, k_width=k_width, v_width=v_width,
                       latent_width=latent)
        for kind, window in kinds
    )


# transformers' ACT2FN names (activations.py) a GPT-2-style config may give
ACTIVATIONS = ("gelu_new", "gelu", "gelu_fast", "gelu_pytorch_tanh", "gelu_python", "relu",
               "silu", "swish", "quick_gelu", "tanh")


def _spec(
    c: Fields, family: str, b: _Builder, *, vocab: int, hidden: int, layers: int, heads: int,
    kv_heads: int, head_dim: int, width: int, tie: bool, attention: tuple[AttentionLayer, ...],
    gated_mlp: bool = True, norm: str = "rms", positions: int = 0,
    positions_default: int = 4096, dropout_key: str = "attention_dropout",
    dropout_default: float = 0.0, mla: bool = False, moe: MoESpec | None = None,
    dense_layer_widths: tuple[int, ...] | None = None, notes: tuple[str, ...] = (),
    activation: str = "silu", residual_dropout: float = 0.0, embedding_dropout: float = 0.0,
) -> ModelSpec:
    """The ModelSpec every reader ends with. What the readers share is read here, in one
    order: `max_position_embeddings` (unless the reader read `positions` itself), the
    checkpoint dtype, then the dropout. `width` is the dense MLP width; every layer has it
    unless `dense_layer_widths` says otherwise (0 for an MoE layer)."""
    return ModelSpec(
        name="", model_type=family, family=family, vocab_size=vocab, hidden_size=hidden,
        num_layers=layers, num_heads=heads, num_kv_heads=kv_heads, head_dim=head_dim,
        intermediate_size=width, gated_mlp=gated_mlp, norm=norm, tie_word_embeddings=tie,
        max_position_embeddings=positions
        or c.integer("max_position_embeddings", default=positions_default),
        torch_dtype=_dtype(c), tensors=b.build(), attention=attention, mla=mla, moe=moe,
        dense_layer_widths=(width,) * layers if dense_layer_widths is None
        else dense_layer_widths,
        dropout=c.number(dropout_key, default=dropout_default, maximum=1.0), notes=notes,
        mlp_activation=activation, residual_dropout=residual_dropout,
        embedding_dropout=embedding_dropout,
    )


def _read_llama_like(fields: Fields, family: str) -> ModelSpec | None:
    """Llama, Mistral, Qwen2/3, Gemma 1/2/3, OLMo 1/2, Mixtral, Qwen MoE, Llama 4 text, and
    the generic decoder: embeddings, per-layer q/k/v/o + MLP or MoE, RMSNorm, lm_head."""
    c = fields
    hidden = c.integer("hidden_size")
    layers = c.integer("num_hidden_layers")
    vocab = c.integer("vocab_size")
    heads, kv_heads, head_dim = _heads(c, hidden)
    tie_default = family in ("gemma", "gemma2", "gemma3_text")
    tie = c.boolean("tie_word_embeddings", default=tie_default)
    attn_bias = c.boolean("attention_bias", default=False)
    qkv_bias = family == "qwen2" or (
        family == "qwen2_moe" and c.boolean("qkv_bias", default=True))
    mlp_bias = c.boolean("mlp_bias", default=False)
    qk_norm = family in ("qwen3", "qwen3_moe", "gemma3_text")
    moe_fields = _moe_fields(c, family, layers)
    dense_width = 0
    if moe_fields is None or len(moe_fields.layers) < layers:
        key = "intermediate_size_mlp" if family == "llama4_text" else "intermediate_size"
        dense_width = c.integer(key)
    if c.failed():
        return None
    b = _Builder.new()
    b.single("token_embd", vocab * hidden, hidden, vocab)
    kinds = _layer_kinds(c, family, layers)
    moe_layers: set[int] = set(moe_fields.layers) if moe_fields else set()
    for i in range(layers):
        b.layer("attn_q", i, hidden, heads * head_dim, bias=attn_bias or qkv_bias)
        b.layer("attn_k", i, hidden, kv_heads * head_dim, bias=attn_bias or qkv_bias)
        b.layer("attn_v", i, hidden, kv_heads * head_dim, bias=attn_bias or qkv_bias)
        b.layer("attn_output", i, heads * head_dim, hidden, bias=attn_bias)
        if qk_norm:  # q_norm / k_norm over one head (Qwen3, Gemma 3)
            b.vector("norm", i, head_dim)
            b.vector("norm", i, head_dim)
        if family == "olmo2":  # OLMo 2 normalises the whole q and k projections
            b.vector("norm", i, heads * head_dim)
            b.vector("norm", i, kv_heads * head_dim)
        if i in moe_layers and moe_fields is not None:
            _moe_block(b, c, family, i, hidden, moe_fields)
        else:
            _dense_mlp(b, i, hidden, dense_width, bias=mlp_bias)
        if family == "olmo":
            pass  # OLMo's LayerNorm has no parameters
        elif family in ("gemma2", "gemma3_text"):
            for _ in range(4):  # input, post-attention, pre- and post-feedforward norms
                b.vector("norm", i, hidden)
        elif family == "olmo2":
            b.vector("norm", i, hidden)  # post-attention
            b.vector("norm", i, hidden)  # post-feedforward
        else:
            b.vector("norm", i, hidden)  # input_layernorm
            b.vector("norm", i, hidden)  # post_attention_layernorm
    # OLMo's final LayerNorm has no parameters
    b.head(vocab=vocab, hidden=hidden, tie=tie, norm=0 if family == "olmo" else hidden)
    notes: tuple[str, ...] = ()
    if family == "llama4_text":
        notes = ("Llama 4 uses chunked local attention on 3 of every 4 layers",)
    return _spec(
        c, family, b, vocab=vocab, hidden=hidden, layers=layers, heads=heads,
        kv_heads=kv_heads, head_dim=head_dim, width=dense_width, tie=tie,
        norm="none" if family == "olmo" else "rms",
        attention=_attention_layers(kinds, kv_heads * head_dim, kv_heads * head_dim),
        moe=None if moe_fields is None else moe_fields.spec(),
        dense_layer_widths=tuple(0 if i in moe_layers else dense_width for i in range(layers)),
        notes=notes,
    )


def _dense_mlp(b: _Builder, i: int, hidden: int, width: int, *, bias: bool = False) -> None:
    b.layer("ffn_gate", i, hidden, width, bias=bias)
    b.layer("ffn_up", i, hidden, width, bias=bias)
    b.layer("ffn_down", i, width, hidden, bias=bias)


@dataclass(frozen=True, kw_only=True, slots=True)
class _MoEFields:
    """What a Llama-like MoE config says about its experts, read before the layers are."""

    experts: int
    top_k: int
    expert_width: int
    shared_width: int  # 0 without a shared expert
    layers: tuple[int, ...]  # indices of the MoE layers

    def spec(self) -> MoESpec:
        return MoESpec(num_experts=self.experts, experts_per_token=self.top_k,
                       expert_intermediate_size=self.expert_width,
                       shared_intermediate_size=self.shared_width, moe_layers=len(self.layers))


def _moe_fields(c: Fields, family: str, layers: int) -> _MoEFields | None:
    """The experts of Mixtral, Qwen MoE and Llama 4; None for a dense family."""
    if family == "mixtral":
        experts = c.integer("num_local_experts")
        top_k = c.integer("num_experts_per_tok")
        return _MoEFields(experts=experts, top_k=top_k, expert_width=c.integer("intermediate_size"),
                          shared_width=0, layers=tuple(range(layers)))
    if family in ("qwen2_moe", "qwen3_moe"):
        experts = c.integer("num_experts")
        top_k = c.integer("num_experts_per_tok")
        width = c.integer("moe_intermediate_size")
        step = c.integer("decoder_sparse_step", default=1)
        only = set(_layer_indices(c, "mlp_only_layers", layers))
        which = tuple(i for i in range(layers) if i not in only and (i + 1) % step == 0)
        shared = c.integer("shared_expert_intermediate_size") if family == "qwen2_moe" else 0
        return _MoEFields(experts=experts, top_k=top_k, expert_width=width, shared_width=shared,
                          layers=which)
    if family == "llama4_text":
        experts = c.integer("num_local_experts")
        top_k = c.integer("num_experts_per_tok", default=1)
        step = c.integer("interleave_moe_layer_step", default=1)
        if c.has("moe_layers"):
            which = _layer_indices(c, "moe_layers", layers)
        else:
            which = tuple(range(step - 1, layers, step))
        width = c.integer("intermediate_size")
        return _MoEFields(experts=experts, top_k=top_k, expert_width=width, shared_width=width,
                          layers=which)
    return None


def _layer_indices(c: Fields, key: str, layers: int) -> tuple[int, ...]:
    """A list of distinct layer indices in [0, layers) (Llama 4's moe_layers, Qwen MoE's
    mlp_only_layers)."""
    raw = c.get(key)
    if raw is None:
        return ()
    good = isinstance(raw, list) and all(
        isinstance(i, int) and not isinstance(i, bool) and 0 <= i < layers for i in raw)
    if not good:
        c.add(key, f"must be a list of layer indices from 0 to {layers - 1}")
        return ()
    return tuple(sorted(set(raw)))


def _moe_block(
    b: _Builder, c: Fields, family: str, i: int, hidden: int, moe: _MoEFields
) -> None:
    experts, width, shared = moe.experts, moe.expert_width, moe.shared_width
    b.layer("ffn_gate_inp", i, hidden, experts)  # router
    if family == "llama4_text":
        # experts stored fused: gate_up_proj [E, h, 2f], down_proj [E, f, h]
        b.layer("ffn_gate_up_exps", i, hidden, 2 * width, experts=experts)
        b.layer("ffn_down_exps", i, width, hidden, experts=experts)
    else:
        b.layer("ffn_gate_exps", i, hidden, width, experts=experts)
        b.layer("ffn_up_exps", i, hidden, width, experts=experts)
        b.layer("ffn_down_exps", i, width, hidden, experts=experts)
    if shared:
        b.layer("ffn_gate_shexp", i, hidden, shared)
        b.layer("ffn_up_shexp", i, hidden, shared)
        b.layer("ffn_down_shexp", i, shared, hidden)
        if family == "qwen2_moe":  # a sigmoid gate on the shared expert's output
            b.layer("ffn_gate_inp_shexp", i, hidden, 1)


def _read_phi3(fields: Fields, family: str) -> ModelSpec | None:
    """Phi-3 / 3.5 / 4: fused qkv_proj and gate_up_proj, no biases (modeling_phi3.py)."""
    c = fields
    hidden = c.integer("hidden_size")
    layers = c.integer("num_hidden_layers")
    vocab = c.integer("vocab_size")
    width = c.integer("intermediate_size")
    heads, kv_heads, head_dim = _heads(c, hidden)
    tie = c.boolean("tie_word_embeddings", default=False)
    if c.failed():
        return None
    b = _Builder.new()
    b.single("token_embd", vocab * hidden, hidden, vocab)
    for i in range(layers):
        b.layer("attn_qkv", i, hidden, (heads + 2 * kv_heads) * head_dim)
        b.layer("attn_output", i, heads * head_dim, hidden)
        b.layer("ffn_gate_up", i, hidden, 2 * width)
        b.layer("ffn_down", i, width, hidden)
        b.vector("norm", i, hidden)
        b.vector("norm", i, hidden)
    b.head(vocab=vocab, hidden=hidden, tie=tie, norm=hidden)
    kinds = _layer_kinds(c, family, layers)
    return _spec(
        c, family, b, vocab=vocab, hidden=hidden, layers=layers, heads=heads,
        kv_heads=kv_heads, head_dim=head_dim, width=width, tie=tie,
        attention=_attention_layers(kinds, kv_heads * head_dim, kv_heads * head_dim),
    )


def _read_gpt2(fields: Fields, family: str) -> ModelSpec | None:
    """GPT-2: learned positions, LayerNorm with bias, fused c_attn, GELU MLP (modeling_gpt2.py).
    GPT-BigCode (StarCoder, octocoder) is GPT-2 with multi-query attention: c_attn projects
    to h + 2·head_dim (modeling_gpt_bigcode.py)."""
    c = fields
    hidden = c.integer("n_embd", "hidden_size")
    layers = c.integer("n_layer", "num_hidden_layers")
    heads = c.integer("n_head", "num_attention_heads")
    vocab = c.integer("vocab_size")
    positions = c.integer("n_positions", "max_position_embeddings")
    width = c.optional_integer("n_inner") or 4 * hidden
    tie = c.boolean("tie_word_embeddings", default=True)
    multi_query = family == "gpt_bigcode" and c.boolean("multi_query", default=True)
    # GPT2Config defaults (configuration_gpt2.py): gelu_new, dropout 0.1 everywhere
    activation = c.choice("activation_function", ACTIVATIONS, default="gelu_new")
    resid = c.number("resid_pdrop", default=0.1, maximum=1.0)
    embd = c.number("embd_pdrop", default=0.1, maximum=1.0)
    if c.failed():
        return None
    head_dim = _head_width(c, hidden, heads)
    kv_heads = 1 if multi_query else heads
    b = _Builder.new()
    b.single("token_embd", vocab * hidden, hidden, vocab)
    b.single("pos_embd", positions * hidden)
    for i in range(layers):
        b.vector("norm", i, 2 * hidden)  # ln_1 weight + bias
        b.layer("attn_qkv", i, hidden, hidden + 2 * kv_heads * head_dim, bias=True)
        b.layer("attn_output", i, hidden, hidden, bias=True)
        b.vector("norm", i, 2 * hidden)  # ln_2
        b.layer("ffn_up", i, hidden, width, bias=True)
        b.layer("ffn_down", i, width, hidden, bias=True)
    b.head(vocab=vocab, hidden=hidden, tie=tie, norm=2 * hidden)
    return _spec(
        c, family, b, vocab=vocab, hidden=hidden, layers=layers, heads=heads,
        kv_heads=kv_heads, head_dim=head_dim, width=width, tie=tie, gated_mlp=False,
        norm="layer", positions=positions, dropout_key="attn_pdrop", dropout_default=0.1,
        attention=_attention_layers([("full", 0)] * layers, kv_heads * head_dim,
                                    kv_heads * head_dim),
        activation=activation, residual_dropout=resid, embedding_dropout=embd,
    )


def _read_gpt_neox(fields: Fields, family: str) -> ModelSpec | None:
    """GPT-NeoX / Pythia: fused query_key_value with bias, LayerNorm, GELU MLP."""
    c = fields
    hidden = c.integer("hidden_size")
    layers = c.integer("num_hidden_layers")
    heads = c.integer("num_attention_heads")
    vocab = c.integer("vocab_size")
    width = c.integer("intermediate_size")
    tie = c.boolean("tie_word_embeddings", default=False)
    bias = c.boolean("attention_bias", default=True)
    if c.failed():
        return None
    b = _Builder.new()
    b.single("token_embd", vocab * hidden, hidden, vocab)
    for i in range(layers):
        b.vector("norm", i, 2 * hidden)
        b.vector("norm", i, 2 * hidden)
        b.layer("attn_qkv", i, hidden, 3 * hidden, bias=bias)
        b.layer("attn_output", i, hidden, hidden, bias=bias)
        b.layer("ffn_up", i, hidden, width, bias=True)
        b.layer("ffn_down", i, width, hidden, bias=True)
    b.head(vocab=vocab, hidden=hidden, tie=tie, norm=2 * hidden)
    return _spec(
        c, family, b, vocab=vocab, hidden=hidden, layers=layers, heads=heads,
        kv_heads=heads, head_dim=_head_width(c, hidden, heads), width=width, tie=tie,
        gated_mlp=False, norm="layer", positions_default=2048,
        attention=_attention_layers([("full", 0)] * layers, hidden, hidden),
    )


def _read_falcon(fields: Fields, family: str) -> ModelSpec | None:
    """Falcon: MQA (7B) or grouped KV with the new decoder architecture (40B/180B),
    parallel attention + MLP, LayerNorm (modeling_falcon.py)."""
    c = fields
    hidden = c.integer("hidden_size")
    layers = c.integer("num_hidden_layers", "n_layer")
    heads = c.integer("num_attention_heads", "n_head")
    vocab = c.integer("vocab_size")
    new_arch = c.boolean("new_decoder_architecture", default=False)
    multi_query = c.boolean("multi_query", default=True)
    parallel = c.boolean("parallel_attn", default=True)
    bias = c.boolean("bias", default=False)
    tie = c.boolean("tie_word_embeddings", default=True)
    width = c.optional_integer("ffn_hidden_size") or 4 * hidden
    kv_cfg = c.optional_integer("num_kv_heads") or c.optional_integer("n_head_kv") or heads
    if c.failed():
        return None
    head_dim = _head_width(c, hidden, heads)
    if new_arch:
        kv_heads = kv_cfg
    elif multi_query:
        kv_heads = 1
    else:
        kv_heads = heads
    num_ln = c.optional_integer("num_ln_in_parallel_attn") or (2 if new_arch else 1)
    b = _Builder.new()
    b.single("token_embd", vocab * hidden, hidden, vocab)
    for i in range(layers):
        b.layer("attn_qkv", i, hidden, (heads + 2 * kv_heads) * head_dim, bias=bias)
        b.layer("attn_output", i, hidden, hidden, bias=bias)
        b.layer("ffn_up", i, hidden, width, bias=bias)
        b.layer("ffn_down", i, width, hidden, bias=bias)
        norms = 2 if (not parallel or num_ln == 2) else 1
        for _ in range(norms):
            b.vector("norm", i, 2 * hidden)
    b.head(vocab=vocab, hidden=hidden, tie=tie, norm=2 * hidden)
    return _spec(
        c, family, b, vocab=vocab, hidden=hidden, layers=layers, heads=heads,
        kv_heads=kv_heads, head_dim=head_dim, width=width, tie=tie, gated_mlp=False,
        norm="layer", positions_default=2048,
        attention=_attention_layers([("full", 0)] * layers, kv_heads * head_dim,
                                    kv_heads * head_dim),
    )


def _read_deepseek(fields: Fields, family: str) -> ModelSpec | None:
    """DeepSeek-V2/V3 (and R1, Kimi K2): multi-head latent attention, first dense layers,
    routed + shared experts (modeling_deepseek_v3.py). Multi-token-prediction layers
    (`num_nextn_predict_layers`) are not instantiated by transformers and not counted."""
    c = fields
    hidden = c.integer("hidden_size")
    layers = c.integer("num_hidden_layers")
    vocab = c.integer("vocab_size")
    heads = c.integer("num_attention_heads")
    dense_width = c.integer("intermediate_size")
    q_rank = c.optional_integer("q_lora_rank")
    kv_rank = c.integer("kv_lora_rank")
    rope = c.integer("qk_rope_head_dim")
    nope = c.integer("qk_nope_head_dim")
    v_dim = c.integer("v_head_dim")
    experts = c.integer("n_routed_experts")
    top_k = c.integer("num_experts_per_tok")
    expert_width = c.integer("moe_intermediate_size")
    shared = c.integer("n_shared_experts", default=0, minimum=0)
    first_dense = c.integer("first_k_dense_replace", default=0, minimum=0)
    bias = c.boolean("attention_bias", default=False)
    tie = c.boolean("tie_word_embeddings", default=False)
    if c.failed():
        return None
    qk_dim = nope + rope
    b = _Builder.new()
    b.single("token_embd", vocab * hidden, hidden, vocab)
    moe_layers = tuple(range(first_dense, layers))
    for i in range(layers):
        if q_rank is None:
            b.layer("attn_q", i, hidden, heads * qk_dim)
        else:
            b.layer("attn_q_a", i, hidden, q_rank, bias=bias)
            b.vector("norm", i, q_rank)
            b.layer("attn_q_b", i, q_rank, heads * qk_dim)
        b.layer("attn_kv_a", i, hidden, kv_rank + rope, bias=bias)
        b.vector("norm", i, kv_rank)
        b.layer("attn_kv_b", i, kv_rank, heads * (nope + v_dim))
        b.layer("attn_output", i, heads * v_dim, hidden, bias=bias)
        if i >= first_dense:
            # router; DeepSeek-V3's e_score_correction_bias (E floats per layer) is a
            # buffer, not a parameter, in transformers 5, and is left out (59 KiB in all)
            b.layer("ffn_gate_inp", i, hidden, experts)
            b.layer("ffn_gate_exps", i, hidden, expert_width, experts=experts)
            b.layer("ffn_up_exps", i, hidden, expert_width, experts=experts)
            b.layer("ffn_down_exps", i, expert_width, hidden, experts=experts)
            if shared:
                width = expert_width * shared
                b.layer("ffn_gate_shexp", i, hidden, width)
                b.layer("ffn_up_shexp", i, hidden, width)
                b.layer("ffn_down_shexp", i, width, hidden)
        else:
            _dense_mlp(b, i, hidden, dense_width)
        b.vector("norm", i, hidden)
        b.vector("norm", i, hidden)
    b.head(vocab=vocab, hidden=hidden, tie=tie, norm=hidden)
    notes: list[str] = []
    if c.optional_integer("num_nextn_predict_layers", minimum=0):
        notes.append(
            "the multi-token-prediction layer in the checkpoint is not counted "
            "(transformers does not load it; engines load it only for speculative decoding)"
        )
    return _spec(
        c, family, b, vocab=vocab, hidden=hidden, layers=layers, heads=heads,
        kv_heads=heads, head_dim=qk_dim, width=dense_width, tie=tie,
        attention=_attention_layers([("full", 0)] * layers, heads * qk_dim, heads * v_dim,
                                    latent=kv_rank + rope),
        mla=True,
        moe=MoESpec(num_experts=experts, experts_per_token=top_k,
                    expert_intermediate_size=expert_width,
                    shared_intermediate_size=expert_width * shared, moe_layers=len(moe_layers)),
        dense_layer_widths=tuple(dense_width if i < first_dense else 0 for i in range(layers)),
        notes=tuple(notes),
    )


def _read_gpt_oss(fields: Fields, family: str) -> ModelSpec | None:
    """gpt-oss: alternating sliding-window (128) and full attention with sinks, biased
    projections, MoE with fused biased experts (modeling_gpt_oss.py)."""
    c = fields
    hidden = c.integer("hidden_size")
    layers = c.integer("num_hidden_layers")
    vocab = c.integer("vocab_size")
    heads, kv_heads, head_dim = _heads(c, hidden)
    experts = c.integer("num_local_experts")
    top_k = c.integer("num_experts_per_tok", "experts_per_token")
    width = c.integer("intermediate_size")
    tie = c.boolean("tie_word_embeddings", default=False)
    if c.failed():
        return None
    b = _Builder.new()
    b.single("token_embd", vocab * hidden, hidden, vocab)
    for i in range(layers):
        b.layer("attn_q", i, hidden, heads * head_dim, bias=True)
        b.layer("attn_k", i, hidden, kv_heads * head_dim, bias=True)
        b.layer("attn_v", i, hidden, kv_heads * head_dim, bias=True)
        b.layer("attn_output", i, heads * head_dim, hidden, bias=True)
        b.vector("attn_sinks", i, heads)
        b.layer("ffn_gate_inp", i, hidden, experts, bias=True)
        b.layer("ffn_gate_up_exps", i, hidden, 2 * width, experts=experts, bias=True)
        b.layer("ffn_down_exps", i, width, hidden, experts=experts, bias=True)
        b.vector("norm", i, hidden)
        b.vector("norm", i, hidden)
    b.head(vocab=vocab, hidden=hidden, tie=tie, norm=hidden)
    kinds = _layer_kinds(c, family, layers)
    return _spec(
        c, family, b, vocab=vocab, hidden=hidden, layers=layers, heads=heads,
        kv_heads=kv_heads, head_dim=head_dim, width=0, tie=tie, positions_default=131072,
        attention=_attention_layers(kinds, kv_heads * head_dim, kv_heads * head_dim),
        moe=MoESpec(num_experts=experts, experts_per_token=top_k,
                    expert_intermediate_size=width, shared_intermediate_size=0,
                    moe_layers=layers),
    )


_READERS = {
    "phi3": _read_phi3,
    "gpt2": _read_gpt2,
    "gpt_bigcode": _read_gpt2,
    "gpt_neox": _read_gpt_neox,
    "falcon": _read_falcon,
    "deepseek_v2": _read_deepseek,
    "deepseek_v3": _read_deepseek,
    "gpt_oss": _read_gpt_oss,
}
