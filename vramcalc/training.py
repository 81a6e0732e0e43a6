"""Training and fine-tuning memory (mode "training"): one step, phase by phase.

A training step has three phases, and its peak is in one of them:

- forward: weights, optimizer states and (with gradient accumulation) the gradients kept
  from the previous micro-steps, the activations every layer saves, and at the loss the
  logits in bf16, their fp32 upcast and the log-softmax;
- backward: at its start the loss gradients (12 B per logit) on top of every saved
  activation; as it runs, activations are freed while gradients are allocated, so it ends
  with every gradient alive (with checkpointing, a recomputed layer adds its activations);
- optimizer step: weights, gradients, states and the step's temporaries.

Each phase total is a polynomial in the tokens `t = b·s` and in `t·s` (eager attention's
scores), built once per request (`plan`), so that the fit solvers are cheap. Gradient
accumulation does not shrink gradients: it keeps them alive across the forward and
backward of every micro-step after the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import activations, catalogs, fit, formats, host, lora, memo, optimizers, parallel
from .components import (
    CUBLAS_WORKSPACE_BYTES,
    Component,
    EngineResult,
    Phase,
    Warning,
    allocator_reserve,
    cuda_context,
    reserve_bytes,
)
from .sizes import MiB

if TYPE_CHECKING:
    from .architecture import ModelSpec
    from .catalogs import WeightFormat
    from .request import TrainingRequest
    from .request.training import LoraSpec

PHASES = ("forward", "backward", "optimizer_step")


def _framework_details(req: TrainingRequest) -> dict[str, Any]:
    """What the framework profile sets for this method, and which of those the request
    overrides. Derived from the final values, so sending `request` back changes nothing."""
    profile = {**req.framework.defaults, **req.framework.method_defaults.get(req.method, {}),
               **{f"parallel.{k}": v for k, v in req.framework.parallel_defaults.items()}}
    final = req.to_dict()
    flat = {**final, **{f"parallel.{k}": v for k, v in final.get("parallel", {}).items()}}
    defaults = {k: v for k, v in profile.items() if k in flat}
    return {
        "id": req.framework.id,
        "name": req.framework.name,
        "defaults": defaults,
        "overridden": {k: flat[k] for k, v in defaults.items() if flat[k] != v},
        "memory_report": req.framework.memory_report,
    }


# ----------------------------------------------------------------------------------------
# The plan: every phase candidate as a polynomial in t = b·s (tokens) and s

Poly = tuple[int, int, int, int]  # bytes = k0 + kt·t + kts·t·s + ks·s
_ZERO: Poly = (0, 0, 0, 0)
COMPONENTS = ("weights", "master_weights", "adapters", "gradients", "optimizer_states",
              "activations", "logits", "workspace")
_LABELS = {
    "weights": "Weights", "master_weights": "Master weights (fp32)", "adapters": "LoRA adapters",
    "gradients": "Gradients", "optimizer_states": "Optimizer states",
    "activations": "Activations", "logits": "Logits and loss", "workspace": "cuBLAS workspace",
}


def _const(n: float) -> Poly:
    return (round(n), 0, 0, 0)


def _tok(per_token: float, per_token_key: float = 0.0, per_key: float = 0.0) -> Poly:
    return (0, round(per_token), round(per_token_key), round(per_key))


def _add(*polys: Poly) -> Poly:
    k0 = kt = kts = ks = 0
    for a, b, c, d in polys:
        k0, kt, kts, ks = k0 + a, kt + b, kts + c, ks + d
    return (k0, kt, kts, ks)


def _at(p: Poly, t: int, s: int) -> int:
    return p[0] + p[1] * t + p[2] * t * s + p[3] * s


@dataclass(frozen=True, kw_only=True, slots=True)
class Candidate:
    """One moment of a phase that may set its peak, with what is alive then."""

    phase: str
    moment: str
    parts: dict[str, Poly]
    total: Poly


@dataclass(frozen=True, kw_only=True, slots=True)
class TrainingPlan:
    candidates: tuple[Candidate, ...]
    formulas: dict[str, str]
    sources: dict[str, str]
    context: int
    reserve_fraction: float
    weights_bytes: int  # resident weights per GPU (for "GPUs for the weights")
    cpu: dict[str, int]
    parameters: dict[str, Any]
    details: dict[str, Any]

    def allocated(self, b: int, s: int) -> int:
        t = b * s
        return max(_at(c.total, t, s) for c in self.candidates)

    def total(self, b: int, s: int) -> int:
        alloc = self.allocated(b, s)
        return alloc + reserve_bytes(alloc, self.reserve_fraction) + self.context

    def by_batch(self, s: int) -> Any:
        """total(b, s) as a function of b alone: the max of a few lines in b."""
        lines = _prune([(c.total[0] + c.total[3] * s, c.total[1] * s + c.total[2] * s * s)
                        for c in self.candidates])
        return self._solver(lines)

    def by_length(self, b: int) -> Any:
        """total(b, s) as a function of s alone: the max of a few parabolas in s."""
        quads: list[tuple[int, int, int]] = _prune(
            [(c.total[0], c.total[1] * b + c.total[3], c.total[2] * b) for c in self.candidates])
        f, ctx = self.reserve_fraction, self.context

        def total(s: int) -> int:
            alloc: int = max(k0 + s * (k1 + k2 * s) for k0, k1, k2 in quads)
            return alloc + reserve_bytes(alloc, f) + ctx
        return total

    def _solver(self, lines: list[tuple[int, int]]) -> Any:
        f, ctx = self.reserve_fraction, self.context

        def total(x: int) -> int:
            alloc = max(c + d * x for c, d in lines)
            return alloc + reserve_bytes(alloc, f) + ctx
        return total


def _prune(polys: list[Any]) -> list[Any]:
    """Drop polynomials (non-negative x) that another one bounds from above, term by term."""
    unique = list(dict.fromkeys(polys))
    return [p for p in unique
            if not any(q != p and all(a >= b for a, b in zip(q, p, strict=True))
                       for q in unique)]


@dataclass(frozen=True, kw_only=True, slots=True)
class _Dtypes:
    """Bytes per element of what a step keeps, from precision, method and framework."""

    regime: str  # activations regime (activations.REGIMES)
    weight: int  # trainable or frozen model weights
    grad: int
    state: int  # optimizer state element (torch optimizers: the parameter's dtype)
    master: int  # fp32 master copy per trainable parameter (0 when the weights are it)
    adapter: int


def _dtypes(req: TrainingRequest) -> _Dtypes:
    fw, p = req.framework, req.precision
    master_layout = p.startswith("mixed") and (
        fw.mixed_precision == "master" or req.parallel.zero_stage >= 1)
    if p == "fp32":
        regime, weight, grad, master = "fp32", 4, 4, 0
    elif p == "bf16":
        regime, weight, grad, master = "bf16", 2, 2, 0
    elif master_layout:  # DeepSpeed / Megatron / FSDP: 16-bit weights, fp32 master copy
        regime, weight, grad, master = "bf16", 2, fw.master_gradient_bytes, 4
    else:  # torch.autocast over fp32 weights (HF Trainer bf16=True / fp16=True)
        regime, weight, grad, master = "autocast", 4, 4, 0
    adapter = 4 if (fw.adapter_dtype == "fp32" or p == "fp32") else 2
    if req.method != "full":
        grad, master = adapter, 0
        if req.method == "qlora" and regime == "bf16" and fw.qlora_non_quantized_dtype == "fp32" \
                and p.startswith("mixed"):
            regime = "autocast"
    state = 4 if master else (adapter if req.method != "full" else weight)
    return _Dtypes(regime=regime, weight=weight, grad=grad, state=state, master=master,
                   adapter=adapter)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Params:
    """Parameter counts the plan needs."""

    total: int
    embed: int  # token (and position) embeddings
    head: int  # untied lm_head (0 when tied)
    head_numel: int  # the lm_head weight, tied or not
    layers: int  # everything in the decoder layers
    trainable: int
    trainable_sizes: tuple[int, ...]  # one entry per trainable tensor
    decay_numel: int  # 2-D trainable tensors: HF Trainer's weight-decay param group
    largest_layer: int  # parameters of the largest decoder layer
    largest_linear: int  # the largest per-layer linear weight (QLoRA dequantizes one)
    adapters: tuple[lora.AdapterGroup, ...]


def _params(req: TrainingRequest) -> _Params:
    return _params_of(req.common.spec, req.lora)


@memo.by_spec
def _params_of(spec: ModelSpec, lora_spec: LoraSpec | None) -> _Params:
    per_layer: dict[int, int] = {}
    embed = head = 0
    largest_linear = 0
    for g in spec.tensors:
        if not g.layers:
            if g.role in ("token_embd", "pos_embd"):
                embed += g.total
            elif g.role == "output":
                head += g.total
            continue
        for layer in g.layers:
            per_layer[layer] = per_layer.get(layer, 0) + g.numel
        if g.in_features:
            largest_linear = max(largest_linear, g.numel)
    head_numel = head or spec.vocab_size * spec.hidden_size
    adapters: tuple[lora.AdapterGroup, ...] = ()
    if lora_spec is not None:
        adapters = lora.adapters(spec, lora_spec.target_modules, lora_spec.rank)
        sizes: list[int] = []
        for a in adapters:
            sizes += [lora_spec.rank * a.in_features, a.out_features * lora_spec.rank] * a.modules
        trainable_sizes = tuple(sizes)
        decay = sum(sizes)
    else:
        trainable_sizes = tuple(g.numel for g in spec.tensors for _ in range(g.count))
        decay = sum(g.total for g in spec.tensors if g.in_features)
    return _Params(
        total=spec.total_parameters, embed=embed, head=head, head_numel=head_numel,
        layers=sum(per_layer.values()), trainable=sum(trainable_sizes),
        trainable_sizes=trainable_sizes, decay_numel=decay,
        largest_layer=max(per_layer.values(), default=0), largest_linear=largest_linear,
        adapters=adapters,
    )


@memo.by_spec
def _layer_adapters(spec: ModelSpec, targets: str | tuple[str, ...] | None,
                    ) -> dict[int, tuple[tuple[str, int, int], ...]]:
    """layer -> (role, in_features, matrices) of every weight `targets` adapts in it (read,
    never changed: the answer is remembered)."""
    out: dict[int, list[tuple[str, int, int]]] = {}
    if targets is None:
        return {}
    roles = lora.target_roles(spec, targets)
    for g in spec.tensors:
        if g.role in roles and g.in_features:
            for layer in g.layers:
                out.setdefault(layer, []).append((g.role, g.in_features, g.experts))
    return {layer: tuple(found) for layer, found in out.items()}


@memo.by_first(64)  # a search tries a few regimes on a model's one to three layer shapes
def _layer_activations(shape: activations.LayerShape, r: activations.Regime,
                       adapters: tuple[tuple[str, int, int], ...],
                       ) -> activations.LayerActivations:
    return activations.layer_activations(r, shape, list(adapters))


def attention_kernel(req: TrainingRequest, d: _Dtypes) -> str:
    """What attention saves like: "sdpa" (flash / memory-efficient: q, k, v, out, lse) or
    "eager" (s² scores). SDPA in fp32 with fewer KV heads than query heads runs PyTorch's
    math kernel, which saves like eager attention: flash and cuDNN take only 16-bit inputs
    and the memory-efficient kernel does not take `enable_gqa` (torch 2.11,
    aten/src/ATen/native/transformers/sdp_utils_cpp.h; measured on an H200)."""
    spec = req.common.spec
    if req.attention == "sdpa" and d.regime == "fp32" and spec.num_kv_heads < spec.num_heads:
        return "eager"
    return req.attention


@dataclass(frozen=True, kw_only=True, slots=True)
class _Acts:
    """Activation coefficients for the whole (busiest-stage) model, per GPU."""

    saved: Poly  # every layer's saved tensors (or the checkpointed inputs)
    recompute: Poly  # one recomputed layer with its backward (checkpointing)
    top_mlp: Poly  # the last layer's MLP backward, on top of everything saved
    top_attention: Poly  # its attention backward, once its MLP's tensors are freed
    eager_forward: Poly  # eager scores before the softmax in the last layer
    final: Poly  # final norm + RoPE tables
    copies: int  # autocast bf16 weight copies saved across the forward and backward
    copies_stack: int  # the decoder layers' share of `copies`
    copies_layer: int
    offloaded_bytes_per_token: int  # checkpointed inputs moved to the host


def _activations(req: TrainingRequest, d: _Dtypes, params: _Params) -> _Acts:
    spec = req.common.spec
    par = req.parallel
    tp, sp = par.tensor, par.sequence_parallel
    r = activations.Regime(
        kind=d.regime, trainable_base=req.method == "full",
        adapter_bytes=d.adapter if req.method != "full" else 0,
        lora_dropout=bool(req.lora and req.lora.dropout > 0),
        lora_rank=req.lora.rank if req.lora else 0, attention=attention_kernel(req, d),
        quantized_inputs_saved=bool(req.qlora and req.qlora.saves_linear_inputs),
        quantized_outputs_fp32=req.method == "qlora" and d.regime == "autocast"
        and _qlora_unquantized_bytes(req) == 4,
        # LitGPT's fused qkv; its MLA attention (latent q and kv projections) is counted as
        # transformers' is
        fused_qkv=req.framework.fused_qkv and not spec.mla,
    )
    by_layer = _layer_adapters(spec, req.lora.target_modules if req.lora else None)
    shapes = activations.layer_shapes(spec)
    cache: dict[Any, activations.LayerActivations] = {}
    layers = []
    for i, shape in enumerate(shapes):
        key = (id(shape), by_layer.get(i, ()))  # layers alike share one shape object
        la = cache.get(key)
        if la is None:
            la = cache[key] = _layer_activations(shape, r, key[1])
        layers.append(la)
    n = len(layers) or 1
    # per GPU: TP splits what is inside attention and MLP; the norms' part only with SP
    def split(la: activations.LayerActivations) -> tuple[float, float]:
        inner = la.per_token - la.replicated_per_token
        return inner / tp + la.replicated_per_token / (tp if sp else 1), la.per_token_key / tp
    splits = {id(la): split(la) for la in cache.values()}
    per_layer = [splits[id(la)] for la in layers]
    avg_tok = sum(tok for tok, _ in per_layer) / n
    avg_key = sum(key for _, key in per_layer) / n
    worst = max(layers, key=lambda la: la.per_token + la.per_token_key)
    w_tok, w_key = splits[id(worst)]
    flight = parallel.in_flight_layers(n, par.pipeline, req.gradient_accumulation_steps)
    ckpt = req.gradient_checkpointing
    if ckpt == "selective":
        avg_key = 0.0  # Korthikanti's selective recompute: the attention core is recomputed
    inputs = sum(la.checkpoint_input for la in layers) / n / (tp if sp else 1)
    offloaded = 0
    if ckpt in ("full", "offloaded"):
        held = flight if ckpt == "full" else min(2.0, flight)  # offload: in flight + prefetch
        saved = _tok(inputs * held)
        offloaded = round(inputs * flight) if ckpt == "offloaded" else 0
    else:
        saved = _tok(avg_tok * flight, avg_key * flight)
    bwd_tok = max(la.backward_transient for la in layers) / tp
    bwd_key = max(la.backward_transient_key for la in layers) / tp
    recompute = _tok(w_tok + bwd_tok + inputs, w_key + bwd_key)
    # the last layer's backward: its MLP first (on top of everything saved), then its
    # attention, once the MLP's saved tensors are freed
    top_mlp = _tok(max(la.mlp_backward for la in layers) / tp)
    top_attn = _tok((max(la.attention_backward for la in layers)
                     - layers[-1].mlp_per_token) / tp, bwd_key)
    eager = _ZERO
    if r.attention == "eager" and ckpt == "none":  # the pre-softmax scores
        eager = _tok(0, r.act_bytes * spec.num_heads / tp)
    norm = activations._norm_style(spec)
    final = activations.final_norm_saved(r, spec.hidden_size, norm) / (tp if sp else 1)
    if spec.embedding_dropout > 0:  # GPT-2's embd_pdrop: native_dropout's 1-byte mask
        final += spec.hidden_size
    rope = 2 * spec.head_dim * r.residual_bytes  # cos and sin, (1, s, d), shared by layers
    copies = copies_layer = stack = 0
    if d.regime == "autocast":
        stage = parallel.stage_layers(n, par.pipeline) / n
        if req.method != "qlora":  # bitsandbytes keeps only the 4-bit weight for backward
            stack = copies = round(sum(la.weight_copies for la in layers) * stage / tp)
            copies_layer = round(max(la.weight_copies for la in layers) / tp)
        copies += 2 * params.head_numel // tp  # lm_head cast to bf16, saved for its backward
        if req.method != "full":  # autocast caches the bf16 casts of trainable adapters
            copies += 2 * sum(a.parameters for a in params.adapters) // tp
    return _Acts(
        saved=saved, recompute=recompute, top_mlp=top_mlp, top_attention=top_attn,
        eager_forward=eager,
        final=(0, round(final), 0, rope), copies=copies, copies_stack=stack,
        copies_layer=copies_layer,
        offloaded_bytes_per_token=offloaded,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelStates:
    """Weights, gradients and optimizer states of one step, per GPU (bytes, before the
    activations): what lives across the whole step, and what moves to the host."""

    weights: float  # resident weights (0 when ZeRO-3 offloads them)
    gathered: float  # ZeRO-3: the layer in use and the prefetched one, unsharded
    dequant: float  # QLoRA: one linear weight dequantized to bf16
    adapters: float
    gradients: float  # every trainable parameter's gradient at the end of the backward
    ddp_copy: float  # DDP's gradient bucket copy (frameworks that keep one)
    master: float  # fp32 master weights
    states: float  # optimizer states
    temporaries: float  # the optimizer step's temporaries
    head_gradient: float  # the lm_head's gradient (and its bf16 copy under autocast)
    largest_gradient: float  # one parameter's gradient (the optimizer steps in backward)
    tied_extra: float  # a tied embedding's gradient accumulated twice
    layer_gradient: float  # ZeRO >= 2: one layer's gradient before reduce-scatter
    share: float  # share of the trainable parameters this GPU holds (stage / TP)
    optimizer: optimizers.OptimizerCost
    cpu: dict[str, int]  # what lives in host memory instead


def model_states(req: TrainingRequest, d: _Dtypes, pr: _Params) -> ModelStates:
    """Model states per GPU: weights by precision, method and ZeRO stage; gradients;
    master weights and optimizer states, sharded (Rajbhandari et al. 2020, ZeRO), paged or
    offloaded to the host (ZeRO-Offload)."""
    spec, par = req.spec, req.parallel
    tp = par.tensor
    frac = parallel.stage_fraction(layer_params=pr.layers, embed_params=pr.embed,
                                   head_params=pr.head, layers=spec.num_layers,
                                   pipeline=par.pipeline)
    if req.method == "qlora":
        weights_all = formats.weights_bytes(_qlora_format(req), spec,
                                            dense_bits=8 * _qlora_unquantized_bytes(req))
    else:
        weights_all = pr.total * d.weight
    if spec.vision is not None:  # a multimodal model's vision tower, frozen and loaded
        weights_all += spec.vision.parameters * min(d.weight, 4)
    weights = weights_all * frac / tp / par.weight_shards()
    gathered = 0.0
    if par.zero_stage == 3 and par.data > 1:  # the layer in use + the prefetched one
        gathered = 2 * max(pr.largest_layer, pr.embed, pr.head) * d.weight / tp
    share = frac / tp
    grads = pr.trainable * d.grad * share / par.gradient_shards()
    ddp_copy = grads if (par.zero_stage == 0 and par.data > 1
                         and req.framework.ddp_gradient_copy) else 0.0
    master = pr.trainable * d.master * share / par.states_shards()
    opt = _optimizer(req, pr, d)
    states = opt.state_bytes * share / par.states_shards()
    temps = opt.temporary_bytes * share / par.states_shards()
    cpu: dict[str, int] = {}
    if opt.paged:
        cpu["paged_optimizer_states"] = round(states)
        states = temps = 0.0
    if par.offload_optimizer:
        cpu["optimizer_states"] = round(states)
        cpu["master_weights"] = round(master or pr.trainable * 4 * share / par.states_shards())
        cpu["fp32_gradients"] = round(pr.trainable * 4 * share / par.states_shards())
        states = temps = master = 0.0
    if par.offload_parameters:
        cpu["weights"] = round(weights_all * frac / tp / par.data)
        weights = 0.0
    full = req.method == "full"
    head_grad = pr.head_numel * d.grad / tp if full else 0.0
    if d.regime == "autocast" and full:
        head_grad += 2 * pr.head_numel / tp  # the bf16 gradient before its fp32 cast
    return ModelStates(
        weights=weights, gathered=gathered,
        dequant=2 * pr.largest_linear / tp if req.method == "qlora" else 0.0,
        adapters=sum(a.parameters for a in pr.adapters) * d.adapter * frac / tp,
        gradients=grads, ddp_copy=ddp_copy, master=master, states=states, temporaries=temps,
        head_gradient=head_grad,
        largest_gradient=max(pr.trainable_sizes, default=0) * d.grad,
        tied_extra=pr.head_numel * d.grad / tp if (full and spec.tie_word_embeddings) else 0.0,
        layer_gradient=pr.largest_layer * d.grad / tp if (full and par.zero_stage >= 2) else 0.0,
        share=share, optimizer=opt, cpu=cpu,
    )


def plan(req: TrainingRequest) -> TrainingPlan:
    """Everything about the step that does not depend on (b, s), as phase candidates."""
    spec = req.spec
    d = _dtypes(req)
    pr = _params(req)
    m = model_states(req, d, pr)
    acts = _activations(req, d, pr)
    loss = activations.loss_cost(req.loss, spec.vocab_size, spec.hidden_size,
                                 4 if d.regime == "fp32" else 2)
    cpu = dict(m.cpu)
    if acts.offloaded_bytes_per_token:
        cpu["offloaded_activations_per_token"] = acts.offloaded_bytes_per_token
    kernel = attention_kernel(req, d)
    details = {
        "attention_kernel": {"sdpa": "flash / memory-efficient (q, k, v, out, lse saved)",
                             "flash": "flash-attn (q, k, v, out, lse saved)",
                             "eager": "s² scores saved (eager, or SDPA's math kernel: fp32 "
                                      "with grouped KV heads)"}[kernel],
        "dtypes": {"activations": d.regime, "weights_bytes": d.weight, "gradient_bytes": d.grad,
                   "state_bytes": d.state, "master_bytes": d.master,
                   "adapter_bytes": d.adapter if req.method != "full" else 0},
        "optimizer": {"state_formula": m.optimizer.state_formula,
                      "temporary_formula": m.optimizer.temporary_formula,
                      "paged": m.optimizer.paged, "source": m.optimizer.source},
    }
    return TrainingPlan(
        candidates=_candidates(req, d, pr, m, acts, loss, eager=kernel == "eager"),
        formulas=_formulas(req, d, pr, m.optimizer, loss),
        sources=_sources(req, m.optimizer, loss),
        context=req.overheads.cuda_context_bytes,
        reserve_fraction=req.overheads.allocator_reserve_fraction,
        weights_bytes=round(m.weights),
        cpu=cpu,
        parameters={"trainable": pr.trainable, "adapters": sum(a.parameters for a in pr.adapters)},
        details=details,
    )


def _candidates(
    req: TrainingRequest, d: _Dtypes, pr: _Params, m: ModelStates, acts: _Acts,
    loss: activations.LossCost, *, eager: bool,
) -> tuple[Candidate, ...]:
    """The moments that may set each phase's peak, each with what is alive then."""
    full = req.method == "full"
    ckpt = req.gradient_checkpointing
    resident = m.weights + m.gathered + m.dequant
    base = {"weights": _const(m.weights), "master_weights": _const(m.master),
            "adapters": _const(m.adapters), "optimizer_states": _const(m.states),
            "workspace": _const(CUBLAS_WORKSPACE_BYTES)}
    all_grads = m.gradients + m.ddp_copy
    kept = _const(all_grads) if req.gradient_accumulation_steps > 1 else _ZERO
    fused_head = _const(m.head_gradient) if (loss.hidden_grad_in_forward and full) else _ZERO
    copies_fwd = acts.copies
    if ckpt not in ("none", "selective") and not full:
        # autocast caches only casts of leaves that require grad: under checkpointing
        # nothing keeps a frozen layer's bf16 weight after its forward
        copies_fwd -= acts.copies_stack
    w_fwd = _const(resident + copies_fwd)
    # with checkpointing the autocast cache is the only holder of the layers' bf16 copies,
    # and it is cleared when the forward leaves autocast: only the lm_head's copy remains
    w_bwd = w_fwd if ckpt in ("none", "selective") else _const(
        resident + acts.copies - acts.copies_stack)
    acts_fwd = _add(acts.saved, acts.final)
    logits_share = 1.0 / req.parallel.tensor  # vocabulary-parallel logits with TP
    oib = req.optimizer_in_backward

    def cand(phase: str, moment: str, **parts: Poly) -> Candidate:
        merged = {**base, **parts}
        return Candidate(phase=phase, moment=moment, parts=merged,
                         total=_add(*merged.values()))

    cands = [
        cand("forward", "at the loss", weights=w_fwd, gradients=_add(kept, fused_head),
             activations=acts_fwd, logits=_tok(loss.forward_peak * logits_share)),
        cand("backward", "loss gradients, every activation still saved", weights=w_bwd,
             gradients=_add(kept, fused_head),
             activations=acts_fwd, logits=_tok(loss.backward_peak * logits_share)),
        cand("backward", "at the end: every gradient alive", weights=_const(resident),
             gradients=_const(m.largest_gradient if oib else
                              all_grads + m.tied_extra + m.layer_gradient)),
        cand("optimizer_step", "optimizer step: gradients, states and step temporaries",
             gradients=_const(m.largest_gradient if oib else all_grads),
             optimizer_states=_const(m.states + m.temporaries)),
    ]
    if eager and ckpt == "none":
        cands.append(cand("forward", "eager attention scores in the last layer", weights=w_fwd,
                          gradients=kept, activations=_add(acts_fwd, acts.eager_forward)))
    if ckpt in ("none", "selective"):
        for moment, extra in (("the last layer's MLP backward", acts.top_mlp),
                              ("the last layer's attention backward", acts.top_attention)):
            cands.append(cand("backward", moment, weights=w_fwd,
                              gradients=_add(kept, _const(m.head_gradient + m.layer_gradient)),
                              activations=_add(acts_fwd, extra)))
    else:
        # the first layer's and (untied) embedding's gradients do not exist yet
        not_yet = (pr.largest_layer + (0 if req.spec.tie_word_embeddings else pr.embed)) \
            * d.grad * m.share / req.parallel.gradient_shards() if full else 0.0
        cands.append(cand("backward", "recomputing the first layer, nearly every gradient alive",
                          weights=_const(resident + acts.copies_layer),
                          gradients=_const(m.largest_gradient if oib else all_grads - not_yet),
                          activations=acts.recompute))
    return tuple(cands)


def _optimizer(req: TrainingRequest, pr: _Params, d: _Dtypes) -> optimizers.OptimizerCost:
    if req.optimizer == "adafactor":
        shapes: list[tuple[int, int, int]] = []
        if req.method == "full":
            for g in req.common.spec.tensors:
                shapes.append((g.out_features, g.in_features, g.count * g.experts)
                              if g.in_features else (g.numel, 0, g.count))
        else:
            for a in pr.adapters:
                assert req.lora is not None
                shapes.append((req.lora.rank, a.in_features, a.modules))
                shapes.append((a.out_features, req.lora.rank, a.modules))
        return optimizers.adafactor_cost(tuple(shapes), max(pr.trainable_sizes, default=0))
    return optimizers.cost(
        req.optimizer, req.optimizer_implementation, sizes=pr.trainable_sizes,
        group_numel=pr.decay_numel, state_bytes=d.state, momentum=req.momentum,
    )


def _qlora_format(req: TrainingRequest) -> WeightFormat:
    """The 4-bit format of QLoRA's frozen linear weights (bitsandbytes Linear4bit)."""
    assert req.qlora is not None
    return catalogs.weight_formats()["nf4" if req.qlora.double_quant else "nf4-no-dq"]


def _qlora_unquantized_bytes(req: TrainingRequest) -> int:
    """Bytes per element of what QLoRA leaves unquantized (embeddings, lm_head, norms)."""
    fp32 = req.framework.qlora_non_quantized_dtype == "fp32" or req.precision == "fp32"
    return 4 if fp32 else 2


def _formulas(
    req: TrainingRequest, d: _Dtypes, pr: _Params, opt: optimizers.OptimizerCost,
    loss: activations.LossCost,
) -> dict[str, str]:
    par = req.parallel
    per_gpu = []
    if par.tensor > 1:
        per_gpu.append(f"/ TP {par.tensor}")
    if par.pipeline > 1:
        per_gpu.append(f"× busiest of {par.pipeline} pipeline stages")
    shard = " ".join(per_gpu)
    if req.method == "qlora":
        qfmt = _qlora_format(req)
        w = (f"linear weights · {qfmt.effective_bits():.4g} bits ({qfmt.label}) + "
             f"embeddings, lm_head, norms · {8 * _qlora_unquantized_bytes(req)} bits; "
             "+ one bf16 dequantized linear weight in forward and backward")
    else:
        w = f"P · {d.weight} B  (P = {pr.total:,})"
        if par.zero_stage == 3:
            w += f" / ZeRO-3 {par.data} + 2 unsharded layers (in use, prefetched)"
    if d.regime == "autocast":
        w += "; forward/backward: + bf16 copies of the linear weights saved by autocast"
    g = (f"P_trainable · {d.grad} B  (P_trainable = {pr.trainable:,})"
         + (f" / ZeRO-{par.zero_stage} {par.data}" if par.zero_stage >= 2 else "")
         + ("; forward: 0 (zero_grad(set_to_none=True))" if req.gradient_accumulation_steps == 1
            else "; kept across micro-steps (gradient accumulation does not shrink them)"))
    if req.optimizer_in_backward:
        g = "one parameter's gradient at a time (the optimizer steps inside the backward)"
    states = opt.state_formula + (f" / ZeRO {par.data}" if par.zero_stage >= 1 else "")
    if par.offload_optimizer:
        states = "0 on the GPU: offloaded to CPU memory (ZeRO-Offload)"
    states += "; optimizer step: + " + opt.temporary_formula
    acts = {
        "none": "Σ layers · b·s · (saved bytes per token) — norms' fp32 upcasts, q/k/v/out + lse,"
                " SwiGLU gate/up/act/product"
                + (", eager scores b·a·s²·6 B" if req.attention == "eager" else ""),
        "selective": "as without checkpointing, minus the attention core (recomputed)",
        "full": "Σ layers · b·s·h · B (each layer's input) + one recomputed layer in the "
                "backward",
        "offloaded": "two layers' inputs on the GPU (in flight and prefetched); the rest in "
                     "CPU memory",
    }[req.gradient_checkpointing]
    if req.qlora is not None and req.qlora.saves_linear_inputs:
        acts += "; + the input of every 4-bit linear (bitsandbytes <= 0.43.1 MatMul4Bit)"
    if par.tensor > 1:
        acts += f"; / TP {par.tensor} inside attention and MLP" + (
            ", norms too (sequence parallel)" if par.sequence_parallel else "")
    out = {
        "weights": w + (f" {shard}" if shard else ""),
        "master_weights": (f"P_trainable · 4 B / ZeRO {par.states_shards()}" if d.master
                           else "0: the fp32 weights are the master copy" if d.regime == "autocast"
                           else "0: no separate master copy"),
        "adapters": (f"Σ adapted weights r·(in + out) · {d.adapter} B = "
                     f"{sum(a.parameters for a in pr.adapters):,} parameters"
                     if req.method != "full" else "0: full fine-tune"),
        "gradients": g,
        "optimizer_states": states,
        "activations": acts,
        "logits": loss.formula,
        "workspace": f"{CUBLAS_WORKSPACE_BYTES // MiB} MiB: cuBLAS workspace "
                     "(CUBLAS_WORKSPACE_CONFIG :4096:8), allocated "
                     "through the caching allocator",
    }
    return out


def _sources(req: TrainingRequest, opt: optimizers.OptimizerCost,
             loss: activations.LossCost) -> dict[str, str]:
    return {
        "weights": ("formats.json nf4 (Dettmers et al. 2023, QLoRA)" if req.method == "qlora"
                    else "parameter count from config.json (architecture.py)")
        + "; torch.autocast weight cache (torch/amp/autocast_mode.py)"
        + ("; " + parallel.SOURCE if req.parallel.gpus > 1 else ""),
        "master_weights": "Micikevicius et al. 2018 (mixed precision); Rajbhandari et al. 2020",
        "adapters": "Hu et al. 2021 (LoRA); peft tuners/lora/layer.py",
        "gradients": "torch autograd AccumulateGrad; optimizer.zero_grad(set_to_none=True)",
        "optimizer_states": opt.source,
        "activations": "Korthikanti et al. 2022 (Table 2), adapted to the tensors transformers v5 "
        "saves (activations.py); torch.utils.checkpoint (non-reentrant)",
        "logits": loss.source,
        "workspace": "torch aten/src/ATen/cuda/CublasHandlePool.cpp; measured on an H200",
    }


def respond(req: TrainingRequest) -> EngineResult:
    """The phases, fit table and details of a validated training request."""
    spec = req.spec
    p = plan(req)
    b, s = req.micro_batch_size, req.sequence_length
    t = b * s
    phases: list[Phase] = []
    moments: list[dict[str, Any]] = []
    for name in PHASES:
        best = max((c for c in p.candidates if c.phase == name), key=lambda c: _at(c.total, t, s))
        comps = [
            Component(name=key, label=_LABELS[key], bytes=_at(best.parts.get(key, _ZERO), t, s),
                      kind="tensor", formula=p.formulas[key], source=p.sources[key])
            for key in COMPONENTS
        ]
        allocated = sum(c.bytes for c in comps)
        comps.append(allocator_reserve(allocated, p.reserve_fraction))
        comps.append(cuda_context(p.context, source="CUDA driver context, kernels, "
                                  "cuBLAS/NCCL handles of a PyTorch process"))
        phases.append(Phase(name=name, components=tuple(comps)))
        moments.append({"phase": name, "moment": best.moment, "allocated_bytes": allocated})
    peak = max(phases, key=lambda ph: ph.total)
    rows = fit.fit_table(
        gpus=req.common.fit_devices, total=peak.total, weights=p.weights_bytes,
        by_batch=p.by_batch(s), by_length=p.by_length(b), batch_limit=1 << 16,
        length_limit=max(spec.max_position_embeddings, s),
    )
    details = {
        **p.details,
        "peak": next(m for m in moments if m["phase"] == peak.name),
        "phase_moments": moments,
        "cpu_memory_bytes": p.cpu,
        "host_memory": host.checkpoint_memory(
            req.common.model.source_config, spec, engine="transformers",
            resident=host.training_resident(p.cpu, t)),
        "tokens_per_optimizer_step": t * req.gradient_accumulation_steps * req.parallel.data,
        "gpus": req.parallel.gpus,
        "framework": _framework_details(req),
        "adapter_parameters": p.parameters["adapters"],
    }
    return EngineResult(peak=peak, phases=tuple(phases), fit_rows=tuple(rows), details=details,
                        length_field="sequence_length", length=s,
                        warnings=tuple(_warnings(req, p)),
                        trainable_parameters=p.parameters["trainable"])


def _warnings(req: TrainingRequest, p: TrainingPlan) -> list[Warning]:
    out = []
    if req.spec.moe is not None:
        out.append(Warning(code="moe_estimate",
                           message="MoE activations assume balanced routing (top-k copies of "
                           "each token); they are not calibrated against measured runs"))
    if "paged_optimizer_states" in p.cpu:
        out.append(Warning(code="paged_optimizer",
                           message="paged optimizer states live in CUDA unified memory: they "
                           "use GPU memory when it is free and move to CPU memory under "
                           "pressure, and torch.cuda.max_memory_allocated does not count them"))
    return out
