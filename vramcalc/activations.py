"""Training activations: what autograd keeps for the backward pass, per layer and token.

The reference is Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large
Transformer Models", section 4.1 and Table 2): `s·b·h·(34 + 5·a·s/h)` bytes per layer for a
GPT layer in fp16 with 1-byte dropout masks and a 4h GeLU MLP. Real Hugging Face stacks
differ from it in ways that are large enough to matter, so this module counts the tensors
that `transformers` v5 models actually save (modeling_llama.py and siblings, measured
tensor by tensor with FakeTensorMode on torch 2.13):

- RMSNorm upcasts: `hidden.to(float32)` is saved (4 B/element) for `pow` and the
  `x · rsqrt` product; with a trainable weight the bf16 `to(input_dtype)` copy is saved
  too. Korthikanti's LayerNorm counts 2 B.
- SwiGLU MLPs save gate, up, act(gate) and their product: 4 tensors of width f
  (Korthikanti's GeLU MLP saves the 4h input of GeLU and its output: `16·s·b·h`).
- Flash/SDPA attention saves q, k, v (GQA-narrow k/v), the output and an fp32
  log-sum-exp per head; the s² scores are recomputed (Dao et al. 2022), so Korthikanti's
  `5·a·s/h` term is gone. Eager attention keeps the fp32 softmax and its bf16 copy
  (6 B per head and token pair) and the K/V repeated to every query head.
- Under autocast (HF Trainer `bf16=True` on fp32 weights), every linear casts its input
  to bf16 and saves the cast, once per consumer (q, k and v each save one), and the bf16
  copy of each weight is saved until its backward ran.
- No dropout: current LLM configs set attention/hidden dropout to 0. LoRA dropout keeps a
  1-byte mask (CUDA `native_dropout`) and the dropped input per adapter.
- Frozen weights (LoRA) save less: a frozen linear keeps no input, a frozen norm weight
  needs no normalized copy, and the MLP product is kept only when `down_proj`'s own weight
  trains. An adapter on a frozen `down_proj` keeps its own copy of the product (the
  adapter-dtype cast or the dropped copy that `lora_A` saves), counted with the adapters.

Everything here is a pure function of the model shape and the regime; bytes per token
(and per token and per key, for the s² terms).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import memo

if TYPE_CHECKING:
    from .architecture import ModelSpec

REGIMES = ("fp32", "bf16", "autocast")


@dataclass(frozen=True, kw_only=True, slots=True)
class Regime:
    """How a step runs: parameter/activation dtypes and what is trainable."""

    kind: str  # "fp32" | "bf16" (16-bit weights, no autocast) | "autocast"
    trainable_base: bool  # full fine-tune (True) or frozen base with adapters (False)
    adapter_bytes: int  # bytes of an adapter element (PEFT: 4, fp32), 0 without adapters
    lora_dropout: bool
    lora_rank: int
    attention: str  # "sdpa" | "flash" | "eager"
    quantized_inputs_saved: bool = False  # 4-bit linears keep their input (bnb < 0.43.2)
    # 4-bit linears fed fp32 return fp32 (QLoRA after peft's prepare_model_for_kbit_training)
    quantized_outputs_fp32: bool = False
    # LitGPT's own model: one qkv linear whose output v is a view of (`fused_qkv_saved`)
    fused_qkv: bool = False

    @property
    def mlp_bytes(self) -> int:
        """Bytes of an MLP projection's output. bitsandbytes' Linear4bit computes in its
        compute dtype and casts the result back to its input's dtype
        (bitsandbytes/nn/modules.py Linear4bit.forward `.to(inp_dtype)`); after
        prepare_model_for_kbit_training (peft/utils/other.py: every non-quantized parameter
        in fp32) the MLP's input is fp32, so gate, up and the activation are fp32."""
        return 4 if self.quantized_outputs_fp32 else self.act_bytes

    @property
    def act_bytes(self) -> int:
        """Bytes of a linear layer's output: bf16/fp16 unless everything is fp32."""
        return 4 if self.kind == "fp32" else 2

    @property
    def residual_bytes(self) -> int:
        """Bytes of the residual stream (fp32 under autocast: the embedding runs in fp32)."""
        return 2 if self.kind == "bf16" else 4


@dataclass(frozen=True, kw_only=True, slots=True)
class LayerShape:
    """What the activation count needs to know about one decoder layer."""

    hidden: int
    q_width: int  # a·d
    k_width: int  # g·d_k
    v_width: int  # g·d_v
    heads: int
    mlp_width: int  # dense f, or top-k · expert f + shared f for an MoE layer
    gated: bool
    attn_consumers: int  # linears reading the attention norm's output (3: q, k, v; 1: qkv)
    mlp_consumers: int  # 2: gate, up; 1: fused gate_up or a plain MLP
    extra_norms: int  # norms whose output feeds no linear (Gemma 2/3 sandwich norms)
    qk_norm: bool  # per-head RMSNorm on q and k (Qwen3, Gemma 3, OLMo 2)
    norm: str  # "rms" | "gemma" | "layer" | "none"
    moe_router: int  # experts (router logits, fp32) or 0
    weight_numel: int  # linear weight elements (autocast copies)
    activation_copies: int = 0  # extra f-wide tensors a Python-level activation saves
    residual_dropouts: int = 0  # dropouts on the block's outputs (1-byte masks, h wide)
    attention_dropout: bool = False  # eager attention keeps a mask and the dropped probs


@memo.by_spec
def layer_shapes(spec: ModelSpec) -> tuple[LayerShape, ...]:
    """One LayerShape per decoder layer of `spec`."""
    by_layer: dict[int, list[tuple[str, int, int, int]]] = {}
    for group in spec.tensors:
        for layer in group.layers:
            by_layer.setdefault(layer, []).append(
                (group.role, group.numel, group.in_features, group.out_features))
    shapes = []
    seen: dict[tuple[object, ...], LayerShape] = {}
    for i in range(spec.num_layers):
        groups = by_layer.get(i, [])
        attn = spec.attention[i] if i < len(spec.attention) else None
        width = spec.dense_layer_widths[i] if i < len(spec.dense_layer_widths) else 0
        key = (tuple(groups), attn, width)  # layers alike in every way share one shape
        if key not in seen:
            seen[key] = _layer_shape(spec, i, groups)
        shapes.append(seen[key])
    return tuple(shapes)


def _layer_shape(spec: ModelSpec, i: int, groups: list[tuple[str, int, int, int]]) -> LayerShape:
    h = spec.hidden_size
    roles = {role for role, *_ in groups}
    attn = spec.attention[i] if i < len(spec.attention) else None
    q_width = spec.num_heads * spec.head_dim
    k_width = spec.num_kv_heads * spec.head_dim
    if attn is not None and attn.k_width:
        k_width = attn.k_width
    v_width = attn.v_width if attn is not None and attn.v_width else k_width
    if spec.mla:  # per-head K/V are expanded from the latent before attention
        k_width = q_width
    width = spec.dense_layer_widths[i] if i < len(spec.dense_layer_widths) else 0
    router = 0
    if width == 0 and spec.moe is not None:
        moe = spec.moe
        width = moe.experts_per_token * moe.expert_intermediate_size + moe.shared_intermediate_size
        router = moe.num_experts
    norms = sum(1 for role, numel, *_ in groups if role == "norm" and numel in (h, 2 * h))
    linear = [(numel, role) for role, numel, in_f, _ in groups if in_f]
    return LayerShape(
        hidden=h, q_width=q_width, k_width=k_width, v_width=v_width, heads=spec.num_heads,
        mlp_width=width, gated=spec.gated_mlp,
        attn_consumers=1 if "attn_qkv" in roles else 3 - ("attn_q" not in roles),
        mlp_consumers=2 if ("ffn_gate" in roles or "ffn_gate_exps" in roles) else 1,
        extra_norms=max(0, norms - 2), qk_norm=any(
            role == "norm" and numel not in (h, 2 * h) for role, numel, *_ in groups),
        norm=_norm_style(spec), moe_router=router,
        weight_numel=sum(n for n, _ in linear),
        activation_copies=PYTHON_ACTIVATION_COPIES.get(spec.mlp_activation, 0),
        residual_dropouts=2 if spec.residual_dropout > 0 else 0,
        attention_dropout=spec.dropout > 0,
    )


# Activations transformers writes as Python arithmetic (activations.py NewGELUActivation,
# FastGELUActivation), so that autograd saves their intermediates, each as wide as the MLP:
# gelu_new 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) keeps tanh's output, 0.5·x and
# 1 + tanh (x itself is the up projection, counted already); gelu_fast
# 0.5·x·(1 + tanh(0.7978845608·x·(1 + 0.044715·x·x))) keeps 0.044715·x, 0.797·x,
# 1 + 0.044715·x², tanh's output, 0.5·x and 1 + tanh. F.gelu and F.silu keep only x.
PYTHON_ACTIVATION_COPIES = {"gelu_new": 3, "gelu_fast": 6}


def _norm_style(spec: ModelSpec) -> str:
    if spec.norm == "layer":
        return "layer"
    if spec.norm == "none":
        return "none"
    # Gemma's RMSNorm computes in fp32 and multiplies by (1 + weight) (modeling_gemma.py)
    return "gemma" if spec.family.startswith("gemma") else "rms"


def norm_saved(r: Regime, shape: LayerShape, consumers: int) -> int:
    """Bytes per token one norm saves, plus the copies its `consumers` linears save.

    Llama RMSNorm (modeling_llama.py LlamaRMSNorm): bf16: fp32 upcast (4h) for pow and
    x·rsqrt, the bf16 cast (2h) for the weight product, the output (2h) for the linears;
    fp32: input, x·rsqrt and output (3 · 4h); autocast: fp32 input and x·rsqrt (8h), then
    each consumer linear saves its own bf16 cast of the output (2h each). A frozen weight
    keeps only the fp32 input (4h). The fp32 rsqrt (4 B per token) is counted too.
    """
    h = shape.hidden
    if shape.norm == "none":  # OLMo: parameter-free LayerNorm, saves its input
        return r.residual_bytes * h + (2 * h * consumers if r.kind == "autocast" else 0)
    rsqrt = 4
    if shape.norm == "layer":  # native layer_norm saves input, mean and rstd (fp32)
        base = r.residual_bytes * h + 8
    elif not r.trainable_base:
        base = 4 * h + rsqrt
    elif r.kind in ("fp32", "autocast"):  # fp32 input and x·rsqrt
        base = 8 * h + rsqrt
    else:
        base = 6 * h + rsqrt + (2 * h if shape.norm == "gemma" else 0)
    if not r.trainable_base or consumers == 0:
        return base
    # what the linears reading the output save (frozen linears save no input)
    if r.kind == "autocast":
        return base + 2 * h * consumers
    return base + r.act_bytes * h


def attention_saved(r: Regime, shape: LayerShape) -> tuple[int, int]:
    """(bytes per token, bytes per token and key) attention saves for backward.

    SDPA/flash (torch `_scaled_dot_product_flash_attention`, flash-attn `FlashAttnFunc`):
    q, k, v, output, and the fp32 log-sum-exp per head. Eager (transformers
    `eager_attention_forward`): q, K and V repeated to all query heads (`repeat_kv`), the
    fp32 softmax and its cast back (4 + 2 B per head and key; fp32: 4 B), the transposed
    output copy.
    """
    b = r.act_bytes
    qd, kd, vd = shape.q_width, shape.k_width, shape.v_width
    per_token = 0
    if shape.qk_norm:  # q_norm / k_norm: fp32 upcast + bf16 cast for the weight product
        per_element = (6 if r.kind == "bf16" else 8) if r.trainable_base else 4
        per_token += per_element * (qd + kd)
    if r.attention == "eager":
        repeated = qd if kd < qd else kd  # repeat_kv copies only when there are fewer KV heads
        per_token += b * (qd + 2 * repeated + qd)
        per_key = shape.heads * (4 if r.kind == "fp32" else 6)
        if shape.attention_dropout:  # dropout on the probabilities: its mask and output
            per_key += shape.heads * (1 + b)
        return per_token, per_key
    per_token += b * (qd + kd + vd + qd) + 4 * shape.heads  # q, k, v, out + fp32 lse
    if r.fused_qkv:  # v is a view of the fused qkv output: saving it keeps q's and k's part
        per_token += b * (qd + kd)
    return per_token, 0


def mlp_saved(r: Regime, shape: LayerShape) -> int:
    """Bytes per token the MLP saves: SwiGLU keeps gate, up, act(gate) and the product
    (the product only when `down_proj`'s weight trains: its matmul saves its input for the
    weight gradient); a plain GeLU MLP keeps the up projection and its activation. A frozen
    `down_proj` keeps no input, with or without an adapter: PEFT's `lora_A` saves its own
    copy of the product (cast to the adapter dtype, or dropped), which `adapters_saved`
    counts. MoE layers: the routed experts process top-k copies of each token (`mlp_width`
    includes top-k), plus fp32 router logits and their softmax. A Python-level activation
    (GPT-2's gelu_new) keeps its intermediates too (`activation_copies`)."""
    b = r.mlp_bytes
    f = shape.mlp_width
    keep_product = r.trainable_base
    if shape.gated:
        per_token = b * f * (3 + (1 if keep_product else 0))
    else:
        per_token = b * f * (1 + (1 if keep_product else 0))
    per_token += b * f * shape.activation_copies
    if shape.moe_router:
        per_token += 2 * 4 * shape.moe_router + 2 * shape.hidden  # logits, softmax, gathered input
    return per_token


def quantized_inputs_saved(r: Regime, shape: LayerShape) -> int:
    """Bytes per token the frozen 4-bit linears of one layer keep for the backward.

    bitsandbytes' `MatMul4Bit.forward` kept its input `A` whenever an input needed a
    gradient (`ctx.tensors = (A, B)`, bitsandbytes <= 0.43.1,
    bitsandbytes/autograd/_functions.py); 0.43.2 keeps `(None, B)` only (PR #1270, "fix
    QLoRA mem bug: delete useless buffered activation", July 2024), and torchao's
    `linear_nf4` (torchtune) keeps only the NF4 weight. When it is kept: the attention
    norm's output (once, or once per consumer under autocast, where each `Linear4bit`
    casts its fp32 input to bf16), the attention output, the MLP norm's output and the MLP
    product (the activation's output for a plain MLP)."""
    if not r.quantized_inputs_saved or r.trainable_base:
        return 0
    b, h = r.act_bytes, shape.hidden
    if r.kind == "autocast":
        norms = 2 * h * ((1 if r.fused_qkv else shape.attn_consumers) + shape.mlp_consumers)
    else:
        norms = 2 * b * h
    return norms + b * shape.q_width + b * shape.mlp_width


def _adapter_input_bytes(r: Regime) -> int:
    """Bytes of an element an adapter keeps: its input cast to the adapter dtype, or under
    autocast the bf16 cast lora_A saves."""
    return 2 if r.kind == "autocast" else r.adapter_bytes


def adapters_saved(r: Regime, layer_adapters: list[tuple[int, int]]) -> int:
    """Bytes per token PEFT LoRA saves per adapted linear of one layer.

    `layer_adapters`: (in_features, matrices) per adapted weight. PEFT casts the input to
    the adapter dtype (`_cast_input_dtype`), applies dropout (1-byte mask + the dropped
    copy), and `lora_A` saves its input; `lora_B` saves A's output (r elements). Under
    autocast, `lora_A` saves its bf16 cast instead of the fp32 input.
    """
    if not layer_adapters:
        return 0
    a = _adapter_input_bytes(r)
    mask = 1 if r.lora_dropout else 0
    total = 0
    for in_features, matrices in layer_adapters:
        total += matrices * ((a + mask) * in_features + a * r.lora_rank)
    return total


_QKV = ("attn_q", "attn_k", "attn_v")


def fused_qkv_saved(r: Regime, shape: LayerShape, adapters: list[tuple[str, int, int]]) -> int:
    """What LitGPT's LoRAQKVLinear saves beyond `adapters_saved`'s count of one PEFT adapter
    per adapted q, k or v (bytes per token; negative when it saves less).

    One dropout and one fused lora_A read the input for all of q, k and v
    (Lightning-AI/litgpt litgpt/lora.py:405 at 26857050): the dropped input and its mask
    are kept once, not once per adapted projection. When LoRA adapts some but not all of
    them, `zero_pad` scatters the adapted parts' update into a zero qkv-wide tensor with
    `index_copy_` (lora.py:310-326), whose backward keeps its source: the adapted widths,
    in the adapter's dtype (torch derivatives.yaml, index_copy: `expand_as(source)`)."""
    if not r.fused_qkv or not adapters:
        return 0
    widths = {"attn_q": shape.q_width, "attn_k": shape.k_width, "attn_v": shape.v_width}
    qkv = [(role, in_f) for role, in_f, _matrices in adapters if role in _QKV]
    if not qkv:
        return 0
    a = _adapter_input_bytes(r)
    mask = 1 if r.lora_dropout else 0
    shared = -(len(qkv) - 1) * (a + mask) * qkv[0][1]
    padded = a * sum(widths[role] for role, _ in qkv) if len(qkv) < len(_QKV) else 0
    return shared + padded


@dataclass(frozen=True, kw_only=True, slots=True)
class LayerActivations:
    per_token: int
    replicated_per_token: int  # the norms' part: not split by tensor parallelism without SP
    per_token_key: int  # eager attention's s² terms: bytes per token and per key
    checkpoint_input: int  # what full checkpointing keeps: the layer input, bytes per token
    mlp_per_token: int  # the MLP's share of per_token (freed before attention's backward)
    mlp_backward: int  # bytes per token the MLP's backward holds on top of what is saved
    attention_backward: int  # the same for attention (after the MLP's share was freed)
    backward_transient_key: int  # eager attention's backward, per token and key

    @property
    def backward_transient(self) -> int:
        return max(self.mlp_backward, self.attention_backward)
    weight_copies: int  # autocast bf16 weight copies saved for backward (bytes)


def layer_activations(
    r: Regime, shape: LayerShape, adapters: list[tuple[str, int, int]]
) -> LayerActivations:
    """Saved bytes of one layer; `adapters`: (role, in_features, matrices) adapted here
    (each adapter's saved inputs depend on its input width, not on which linear it is on)."""
    flat = [(in_f, matrices) for _role, in_f, matrices in adapters]
    attn_tok, attn_key = attention_saved(r, shape)
    norms = (
        norm_saved(r, shape, 1 if r.fused_qkv else shape.attn_consumers)
        + norm_saved(r, shape, shape.mlp_consumers)
        + shape.extra_norms * norm_saved(r, shape, 0)
        # dropout on the attention and MLP outputs (GPT-2 resid_pdrop): CUDA's native_dropout
        # saves a 1-byte mask; the dropped output feeds an add, which saves nothing
        + shape.residual_dropouts * shape.hidden
    )
    mlp = mlp_saved(r, shape)
    per_token = (norms + attn_tok + mlp + adapters_saved(r, flat)
                 + fused_qkv_saved(r, shape, adapters) + quantized_inputs_saved(r, shape))
    b = r.act_bytes
    # backward: gradients of the MLP intermediates (three f-wide at once for SwiGLU), or
    # of q/k/v plus flash's fp32 dq accumulator; eager: the probabilities' gradient in fp32
    # and the softmax backward's fp32 output (4 + 4 B per head and key), less the bf16
    # probabilities freed just before (2 B)
    mlp_t = r.mlp_bytes * shape.mlp_width * (3 if shape.gated else 2)
    attn_t = b * (shape.q_width + shape.k_width + shape.v_width) + 4 * shape.q_width
    key_t = shape.heads * (8 if r.kind == "fp32" else 6) if r.attention == "eager" else 0
    copies = 2 * shape.weight_numel if r.kind == "autocast" and r.trainable_base else 0
    if r.kind == "autocast" and not r.trainable_base:
        copies = 2 * shape.weight_numel  # frozen mm saves the bf16 weight for grad wrt input
    return LayerActivations(
        per_token=per_token,
        replicated_per_token=norms,
        per_token_key=attn_key,
        checkpoint_input=r.residual_bytes * shape.hidden,
        mlp_per_token=mlp,
        mlp_backward=mlp_t,
        attention_backward=attn_t,
        backward_transient_key=key_t,
        weight_copies=copies,
    )


def final_norm_saved(r: Regime, hidden: int, norm: str) -> int:
    """The final norm before the lm_head (one consumer)."""
    shape = LayerShape(hidden=hidden, q_width=0, k_width=0, v_width=0, heads=0, mlp_width=0,
                       gated=False, attn_consumers=0, mlp_consumers=0, extra_norms=0,
                       qk_norm=False, norm=norm, moe_router=0, weight_numel=0)
    return norm_saved(r, shape, 1)


# ----------------------------------------------------------------------------------------
# The loss

LOSSES = ("standard", "chunked", "fused")
_TORCHTUNE_CHUNKS = 8  # torchtune CEWithChunkedOutputLoss(num_output_chunks=8)


@dataclass(frozen=True, kw_only=True, slots=True)
class LossCost:
    """Bytes per token of the logits and cross-entropy, at the moments that matter."""

    forward_saved: int  # kept from the end of the forward to the backward
    forward_peak: int  # at the loss in the forward (includes forward_saved)
    backward_peak: int  # while the loss backward runs (includes what is still saved)
    formula: str
    source: str
    hidden_grad_in_forward: bool  # fused: the lm_head gradient is computed in the forward


def loss_cost(loss: str, vocab: int, hidden: int, logits_bytes: int) -> LossCost:
    """Per token. `logits_bytes`: dtype of the lm_head output (2, or 4 in fp32).

    standard (transformers `ForCausalLMLoss`): `logits.float()` (4V) then `cross_entropy`,
    whose log_softmax (4V) is saved; at the forward's peak the bf16 logits, the fp32 copy
    and the log-softmax coexist (2V + 4V + 4V; fp32: the logits are the copy, 8V). In the
    backward, nll_loss's gradient (4V), log_softmax's gradient (4V) and the saved
    log-softmax (4V) coexist: 12V.
    chunked (torchtune `CEWithChunkedOutputLoss`, 8 chunks): bf16 logits kept whole (2V),
    each chunk upcast on its own; the log-softmax of every chunk is still saved (4V);
    backward works chunk by chunk.
    fused (Liger `LigerFusedLinearCrossEntropyLoss`, Unsloth, Cut Cross-Entropy): logits
    are made chunk by chunk in the forward, which also computes the gradient of the
    hidden states (saved, 2h) and of the lm_head weight; chunks of ≈ b·s·h/V tokens keep
    about 10 B per logit: ≈ 10h per token.
    """
    v = vocab
    if loss == "chunked":
        n = _TORCHTUNE_CHUNKS
        return LossCost(
            forward_saved=4 * v,
            forward_peak=logits_bytes * v + 4 * v + 4 * v // n,
            backward_peak=4 * v + 2 * 4 * v // n + logits_bytes * v // n,
            formula="fwd: b·s·V·(2 + 4 + 4/8) (bf16 logits, saved log-softmax, one fp32 chunk); "
            "bwd: b·s·V·(4 + 8/8 + 2/8)",
            source="torchtune modules/loss/ce_chunked_output_loss.py (num_output_chunks=8)",
            hidden_grad_in_forward=False,
        )
    if loss == "fused":
        return LossCost(
            forward_saved=2 * hidden,
            forward_peak=2 * hidden + 10 * hidden,
            backward_peak=2 * hidden,
            formula="b·s·h·2 (grad of the hidden states, saved) + b·s·h·10 (one chunk of "
            "≈ b·s·h/V tokens' logits: bf16, fp32 and gradient)",
            source="linkedin/Liger-Kernel ops/fused_linear_cross_entropy.py (chunk size "
            "next_pow2(b·s / ceil(V/h))); Wijmans et al. 2024 (Cut Cross-Entropy)",
            hidden_grad_in_forward=True,
        )
    upcast = 0 if logits_bytes == 4 else 4  # fp32 logits are their own upcast
    return LossCost(
        forward_saved=4 * v,
        forward_peak=logits_bytes * v + upcast * v + 4 * v,
        backward_peak=12 * v,
        formula=(f"fwd: b·s·V·{logits_bytes + upcast + 4} (logits, fp32 upcast, log-softmax); "
                 "saved b·s·V·4; bwd: b·s·V·12 (nll grad, log-softmax grad, saved log-softmax)"),
        source="transformers loss/loss_utils.py ForCausalLMLoss (logits.float(), "
        "cross_entropy); torch log_softmax/nll_loss backward",
        hidden_grad_in_forward=False,
    )
