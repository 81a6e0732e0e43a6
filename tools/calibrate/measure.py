"""Measure the memory of real training steps and generation of a Hugging Face model.

Dev-only tool (torch, transformers and peft are needed here, never by vramcalc). The model
is built from a committed config.json with random weights; nothing is downloaded.

Devices:
  cuda      a real GPU: torch.cuda.max_memory_allocated/reserved per phase and the
            driver's view (NVML or nvidia-smi).
  cpu-fake  FakeTensorMode: shapes only, no memory, any model size. Every live tensor
            storage is counted in 512-byte blocks (live_bytes.LiveBytes), which is the
            tensor-level peak a GPU would reach; the caching allocator is not modelled.
  cpu       real CPU tensors with the same counter (smoke tests and tracker validation).

    python3 tools/calibrate/measure.py train --device cpu-fake --model llama-3.1-8b \\
        --precision bf16 --batch 1 --seq 4096
    python3 tools/calibrate/measure.py infer --device cuda --model qwen2.5-0.5b --context 8192
    python3 tools/calibrate/measure.py context --device cuda

Each run prints (or appends to --out) one JSON line; see docs/calibration.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import os
import pathlib
import platform
import sys
import time
import traceback
import warnings
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import gpu_driver
import specs

if TYPE_CHECKING:
    from collections.abc import Iterator

    import torch

DEVICES = ("cuda", "cpu-fake", "cpu")
DONE_MARK = "CALIBRATE-DONE"  # worker progress line read by suite.py
_BASELINE: list[gpu_driver.DriverReading] = []  # driver readings before CUDA init

METRICS_CUDA = {
    "allocated_peak_bytes": "torch.cuda.max_memory_allocated() over step 2 (training) or over "
                            "prefill and decode (inference): tensors in the caching allocator",
    "reserved_peak_bytes": "torch.cuda.max_memory_reserved() over the same span: what the "
                           "caching allocator holds from the driver",
    "driver_used_bytes": "the driver's view of this process at the end of the run (NVML or "
                         "nvidia-smi): CUDA context, loaded kernels and reserved memory",
}
METRICS_FAKE = {
    "allocated_peak_bytes": "live tensor storages under FakeTensorMode, each rounded up to "
                            "512-byte blocks like the CUDA caching allocator; comparable to "
                            "torch.cuda.max_memory_allocated()",
    "reserved_peak_bytes": "not modelled (no caching allocator under FakeTensorMode)",
    "driver_used_bytes": "not modelled (no driver)",
}
METRICS_CPU = {
    "allocated_peak_bytes": "live tensor storages of a real CPU run, 512-byte blocks",
    "reserved_peak_bytes": "not measured on the CPU",
    "driver_used_bytes": "not measured on the CPU",
}


# ----------------------------------------------------------------------------- meters


class CudaMeter:
    """Per-phase peaks from the CUDA caching allocator's own statistics."""

    def __init__(self) -> None:
        import torch

        self.torch = torch
        self.phases: dict[str, dict[str, int | None]] = {}
        self._name = ""

    def start(self, name: str) -> None:
        self.torch.cuda.synchronize()
        self.torch.cuda.reset_peak_memory_stats()
        self._name = name

    def stop(self) -> None:
        self.torch.cuda.synchronize()
        self.phases[self._name] = {
            "allocated": self.torch.cuda.max_memory_allocated(),
            "reserved": self.torch.cuda.max_memory_reserved(),
        }

    def allocated(self) -> int:
        self.torch.cuda.synchronize()
        return int(self.torch.cuda.memory_allocated())

    def reserved(self) -> int | None:
        return int(self.torch.cuda.memory_reserved())


class TrackerMeter:
    """Per-phase peaks from live_bytes.LiveBytes (cpu-fake and cpu)."""

    def __init__(self, tracker: Any) -> None:
        self.tracker = tracker
        self.phases: dict[str, dict[str, int | None]] = {}
        self._name = ""

    def start(self, name: str) -> None:
        self.tracker.phase(name)
        self._name = name

    def stop(self) -> None:
        self.phases[self._name] = {"allocated": self.tracker.phase_peaks[self._name],
                                   "reserved": None}

    def allocated(self) -> int:
        return int(self.tracker.current)

    def reserved(self) -> int | None:
        return None


Meter = CudaMeter | TrackerMeter


@dataclasses.dataclass(kw_only=True)
class Session:
    """Where tensors live and how memory is read, for one run."""

    device: str
    tensor_device: str  # "cuda" or "cpu"
    meter: Meter
    fake_mode: Any = None  # FakeTensorMode for cpu-fake
    tracker: Any = None


@contextlib.contextmanager
def session(device: str) -> Iterator[Session]:
    """Enter the modes a device needs; on exit everything made inside can be freed."""
    if device == "cuda":
        yield Session(device=device, tensor_device="cuda", meter=CudaMeter())
        return
    from live_bytes import LiveBytes

    tracker = LiveBytes()
    if device == "cpu":
        with cuda_kernels(), tracker:
            yield Session(device=device, tensor_device="cpu", meter=TrackerMeter(tracker),
                          tracker=tracker)
        return
    from torch._subclasses.fake_tensor import FakeTensorMode

    fake_mode = FakeTensorMode()
    with cuda_kernels(), _unpacked_positions(), fake_mode, tracker:
        yield Session(device=device, tensor_device="cpu", meter=TrackerMeter(tracker),
                      fake_mode=fake_mode, tracker=tracker)


# What the CPU runs differently from the GPU rows, and is made to run like them.
CUDA_EMULATION = {
    "dropout": "fused native_dropout, as at::dropout on CUDA (saves a bool mask; the CPU "
               "path saves a mask in the input dtype)",
    "sdpa_fp32_gqa": "math kernel for float32 with grouped KV heads, as torch 2.11 on CUDA "
                     "(flash/cuDNN need 16-bit inputs, the memory-efficient kernel was not "
                     "chosen for enable_gqa); other cases keep the CPU flash kernel, whose "
                     "saved tensors match CUDA's flash/cuDNN/efficient kernels",
    "sdpa_dropout": "attention dropout inside the kernel, as CUDA's flash and memory-efficient "
                    "kernels do (a Philox seed and offset are saved, no s^2 mask): the CPU "
                    "flash kernel has no dropout and would fall back to the math kernel, so "
                    "it runs with dropout_p=0, whose saved tensors are the same",
}


@contextlib.contextmanager
def cuda_kernels() -> Iterator[None]:
    """On the CPU, take the kernels whose memory matches what a CUDA run of torch 2.11 does.

    Checked against the H200 rows (docs/calibration.md): without this, LoRA dropout on the
    CPU kept 4-byte masks (+13 % on an all-linear 8B LoRA) and float32 SDPA kept the CPU
    flash kernel where CUDA falls back to the math kernel with its s^2 scores (-22 %).
    """
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    dropout, sdpa = F.dropout, F.scaled_dot_product_attention

    def cuda_dropout(input: torch.Tensor, p: float = 0.5, training: bool = True,
                     inplace: bool = False) -> torch.Tensor:
        if training and 0.0 < p < 1.0 and not inplace and input.numel() > 0:
            return torch.native_dropout(input, p, True)[0]
        return dropout(input, p, training, inplace)

    def cuda_sdpa(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                  *args: Any, **kwargs: Any) -> torch.Tensor:
        grouped = kwargs.get("enable_gqa", False) and query.shape[-3] != key.shape[-3]
        dtype = query.dtype  # what the kernel sees: autocast casts inside the op
        if torch.is_autocast_enabled(query.device.type):
            dtype = torch.get_autocast_dtype(query.device.type)
        if dtype == torch.float32 and grouped:
            with sdpa_kernel(SDPBackend.MATH):
                return sdpa(query, key, value, *args, **kwargs)
        if kwargs.get("dropout_p", 0.0) > 0.0:
            kwargs = {**kwargs, "dropout_p": 0.0}
        return sdpa(query, key, value, *args, **kwargs)

    F.dropout, F.scaled_dot_product_attention = cuda_dropout, cuda_sdpa  # type: ignore[assignment]
    try:
        yield
    finally:
        F.dropout, F.scaled_dot_product_attention = dropout, sdpa  # type: ignore[assignment]


@contextlib.contextmanager
def _unpacked_positions() -> Iterator[None]:
    """Tell transformers' mask code that the positions are one unpacked sequence per row.

    A real run finds that out by reading the position ids (masking_utils.
    find_packed_sequence_indices returns None) and then skips the causal mask, letting
    SDPA use is_causal. Fake tensors have no values, so transformers takes its tracing
    path and builds a full boolean mask a real run never allocates. The inputs here are
    always one sequence per row, so the answer is known: None.
    """
    import transformers.masking_utils as masking_utils

    original = getattr(masking_utils, "find_packed_sequence_indices", None)
    if original is None:
        yield
        return
    masking_utils.find_packed_sequence_indices = lambda position_ids: None
    try:
        yield
    finally:
        masking_utils.find_packed_sequence_indices = original


# ----------------------------------------------------------------------------- model


def hf_config(config: dict[str, Any]) -> Any:
    """A transformers config object from a config.json dict, as from_pretrained reads it."""
    from transformers import AutoConfig

    values = dict(config)
    return AutoConfig.for_model(values.pop("model_type"), **values)


def build_model(config: dict[str, Any], *, dtype: torch.dtype, attention: str, where: str) -> Any:
    """AutoModelForCausalLM from the config with random weights, constructed on `where`.

    On "cuda" the weights are created on the GPU directly (seconds for 8B, no CPU copy);
    on "meta" nothing is allocated (cpu-fake materialises fake tensors afterwards).
    """
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device(where):
        return AutoModelForCausalLM.from_config(hf_config(config), dtype=dtype,
                                                attn_implementation=attention)


def apply_lora(model: Any, spec: specs.TrainSpec) -> Any:
    """PEFT LoRA with PEFT's defaults (adapter weights upcast to fp32: autocast_adapter_dtype)."""
    from peft import LoraConfig, get_peft_model

    targets = spec.lora_targets
    lora_config = LoraConfig(
        r=spec.lora_rank, lora_alpha=spec.lora_alpha, lora_dropout=spec.lora_dropout,
        target_modules=targets if isinstance(targets, str) else list(targets),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora_config)


def quantize_4bit(model: Any, *, keep_inputs: bool) -> None:
    """bitsandbytes NF4 with double quantization for every linear of the decoder layers, as
    `BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
    bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.bfloat16)` loads a model
    (lm_head stays 16-bit: llm_int8_skip_modules). `keep_inputs` makes MatMul4Bit keep its
    input for the backward, as bitsandbytes <= 0.43.1 did (`ctx.tensors = (A, B)`)."""
    import bitsandbytes as bnb
    import torch

    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if not isinstance(child, torch.nn.Linear) or name == "lm_head":
                continue
            quant = bnb.nn.Linear4bit(child.in_features, child.out_features,
                                      bias=child.bias is not None, compute_dtype=torch.bfloat16,
                                      compress_statistics=True, quant_type="nf4", device="meta")
            quant.weight = bnb.nn.Params4bit(child.weight.data, requires_grad=False,
                                             compress_statistics=True,
                                             quant_type="nf4").to(child.weight.device)
            if child.bias is not None:
                quant.bias = child.bias
            setattr(module, name, quant)
            del child
    if keep_inputs:
        from bitsandbytes.autograd import _functions

        forward = _functions.MatMul4Bit.forward

        def keeping_forward(ctx: Any, A: Any, B: Any, *args: Any, **kwargs: Any) -> Any:
            out = forward(ctx, A, B, *args, **kwargs)
            if any(ctx.needs_input_grad[:2]):
                ctx.tensors = (A, B)  # what bitsandbytes <= 0.43.1 kept
            return out

        _functions.MatMul4Bit.forward = staticmethod(keeping_forward)


def prepare_kbit(model: Any, *, checkpointing: bool) -> None:
    """What peft's prepare_model_for_kbit_training does: the non-quantized parameters in
    float32, and with gradient checkpointing, inputs that require grad."""
    import torch

    for param in model.parameters():
        if param.dtype in (torch.float16, torch.bfloat16):
            param.data = param.data.to(torch.float32)
    if checkpointing:
        model.enable_input_require_grads()


def materialize_fake(model: Any) -> None:
    """Replace every meta tensor of `model` by a fake CPU tensor of the same shape and dtype.

    Building under FakeTensorMode directly breaks module.to() (PEFT calls it): torch
    swaps parameter tensors on conversion and refuses fake tensors that carry weakrefs.
    So the model is built on meta and converted here; tied parameters stay tied.
    """
    import torch

    made: dict[int, torch.Tensor] = {}
    params: dict[int, torch.nn.Parameter] = {}

    def fake_like(t: torch.Tensor) -> torch.Tensor:
        if id(t) not in made:
            made[id(t)] = torch.empty_strided(tuple(t.shape), tuple(t.stride()), dtype=t.dtype,
                                              device="cpu")
        return made[id(t)]

    for module in model.modules():
        for name, p in list(module._parameters.items()):
            if p is not None:
                if id(p) not in params:
                    params[id(p)] = torch.nn.Parameter(fake_like(p), requires_grad=p.requires_grad)
                module._parameters[name] = params[id(p)]
        for name, b in list(module._buffers.items()):
            if b is not None:
                module._buffers[name] = fake_like(b)
        for name, value in list(vars(module).items()):
            if isinstance(value, torch.Tensor) and value.device.type == "meta":
                setattr(module, name, fake_like(value))


def make_model(sess: Session, config: dict[str, Any], *, dtype: torch.dtype, attention: str,
               lora: specs.TrainSpec | None = None) -> Any:
    """Build (and LoRA-wrap) the model where the session keeps tensors."""
    if sess.device != "cpu-fake":
        model = build_model(config, dtype=dtype, attention=attention, where=sess.tensor_device)
        return apply_lora(model, lora) if lora is not None else model
    from torch.utils._python_dispatch import _disable_current_modes

    with _disable_current_modes():  # plain meta tensors: no fake mode, nothing counted
        model = build_model(config, dtype=dtype, attention=attention, where="meta")
        if lora is not None:
            model = apply_lora(model, lora)
    materialize_fake(model)  # back under the fake mode and the counter
    return model


def dtypes_of(tensors: Any) -> list[str]:
    return sorted({str(t.dtype).removeprefix("torch.") for t in tensors})


def setup_of(model: Any, optimizer: Any, precision: str | None) -> dict[str, Any]:
    """What the run actually holds: parameter, trainable and optimizer-state dtypes, autocast."""
    params = list(model.parameters())
    states = [v for st in (optimizer.state.values() if optimizer else ()) for v in st.values()
              if hasattr(v, "dtype") and getattr(v, "ndim", 0) > 0]
    return {
        "param_dtypes": dtypes_of(params),
        "trainable_dtypes": dtypes_of(p for p in params if p.requires_grad),
        "optimizer_state_dtypes": dtypes_of(states) if optimizer else None,
        "autocast": "bfloat16" if precision == "mixed_bf16" else None,
    }


def parameter_counts(model: Any) -> dict[str, int]:
    params = list(model.parameters())  # unique: tied weights count once
    return {"total": sum(p.numel() for p in params),
            "trainable": sum(p.numel() for p in params if p.requires_grad)}


def make_optimizer(model: Any, impl: str) -> Any:
    """torch AdamW as HF Trainer builds it: decay and no-decay groups, trainable params only.

    `foreach`/`fused` are set explicitly: torch's default picks foreach only for CUDA
    tensors, and would pick the for-loop under FakeTensorMode.
    """
    import torch

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or name.endswith(".bias") else decay).append(p)
    groups = [g for g in ({"params": decay, "weight_decay": 0.0},
                          {"params": no_decay, "weight_decay": 0.0}) if g["params"]]
    return torch.optim.AdamW(groups, lr=1e-5, foreach=impl == "foreach", fused=impl == "fused")


def autocast(sess: Session, precision: str) -> contextlib.AbstractContextManager[Any]:
    """torch.autocast(bfloat16) for mixed_bf16, what HF Trainer's bf16=True does; else nothing."""
    import torch

    if precision == "mixed_bf16":
        return torch.autocast(device_type=sess.tensor_device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


# ----------------------------------------------------------------------------- runs


def run_training(sess: Session, spec: specs.TrainSpec, config: dict[str, Any]) -> dict[str, Any]:
    """Two steps of forward (model's own loss), backward, optimizer.step, zero_grad."""
    import torch

    dtype = torch.bfloat16 if spec.precision == "bf16" else torch.float32
    meter = sess.meter
    meter.start("build")
    if spec.method == "qlora":
        if sess.device != "cpu":
            raise SystemExit("qlora runs on real tensors: --device cpu (or cuda)")
        model = build_model(config, dtype=torch.bfloat16, attention=spec.attention,
                            where=sess.tensor_device)
        quantize_4bit(model, keep_inputs=spec.keep_inputs)
        if spec.precision != "bf16":
            prepare_kbit(model, checkpointing=spec.checkpointing == "full")
        model = apply_lora(model, spec)
    else:
        model = make_model(sess, config, dtype=dtype, attention=spec.attention,
                           lora=spec if spec.method == "lora" else None)
    if spec.checkpointing == "full":
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    optimizer = make_optimizer(model, spec.optimizer_impl)
    meter.stop()
    weights = meter.allocated()
    ids = torch.randint(0, int(config["vocab_size"]), (spec.batch, spec.seq),
                        device=sess.tensor_device)
    steady = None
    for step in (1, 2):
        if step == 2:
            steady = meter.allocated()
        meter.start(f"step{step}:forward")
        with autocast(sess, spec.precision):
            loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        meter.stop()
        meter.start(f"step{step}:backward")
        loss.backward()
        del loss
        meter.stop()
        meter.start(f"step{step}:optimizer_step")
        optimizer.step()
        meter.stop()
        optimizer.zero_grad(set_to_none=True)
    phases = meter.phases
    step_peak = {s: max(int(phases[f"step{s}:{p}"]["allocated"] or 0)
                        for p in ("forward", "backward", "optimizer_step")) for s in (1, 2)}
    reserved = [phases[f"step2:{p}"]["reserved"] for p in ("forward", "backward", "optimizer_step")]
    return {
        "allocated_peak_bytes": step_peak[2],
        "reserved_peak_bytes": max(reserved) if all(r is not None for r in reserved) else None,
        "phase_peaks": {p: phases[f"step2:{p}"]["allocated"]
                        for p in ("forward", "backward", "optimizer_step")},
        "phase_reserved_peaks": {p: phases[f"step2:{p}"]["reserved"]
                                 for p in ("forward", "backward", "optimizer_step")},
        "step_peaks": [step_peak[1], step_peak[2]],
        "steady_bytes": steady,
        "weights_bytes": weights,
        "after_run_bytes": meter.allocated(),
        "parameters": parameter_counts(model),
        "setup": setup_of(model, optimizer, spec.precision),
    }


def cache_bytes(cache: Any) -> int | None:
    """Bytes of the K and V tensors a transformers cache holds (5.x `layers`, 4.x lists)."""
    import torch

    tensors: list[Any] = []
    for layer in getattr(cache, "layers", None) or []:
        tensors += [getattr(layer, "keys", None), getattr(layer, "values", None)]
    if not tensors:
        tensors = list(getattr(cache, "key_cache", [])) + list(getattr(cache, "value_cache", []))
    found = [t for t in tensors if isinstance(t, torch.Tensor)]
    return sum(t.numel() * t.element_size() for t in found) if found else None


def run_inference(sess: Session, spec: specs.InferSpec, config: dict[str, Any]) -> dict[str, Any]:
    """bf16 eval model, no grad: prefill the prompt (DynamicCache), then greedy decode steps.

    This is what generate() does with its defaults: logits of the last position only in
    the prefill (logits_to_keep=1), the next-token logits copied to fp32, one token per step.
    """
    import torch

    meter = sess.meter
    meter.start("build")
    model = make_model(sess, config, dtype=torch.bfloat16, attention=spec.attention)
    model.eval()
    meter.stop()
    weights = meter.allocated()
    prompt = torch.randint(0, int(config["vocab_size"]), (spec.batch, spec.prompt_tokens),
                           device=sess.tensor_device)
    with torch.no_grad():
        meter.start("prefill")
        out = model(input_ids=prompt, use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        token = out.logits[:, -1, :].to(dtype=torch.float32).argmax(-1, keepdim=True)
        del out
        meter.stop()
        after_prefill = meter.allocated()
        meter.start("decode")
        for _ in range(spec.new_tokens):
            out = model(input_ids=token, past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            token = out.logits[:, -1, :].to(dtype=torch.float32).argmax(-1, keepdim=True)
            del out
        meter.stop()
    phases = meter.phases
    peaks = [int(phases[p]["allocated"] or 0) for p in ("prefill", "decode")]
    reserved = [phases[p]["reserved"] for p in ("prefill", "decode")]
    return {
        "allocated_peak_bytes": max(peaks),
        "reserved_peak_bytes": max(reserved) if all(r is not None for r in reserved) else None,
        "phase_peaks": {"prefill": peaks[0], "decode": peaks[1]},
        "phase_reserved_peaks": {"prefill": reserved[0], "decode": reserved[1]},
        "weights_bytes": weights,
        "after_prefill_bytes": after_prefill,
        "kv_cache_bytes": cache_bytes(cache),
        "after_run_bytes": meter.allocated(),
        "parameters": parameter_counts(model),
        "setup": setup_of(model, None, None),
    }


def run_context() -> dict[str, Any]:
    """The CUDA context alone, then with cuBLAS: must run before anything else touches CUDA."""
    import torch

    torch.cuda.init()
    tiny = torch.zeros(1, device="cuda")
    torch.cuda.synchronize()
    uuid = _device_uuid()
    baseline = gpu_driver.pick(_BASELINE, uuid)

    def used() -> tuple[int | None, str]:
        return gpu_driver.used_by_process(gpu_driver.pick(gpu_driver.read_all(), uuid), baseline)

    context, how = used()
    a = torch.randn(1024, 1024, device="cuda", dtype=torch.bfloat16)
    product = a @ a
    torch.cuda.synchronize()
    with_blas, _ = used()
    tensors = sum(t.numel() * t.element_size() for t in (tiny, a, product))
    workspace = max(int(torch.cuda.memory_allocated()) - tensors, 0)  # rounded blocks aside
    return {
        "driver_used_bytes": with_blas,
        "context_bytes": context,
        "context_with_cublas_bytes": with_blas,
        "cublas_workspace_bytes": workspace,
        "allocated_bytes_after_matmul": int(torch.cuda.memory_allocated()),
        "reserved_bytes_after_matmul": int(torch.cuda.memory_reserved()),
        "driver_metric": how,
        "cuda_module_loading": os.environ.get("CUDA_MODULE_LOADING", "(unset: torch sets LAZY)"),
    }


# ----------------------------------------------------------------------------- rows


def _device_uuid() -> str | None:
    import torch

    uuid = getattr(torch.cuda.get_device_properties(0), "uuid", None)
    return str(uuid) if uuid is not None else None


def versions(device: str) -> dict[str, str | None]:
    """Python, torch, transformers, peft (and CUDA, driver) versions of this run."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("torch", "transformers", "peft"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    if device == "cuda":
        import torch

        found["cuda"] = torch.version.cuda
        found.update(gpu_driver.describe())
    return found


def gpu_info(device: str) -> dict[str, Any]:
    if device != "cuda":
        return {"gpu": None}
    import torch

    props = torch.cuda.get_device_properties(0)
    return {"gpu": torch.cuda.get_device_name(0), "gpu_total_bytes": int(props.total_memory)}


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


def measure(spec: specs.Spec, device: str) -> dict[str, Any]:
    """One spec on one device -> one row. Failures are rows too (status oom / error)."""
    import torch

    row = specs.row_header(spec, device)
    row.update(gpu_info(device))
    row["versions"] = versions(device)
    row["metric"] = {"cuda": METRICS_CUDA, "cpu-fake": METRICS_FAKE, "cpu": METRICS_CPU}[device]
    if device != "cuda":
        row["cuda_emulation"] = CUDA_EMULATION
    started = time.monotonic()
    torch.manual_seed(0)
    if device == "cuda" and not isinstance(spec, specs.ContextSpec):
        _release_cuda()
        row["baseline_allocated_bytes"] = int(torch.cuda.memory_allocated())
    try:
        if isinstance(spec, specs.ContextSpec):
            if device != "cuda":
                raise ValueError("context: only meaningful on --device cuda")
            result = run_context()
        else:
            config, _ = specs.load_config(spec.model)
            if spec.tiny:
                config = specs.tiny_config(config)
            with session(device) as sess:
                if isinstance(spec, specs.TrainSpec):
                    result = run_training(sess, spec, config)
                else:
                    result = run_inference(sess, spec, config)
        row.update(status="ok", **result)
    except Exception as exc:  # one failed configuration must not stop a suite
        row.update(status="oom" if _is_oom(exc) else "error",
                   error=f"{type(exc).__name__}: {str(exc)[:2000]}",
                   traceback=traceback.format_exc()[-4000:])
        if device == "cuda":
            row["allocated_peak_before_failure_bytes"] = int(torch.cuda.max_memory_allocated())
        del exc
    if device == "cuda" and not isinstance(spec, specs.ContextSpec):
        torch.cuda.synchronize()
        uuid = _device_uuid()
        used, how = gpu_driver.used_by_process(gpu_driver.pick(gpu_driver.read_all(), uuid),
                                               gpu_driver.pick(_BASELINE, uuid))
        row.update(driver_used_bytes=used, driver_metric=how,
                   alloc_retries=int(torch.cuda.memory_stats().get("num_alloc_retries", 0)))
    row.setdefault("reserved_peak_bytes", None)
    row.setdefault("driver_used_bytes", None)
    row["seconds"] = round(time.monotonic() - started, 2)
    gc.collect()
    if device == "cuda":
        _release_cuda()
    return row


def _release_cuda() -> None:
    """Give cached blocks and cuBLAS workspaces back, so each run starts like a fresh process."""
    import torch

    gc.collect()
    clear = getattr(torch._C, "_cuda_clearCublasWorkspaces", None)
    if clear is not None:
        clear()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()


# ----------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--device", choices=DEVICES, required=True)
        p.add_argument("--out", type=pathlib.Path, help="append the row here (default: stdout)")

    train = sub.add_parser("train", help="two training steps")
    common(train)
    train.add_argument("--model", required=True, choices=specs.list_models())
    train.add_argument("--method", choices=specs.METHODS, default="full")
    train.add_argument("--precision", choices=specs.PRECISIONS, default="bf16")
    train.add_argument("--optimizer-impl", choices=specs.OPTIMIZER_IMPLS, default="foreach")
    train.add_argument("--checkpointing", choices=specs.CHECKPOINTING, default="none")
    train.add_argument("--attention", choices=specs.ATTENTIONS, default="sdpa")
    train.add_argument("--batch", type=int, default=1)
    train.add_argument("--seq", type=int, default=512)
    train.add_argument("--lora-rank", type=int, default=16)
    train.add_argument("--lora-alpha", type=int, default=32)
    train.add_argument("--lora-dropout", type=float, default=0.05)
    train.add_argument("--lora-targets", default="q_proj,v_proj",
                       help="comma-separated module names, or all-linear")
    train.add_argument("--keep-inputs", action="store_true",
                       help="qlora: 4-bit matmuls keep their input (bitsandbytes <= 0.43.1)")
    train.add_argument("--tiny", action="store_true", help="2-layer, 64-wide copy (smoke tests)")

    infer = sub.add_parser("infer", help="bf16 prefill and decode")
    common(infer)
    infer.add_argument("--model", required=True, choices=specs.list_models())
    infer.add_argument("--batch", type=int, default=1)
    infer.add_argument("--context", type=int, default=2048,
                       help="tokens in the KV cache at the end (prompt + new tokens)")
    infer.add_argument("--new-tokens", type=int, default=8)
    infer.add_argument("--attention", choices=specs.ATTENTIONS, default="sdpa")
    infer.add_argument("--tiny", action="store_true")

    context = sub.add_parser("context", help="the bare CUDA context (run in a fresh process)")
    common(context)

    worker = sub.add_parser("worker", help="run a list of specs (used by suite.py)")
    common(worker)
    worker.add_argument("--specs", type=pathlib.Path, required=True, help="JSON list of specs")
    worker.add_argument("--start", type=int, default=0, help="index of the first spec to run")
    return parser


def spec_from_args(args: argparse.Namespace) -> specs.Spec:
    if args.command == "train":
        return specs.TrainSpec(
            model=args.model, method=args.method, precision=args.precision,
            optimizer_impl=args.optimizer_impl, checkpointing=args.checkpointing,
            attention=args.attention, batch=args.batch, seq=args.seq,
            lora_rank=args.lora_rank, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
            lora_targets=specs.parse_lora_targets(args.lora_targets), tiny=args.tiny,
            keep_inputs=args.keep_inputs)
    if args.command == "infer":
        return specs.InferSpec(model=args.model, batch=args.batch, context=args.context,
                               new_tokens=args.new_tokens, attention=args.attention, tiny=args.tiny)
    return specs.ContextSpec()


def emit(row: dict[str, Any], out: pathlib.Path | None) -> None:
    line = json.dumps(row, sort_keys=False)
    if out is None:
        print(line, flush=True)
        return
    with out.open("a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def run_worker(args: argparse.Namespace) -> int:
    """Run specs[start:] in this process, one row each, printing a progress mark after each."""
    items = json.loads(args.specs.read_text(encoding="utf-8"))
    for index in range(args.start, len(items)):
        spec = specs.spec_from_json(items[index])
        print(f"{DONE_MARK} start {index} {spec.id}", flush=True)
        row = measure(spec, args.device)
        emit(row, args.out)
        print(f"{DONE_MARK} end {index} {row['status']} {row['seconds']}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.device == "cuda":
        _BASELINE.extend(gpu_driver.read_all())  # before torch touches CUDA
    import transformers

    transformers.logging.set_verbosity_error()
    # The 5.x API used here (gradient_checkpointing_enable, past_key_values) is what 5.17
    # has; newer 5.x releases warn that they will rename it.
    warnings.filterwarnings("ignore", message=r".*deprecated.*", category=FutureWarning)
    if args.command == "worker":
        return run_worker(args)
    try:
        spec = spec_from_args(args)
    except ValueError as exc:
        print(f"measure.py: {exc}", file=sys.stderr)
        return 2
    row = measure(spec, args.device)
    emit(row, args.out)
    return 0 if row["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
