"""Command line: `vramcalc estimate REQUEST.json` or a shortcut with flags (presentation only).

Every JSON input (a request file or stdin, `--config`, `--set` values) is read within the
package's bounds (vramcalc.jsonin); bad input ends with exit status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from . import catalog, estimate, fit_changes, jsonin
from ._version import __version__
from .units import natural_size, parse_size

EXIT_BAD_INPUT = 2
EXIT_BROKEN_PIPE = 1  # stdout closed early (`| head -1`), as the Python docs' recipe exits
EXIT_NOT_FIT = 3  # estimate --fail-if-not-fit: the request does not fit the selected GPU
ESTIMATE_EPILOG = (
    f"exit status: 0 on success, {EXIT_BAD_INPUT} for bad input (one line per problem on "
    f"stderr), {EXIT_NOT_FIT} with --fail-if-not-fit when the request does not fit the "
    "selected GPU (its fit row says fits: false)")
BATCH_SIZE_REFUSED = (
    "--batch-size is ambiguous: use --batch for the batch size (training: the micro batch "
    "size) or --n-batch for llama.cpp's logical batch (-b)")
# training flags -> request fields (dotted); any of them implies --mode training
TRAINING_FLAGS = (
    ("method", "method"), ("framework", "framework"), ("precision", "precision"),
    ("optimizer", "optimizer"), ("checkpointing", "gradient_checkpointing"), ("loss", "loss"),
    ("micro_batch", "micro_batch_size"), ("seq", "sequence_length"),
    ("grad_accum", "gradient_accumulation_steps"), ("lora_rank", "lora.rank"),
    ("lora_alpha", "lora.alpha"), ("lora_targets", "lora.target_modules"),
    ("zero", "parallel.zero_stage"), ("dp", "parallel.data"),
    ("offload_optimizer", "parallel.offload_optimizer"),
)
# --gpu-* flags -> the fields of a GPU the request describes
GPU_FLAGS = (("gpu_name", "name"), ("gpu_memory", "memory_bytes"),
             ("gpu_bandwidth", "bandwidth_gb_s"), ("gpu_tflops", "fp16_tflops"),
             ("gpu_compute_capability", "compute_capability"))
HINTS = {
    "model.preset": "`vramcalc models` lists the presets; --hf OWNER/NAME reads any model's "
                    "config.json from the Hugging Face Hub, --config PATH a local one",
    "gpu": "`vramcalc gpus` lists the GPUs; --gpu-memory 24GiB (with --gpu-bandwidth, "
           "--gpu-tflops) describes one the catalog lacks",
}
TOKEN_FLAG_WARNING = ("vramcalc: warning: --token is visible to other users in `ps` and in "
                      "shell history; set HF_TOKEN instead\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vramcalc",
        description="GPU memory for LLM training, fine-tuning and inference, "
        "from the model's real architecture.",
    )
    parser.add_argument("--version", action="version", version=f"vramcalc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    est = sub.add_parser(
        "estimate",
        help="estimate memory for a request",
        description="Estimate memory. Give a request file (JSON, '-' for stdin) or build the "
        "request from flags. Any request field can be set with --set FIELD=VALUE "
        "(dotted path, JSON value), e.g. --set lora.rank=16.",
        epilog=ESTIMATE_EPILOG,
    )
    est.add_argument("request", nargs="?", help="request JSON file, or - for stdin")
    est.add_argument("--json", action="store_true", help="print the JSON response")
    est.add_argument("--mode", choices=("inference", "training"), help="default: inference")
    model = est.add_mutually_exclusive_group()
    model.add_argument("--preset", "-m", help="catalog model id, e.g. meta-llama/Llama-3.1-8B")
    model.add_argument("--config", type=Path, help="path to a model's config.json")
    model.add_argument("--hf", metavar="MODEL_ID",
                       help="fetch config.json from the Hugging Face Hub, e.g. Qwen/Qwen3-8B")
    model.add_argument("--ollama", metavar="NAME",
                       help="an Ollama model name, e.g. llama3.1:8b (its preset and tag file)")
    est.add_argument("--token", help="Hugging Face token for gated models (default: $HF_TOKEN, "
                     "else the token file of `hf auth login`; a flag shows in `ps`)")
    est.add_argument("--revision", default="main", help="Hub branch, tag or commit (--hf)")
    est.add_argument("--batch", type=int, help="batch size (training: micro batch size)")
    est.add_argument("--batch-size", dest="batch_size_refused", metavar="N",
                     help=argparse.SUPPRESS)  # refused by name: see BATCH_SIZE_REFUSED
    est.add_argument("--context", type=int, help="context length (training: sequence length)")
    est.add_argument("--generated-tokens", type=int, metavar="N",
                     help="tokens generated after the prompt, out of --context (default 0: "
                     "the prompt fills the context)")
    est.add_argument("--all-logits", action="store_true",
                     help="a plain forward returning every position's logits (evaluation, "
                     "scoring) instead of generate()'s last position")
    est.add_argument("--weight-format", help="bf16, fp8, nf4, awq-int4, Q4_K_M, ...")
    est.add_argument("--kv-cache-dtype", help="bf16, fp8, q8_0, ...")
    est.add_argument("--engine", help="transformers (default), vllm, llama.cpp")
    est.add_argument("--tensor-parallel-size", "--tp", type=int, dest="tp",
                     help="tensor-parallel GPUs (parallel.tensor)")
    est.add_argument("--pipeline-parallel-size", "--pp", type=int, dest="pp",
                     help="pipeline stages (parallel.pipeline: vLLM, training)")
    tf = est.add_argument_group("transformers engine")
    tf.add_argument("--cache", choices=("dynamic", "static"), help="KV cache class")
    tf.add_argument("--attention", choices=("sdpa", "eager"), help="attention implementation")
    vl = est.add_argument_group("vllm engine (vllm serve flags)")
    vl.add_argument("--gpu-memory-utilization", type=float)
    vl.add_argument("--max-model-len", type=int)
    vl.add_argument("--max-num-seqs", type=int)
    vl.add_argument("--max-num-batched-tokens", type=int)
    vl.add_argument("--block-size", type=int)
    vl.add_argument("--enforce-eager", action="store_true", default=None,
                    help="no CUDA graphs")
    lc = est.add_argument_group("llama.cpp engine (llama-server flags)")
    lc.add_argument("--n-ctx", "--ctx-size", type=int, dest="n_ctx")
    lc.add_argument("--n-gpu-layers", "-ngl", type=int, dest="n_gpu_layers",
                    help="layers on the GPU (-1: all)")
    lc.add_argument("--n-batch", type=int, dest="n_batch",
                    help="llama.cpp's logical batch, -b (the batch size is --batch)")
    lc.add_argument("--n-ubatch", "--ubatch-size", type=int, dest="n_ubatch")
    lc.add_argument("--cache-type-k", "-ctk")
    lc.add_argument("--cache-type-v", "-ctv")
    lc.add_argument("--flash-attn", "-fa", choices=("on", "off"))
    sg = est.add_argument_group("sglang engine (sglang.launch_server flags)")
    sg.add_argument("--mem-fraction-static", type=float)
    sg.add_argument("--context-length", type=int, dest="sglang_context_length")
    sg.add_argument("--max-running-requests", type=int)
    sg.add_argument("--max-total-tokens", type=int)
    sg.add_argument("--chunked-prefill-size", type=int)
    sg.add_argument("--cuda-graph-max-bs", type=int)
    sg.add_argument("--disable-cuda-graph", action="store_true", default=None)
    sg.add_argument("--page-size", type=int)
    sg.add_argument("--disable-radix-cache", action="store_true", default=None)
    ol = est.add_argument_group("ollama engine (model options, OLLAMA_* variables)")
    ol.add_argument("--num-ctx", type=int)
    ol.add_argument("--num-parallel", type=int, help="OLLAMA_NUM_PARALLEL")
    ol.add_argument("--kv-cache-type", help="OLLAMA_KV_CACHE_TYPE: f16, q8_0, q4_0")
    ol.add_argument("--flash-attention", choices=("on", "off"), help="OLLAMA_FLASH_ATTENTION")
    ol.add_argument("--num-gpu", type=int, help="layers on the GPU (-1: as many as fit)")
    tr = est.add_argument_group("training (any of these implies --mode training)")
    tr.add_argument("--method", help="full, lora, qlora")
    tr.add_argument("--framework", help="hf_trainer (default), torchtune, unsloth, deepspeed, "
                    "megatron, litgpt: its defaults fill what is not given")
    tr.add_argument("--precision", help="fp32, mixed_bf16, bf16, mixed_fp16")
    tr.add_argument("--optimizer", help="adamw, adamw_8bit, paged_adamw_8bit, sgd, adafactor, "
                    "...")
    tr.add_argument("--checkpointing", help="gradient checkpointing: none, full, selective, "
                    "offloaded")
    tr.add_argument("--loss", help="standard, chunked, fused")
    tr.add_argument("--micro-batch", type=int, metavar="N", help="micro batch size per GPU")
    tr.add_argument("--seq", "--sequence-length", type=int, dest="seq", metavar="N",
                    help="sequence length")
    tr.add_argument("--grad-accum", type=int, metavar="N",
                    help="gradient accumulation steps")
    tr.add_argument("--lora-rank", type=int, metavar="R")
    tr.add_argument("--lora-alpha", type=float, metavar="A")
    tr.add_argument("--lora-targets", metavar="NAMES",
                    help="comma-separated module names (q_proj,v_proj) or all-linear")
    tr.add_argument("--zero", type=int, metavar="STAGE", help="ZeRO stage 0-3")
    tr.add_argument("--data-parallel", "--dp", type=int, dest="dp", metavar="N",
                    help="data-parallel GPUs (parallel.data)")
    tr.add_argument("--offload-optimizer", action="store_true", default=None,
                    help="ZeRO-Offload: optimizer states in CPU memory (needs --zero 1-3)")
    gp = est.add_argument_group("GPU: a catalog id, or one the catalog lacks")
    gp.add_argument("--gpu", help="GPU id, e.g. rtx-4090 (see `vramcalc gpus`)")
    gp.add_argument("--gpu-memory", metavar="SIZE",
                    help="describe a GPU instead: its memory with a unit, 24GiB or 24GB")
    gp.add_argument("--gpu-bandwidth", type=float, metavar="GB/S",
                    help="its memory bandwidth (for the speed bound)")
    gp.add_argument("--gpu-tflops", type=float, metavar="TFLOPS",
                    help="its dense 16-bit tensor TFLOPS (for the speed bound)")
    gp.add_argument("--gpu-name", metavar="NAME", help="its name in the fit table")
    gp.add_argument("--gpu-compute-capability", metavar="X.Y",
                    help="its CUDA compute capability (NVIDIA)")
    est.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                     help="set any request field (repeatable)")

    _fit_parser(sub, est)
    est.add_argument("--fail-if-not-fit", action="store_true",
                     help=f"exit with status {EXIT_NOT_FIT} when the request does not fit the "
                     "selected GPU (--gpu or --gpu-memory)")
    sub.add_parser("models", help="list the model presets with their parameter counts")
    sub.add_parser("gpus", help="list the GPU catalog")
    return parser


class _BadInput(Exception):
    pass


def _set_path(request: dict[str, Any], dotted: str, value: Any) -> None:
    node = request
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise _BadInput(f"--set {dotted}: {part} is not an object")
        node = child
    node[parts[-1]] = value


def _read_json(source: str) -> Any:
    """The JSON in file `source` ("-": stdin), read within jsonin's bounds."""
    try:
        if source == "-":
            stream: Any = getattr(sys.stdin, "buffer", sys.stdin)
            data = stream.read(jsonin.MAX_BYTES + 1)  # one more: too large is refused
            what = "the request on stdin"
        else:
            with open(source, "rb") as handle:
                data = handle.read(jsonin.MAX_BYTES + 1)
            what = source
    except OSError as exc:
        raise _BadInput(f"cannot read {source}: {exc.strerror}") from None
    try:
        return jsonin.loads(data, what=what)
    except jsonin.JSONInputError as exc:
        raise _BadInput(exc.message) from None


def _request_from_args(args: argparse.Namespace) -> dict[str, Any]:
    if args.batch_size_refused is not None:
        raise _BadInput(BATCH_SIZE_REFUSED)
    if args.request:
        request = _read_json(args.request)
        if not isinstance(request, dict):
            raise _BadInput(f"{args.request}: the request must be a JSON object")
    else:
        request = {}
    training_flags = [f"--{flag.replace('_', '-')}" for flag, _ in TRAINING_FLAGS
                      if getattr(args, flag) is not None]
    if training_flags and args.mode == "inference":
        raise _BadInput(f"{', '.join(training_flags)}: training flags, but --mode is inference")
    mode = args.mode or ("training" if training_flags else None) or request.get("mode") \
        or "inference"
    request["mode"] = mode
    if args.preset:
        request["model"] = {"preset": args.preset}
    elif args.config:
        config = _read_json(str(args.config))
        request["model"] = {"config": config, "name": args.config.parent.name or "config"}
    elif args.hf:
        request["model"] = {"config": _hub_config(args), "name": args.hf}
        stored = _hub_checkpoint_bytes(args)
        if stored is not None:
            request["model"]["checkpoint_bytes"] = stored
    elif args.ollama:
        request["model"] = {"ollama": args.ollama}
    elif "model" not in request:
        request["model"] = {"preset": "meta-llama/Llama-3.1-8B"}
    training = mode == "training"
    if args.batch is not None:
        request["micro_batch_size" if training else "batch_size"] = args.batch
    if args.context is not None:
        request["sequence_length" if training else "context_length"] = args.context
    if args.generated_tokens is not None:
        request["generated_tokens"] = args.generated_tokens
    if args.all_logits:
        request["logits"] = "all"
    for flag, key in (("weight_format", "weight_format"), ("kv_cache_dtype", "kv_cache_dtype"),
                      ("engine", "engine"), ("gpu", "gpu")):
        value = getattr(args, flag)
        if value is not None:
            request[key] = value
    _gpu_from_args(args, request)
    for flag, field in TRAINING_FLAGS:
        value = getattr(args, flag)
        if flag == "lora_targets" and value is not None:
            value = value if value == "all-linear" else [x.strip() for x in value.split(",")]
        if value is not None:
            _set_path(request, field, value)
    if args.tp is not None:
        request.setdefault("parallel", {})["tensor"] = args.tp
    if args.pp is not None:
        request.setdefault("parallel", {})["pipeline"] = args.pp
    options = {
        "transformers": (("cache", args.cache),),
        "vllm": (("gpu_memory_utilization", args.gpu_memory_utilization),
                 ("max_model_len", args.max_model_len), ("max_num_seqs", args.max_num_seqs),
                 ("max_num_batched_tokens", args.max_num_batched_tokens),
                 ("block_size", args.block_size), ("enforce_eager", args.enforce_eager)),
        "llama_cpp": (("n_ctx", args.n_ctx), ("n_gpu_layers", args.n_gpu_layers),
                      ("n_batch", args.n_batch), ("n_ubatch", args.n_ubatch),
                      ("cache_type_k", args.cache_type_k), ("cache_type_v", args.cache_type_v),
                      ("flash_attn", None if args.flash_attn is None
                       else args.flash_attn == "on")),
        "sglang": (("mem_fraction_static", args.mem_fraction_static),
                   ("context_length", args.sglang_context_length),
                   ("max_running_requests", args.max_running_requests),
                   ("max_total_tokens", args.max_total_tokens),
                   ("chunked_prefill_size", args.chunked_prefill_size),
                   ("cuda_graph_max_bs", args.cuda_graph_max_bs),
                   ("disable_cuda_graph", args.disable_cuda_graph),
                   ("page_size", args.page_size),
                   ("disable_radix_cache", args.disable_radix_cache)),
        "ollama": (("num_ctx", args.num_ctx), ("num_parallel", args.num_parallel),
                   ("kv_cache_type", args.kv_cache_type),
                   ("flash_attention", None if args.flash_attention is None
                    else args.flash_attention == "on"), ("num_gpu", args.num_gpu)),
    }
    for section, pairs in options.items():
        for key, value in pairs:
            if value is not None:
                request.setdefault(section, {})[key] = value
    if args.attention is not None:
        request["attention"] = args.attention
    for item in args.set:
        field, sep, raw = item.partition("=")
        if not sep or not field:
            raise _BadInput(f"--set needs FIELD=VALUE, got {item!r}")
        try:
            value = jsonin.loads(raw, what=f"--set {field}")
        except jsonin.JSONInputError as exc:
            if exc.reason != "not_json":  # too deep or too large
                raise _BadInput(exc.message) from None
            value = raw  # a bare word is a string: --set engine=vllm
        _set_path(request, field, value)
    return request


def _gpu_from_args(args: argparse.Namespace, request: dict[str, Any]) -> None:
    """--gpu-memory and the other --gpu-* flags: a GPU the catalog lacks, as an object (added
    to one the request file describes)."""
    given = [(field, getattr(args, flag)) for flag, field in GPU_FLAGS
             if getattr(args, flag) is not None]
    if not given:
        return
    if args.gpu is not None:
        raise _BadInput("--gpu names a catalog GPU and --gpu-memory (with the other --gpu-* "
                        "flags) describes another: give one or the other")
    gpu = request.get("gpu")
    gpu = dict(gpu) if isinstance(gpu, dict) else {}
    for field, value in given:
        if field == "memory_bytes":
            try:
                value = parse_size(value)
            except ValueError as exc:
                raise _BadInput(f"--gpu-memory: {exc}") from None
        gpu[field] = value
    request["gpu"] = gpu


def _hub_config(args: argparse.Namespace) -> dict[str, Any]:
    """config.json from the Hub (network); failures become one clear line."""
    from .hub import HubError, fetch_config

    try:
        return fetch_config(args.hf, token=_token(args), revision=args.revision)
    except HubError as exc:
        raise _BadInput(str(exc)) from None


def _hub_checkpoint_bytes(args: argparse.Namespace) -> int | None:
    """The checkpoint's stored tensor bytes (its safetensors index or header), for the
    cross-check beside the architecture's count; None when the Hub does not say."""
    from . import hub

    return hub.fetch_checkpoint_bytes(args.hf, token=_token(args), revision=args.revision)


def _token(args: argparse.Namespace) -> str | None:
    """--token, else $HF_TOKEN, else the token file huggingface_hub reads."""
    from .hub import find_token, token_path

    if args.token:
        return str(args.token)
    try:
        return find_token(os.environ)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise _BadInput(f"cannot read the Hugging Face token file "
                        f"{token_path(os.environ)}: {reason}") from None


def _gib(n: int) -> str:
    return natural_size(n)


def _print_table(response: dict[str, Any]) -> None:
    out = sys.stdout.write
    model = response["model"]
    params = response["parameters"]
    out(f"{model['name']} ({model['model_type']}): {params['total']:,} parameters"
        + (f", {params['active']:,} active" if params["active"] != params["total"] else "")
        + (f", {params['trainable']:,} trainable" if params["trainable"] else "") + "\n")
    out(f"mode: {response['mode']}, peak in phase: {response['peak_phase']}\n\n")
    # an overhead of 0 bytes is not printed (no CUDA context on Apple GPUs, no CUDA graphs)
    shown = [c for c in response["components"] if c["bytes"] or c["kind"] != "overhead"]
    width = max(len(c["label"]) for c in shown)
    for comp in shown:
        out(f"  {comp['label']:<{width}}  {_gib(comp['bytes']):>12}   {comp['formula']}\n")
    out(f"  {'Total':<{width}}  {_gib(response['total_bytes']):>12}   "
        f"({response['total_bytes'] / 1e9:.2f} GB; tensors alone "
        f"{_gib(response['allocated_bytes'])})\n")
    for warning in response["warnings"]:
        out(f"\nwarning: {warning['message']}\n")
    _print_engine(response["details"])
    _print_host(response["details"].get("host_memory"))
    rows = response["fit"]["gpus"]
    selected = response["fit"]["selected"]
    if selected:
        rows = [r for r in rows if r["gpu"] == selected] or rows
    if rows:
        out("\n  GPU                               memory     fits   headroom  max batch"
            "  max context  GPUs for weights  GPUs needed\n")
        for r in rows:
            out(f"  {r['name'][:32]:<32} {_gib(r['usable_bytes']):>10}  "
                f"{'yes' if r['fits'] else 'no':>4} {_gib(r['headroom_bytes']):>11}"
                f"  {r['max_batch_size']:>9}  {r['max_context_length']:>11}"
                f"  {r['gpus_for_weights']:>16}  {_needed(r)}\n")


def _needed(row: dict[str, Any]) -> str:
    """'8 (TP 8)', '16 (DP 16, ZeRO-3)', '1', or '-' when no layout tried fits."""
    count, layout = row.get("gpus_needed"), row.get("layout") or {}
    if count is None:
        return "-"
    parts = [f"{name} {layout[key]}" for key, name in (("data", "DP"), ("tensor", "TP"),
                                                        ("pipeline", "PP"))
             if layout.get(key, 1) > 1]
    if layout.get("data", 1) > 1 and layout.get("zero_stage"):
        parts.append(f"ZeRO-{layout['zero_stage']}")
    return f"{count} ({', '.join(parts)})" if parts else str(count)


def _print_host(host: dict[str, Any] | None) -> None:
    """Host (CPU) memory: what stays resident, the loading peak and the download."""
    if not host:
        return
    parts = ", ".join(f"{p['label'].lower()} {_gib(p['bytes'])}" for p in host["resident"]
                      if p["bytes"])
    sys.stdout.write(
        f"\nhost memory (per process): {_gib(host['resident_bytes'])} resident"
        + (f" ({parts})" if parts else "")
        + f"; loading peaks at {_gib(host['load_peak_bytes'])} "
        f"({host['load']['label'].lower()}); download {_gib(host['download_bytes'])}\n")


def _print_engine(details: dict[str, Any]) -> None:
    out = sys.stdout.write
    vllm = details.get("vllm")
    if vllm:
        out(f"\nvLLM {vllm['version']}: max_model_len {vllm['max_model_len']:,}, "
            f"max_num_seqs {vllm['max_num_seqs']}, max_num_batched_tokens "
            f"{vllm['max_num_batched_tokens']:,}, block {vllm['block_size']}\n")
        out(f"  KV cache: {vllm['kv_cache_tokens']:,} tokens "
            f"({_gib(max(vllm['available_kv_cache_bytes'], 0))}), maximum concurrency at "
            f"{vllm['max_model_len']:,} tokens: {vllm['max_concurrency']:.2f}x\n")
        out(f"  largest max_model_len that fits: {vllm['max_model_len_that_fits']:,}\n")
        if vllm["error"]:
            out(f"  vLLM would stop with: {vllm['error']}\n")
    llama = details.get("llama_cpp")
    if llama:
        out(f"\nllama.cpp: n_ctx {llama['n_ctx']:,}, -ngl {llama['n_gpu_layers']} of "
            f"{llama['n_layer'] + 1} (incl. output), flash attention "
            f"{'on' if llama['flash_attn'] else 'off'}\n")
        out(f"  GPU {_gib(llama['gpu_bytes'])}, CPU {_gib(llama['cpu_bytes'])}"
            f" (GGUF weights {_gib(llama['model_file_bytes'])})\n")
        if llama["max_n_gpu_layers"] is not None:
            out(f"  largest -ngl that fits the selected GPU: {llama['max_n_gpu_layers']}\n")
    sp = details.get("speed")
    if sp:
        dec, pre = sp["decode"], sp["prefill"]
        out(f"\nspeed ({sp['bound']} bound on {sp['gpu']}, batch {sp['batch_size']}, "
            f"context {sp['context_length']:,}): decode <= {dec['tokens_per_s_per_sequence']:,}"
            f" tokens/s per sequence ({dec['tokens_per_s_total']:,} total, "
            f"{dec['limited_by']}-bound); prefill <= {pre['tokens_per_s']:,} tokens/s, "
            f"time to first token >= {pre['time_to_first_token_s']} s\n")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; a reader that stops early (`| head -1`) ends it quietly."""
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
    except BrokenPipeError:
        # The Python docs' recipe (signal module, "Note on SIGPIPE"): point stdout at
        # devnull so that the flush at interpreter exit does not fail again, then exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "models":
        for preset in catalog()["presets"]:
            total, active = preset["parameters"], preset["active_parameters"]
            size = _count(total) + (f" ({_count(active)} active)" if active != total else "")
            sys.stdout.write(f"{preset['id']:<50} {preset['name']:<34} {size}\n")
        return 0
    if args.command == "gpus":
        for gpu in catalog()["gpus"]:
            usable = ("" if gpu["usable_fraction"] == 1 else
                      f"  ({gpu['kind']}: {natural_size(gpu['usable_bytes'])} usable)")
            bandwidth = f"{gpu['bandwidth_gb_s']:,} GB/s"
            sys.stdout.write(f"{gpu['id']:<22} {gpu['name']:<44} "
                             f"{natural_size(gpu['memory_bytes']):>11} {bandwidth:>12}"
                             f"{usable}\n")
        return 0
    if args.token:
        sys.stderr.write(TOKEN_FLAG_WARNING)
    if args.command == "fit":
        return _fit_main(args)
    try:
        request = _request_from_args(args)
    except _BadInput as exc:
        sys.stderr.write(f"vramcalc: {exc}\n")
        return EXIT_BAD_INPUT
    if args.fail_if_not_fit and request.get("gpu") is None:
        sys.stderr.write("vramcalc: --fail-if-not-fit needs a GPU: --gpu ID, or --gpu-memory "
                         "SIZE for one the catalog lacks\n")
        return EXIT_BAD_INPUT
    response = estimate(request)
    if "error" in response:
        if args.json:
            sys.stdout.write(json.dumps(response, indent=2) + "\n")
        _print_problems(response["error"]["problems"])
        return EXIT_BAD_INPUT
    if args.json:
        sys.stdout.write(json.dumps(response, indent=2) + "\n")
    else:
        _print_table(response)
    if args.fail_if_not_fit:
        row = next((r for r in response["fit"]["gpus"]
                    if r["gpu"] == response["fit"]["selected"]), None)
        if row is not None and not row["fits"]:
            sys.stderr.write(f"vramcalc: does not fit {row['name']} "
                             f"({_gib(-row['headroom_bytes'])} short)\n")
            return EXIT_NOT_FIT
    return 0


def _count(n: int) -> str:
    """Parameters in billions or millions: '8.03B', '494M'."""
    return f"{n / 1e9:.2f}B" if n >= 10**9 else f"{n / 1e6:.0f}M"


def _print_problems(problems: list[dict[str, str]]) -> None:
    """One line per problem on stderr, then a hint for an unknown preset or GPU."""
    for problem in problems:
        sys.stderr.write(f"vramcalc: {problem['field'] or 'request'}: {problem['message']}\n")
    for field in dict.fromkeys(p["field"] for p in problems
                               if p["message"].startswith("unknown")):
        if field in HINTS:
            sys.stderr.write(f"vramcalc: hint: {HINTS[field]}\n")


EXIT_NOTHING_FITS = 3  # distinct from bad input (2) and a closed pipe (1)


def _fit_parser(sub: Any, est: argparse.ArgumentParser) -> None:
    """`vramcalc fit`: the estimate command's flags and request file, plus the GPU count."""
    fit = sub.add_parser(
        "fit", parents=[est], add_help=False,
        help="ranked changes that make a request fit its GPU",
        description="Which changes make the request fit on --gpu (or the request file's gpu): "
        "each checked by a full estimate, ranked by what they cost (free, speed, quality, "
        "workload, hardware), or, when it already fits, how much bigger it can run. Build the "
        "request as for `vramcalc estimate`.",
        epilog="exit status: 0 when the request fits or a change that makes it fit was found, "
        f"{EXIT_NOTHING_FITS} when nothing found fits (the closest tries are listed), "
        f"{EXIT_BAD_INPUT} for bad input")
    fit.add_argument("--gpus", type=int, help="how many such GPUs there are (default: "
                     "suggestions may add GPUs: up to 8 for inference, 64 for training)")
    fit.add_argument("--max-evaluations", type=int, help="estimates to try at most "
                     "(default 60)")


def _fit_main(args: argparse.Namespace) -> int:
    """Print the ranked changes (or the JSON answer); the exit status says what was found."""
    try:
        request = _request_from_args(args)
    except _BadInput as exc:
        sys.stderr.write(f"vramcalc: {exc}\n")
        return EXIT_BAD_INPUT
    answer = fit_changes(request, gpus=args.gpus, max_evaluations=args.max_evaluations)
    if args.json:
        sys.stdout.write(json.dumps(answer, indent=2) + "\n")
    if "error" in answer:
        _print_problems(answer["error"]["problems"])
        return EXIT_BAD_INPUT
    if not args.json:
        _print_fit(answer)
    return EXIT_NOTHING_FITS if answer["outcome"] == "nothing_fits" else 0


def _print_fit(answer: dict[str, Any]) -> None:
    out = sys.stdout.write
    target, current = answer["target"], answer["current"]
    usable = ("" if target["usable_bytes"] == target["memory_bytes"]
              else f", {_gib(target['usable_bytes'])} usable")
    head = (f"{answer['model']} on {target['name']} ({_gib(target['memory_bytes'])}{usable}): "
            f"{_gib(current['total_bytes'])}")
    if answer["fits"]:
        out(f"{head}: fits ({_gib(current['headroom_bytes'])} headroom)\n")
        if answer["bigger"]:
            out("\nIt also fits bigger:\n")
        _print_changes(answer["bigger"], "gain")
    elif answer["suggestions"]:
        out(f"{head}: does not fit\n\nChanges that make it fit, cheapest first:\n")
        _print_changes(answer["suggestions"], "cost")
    else:
        out(f"{head}: does not fit, and no change tried fits. The closest:\n")
        _print_changes(answer["closest"], "cost")
    out(f"\n{answer['evaluations']} estimates (at most {answer['max_evaluations']}); ranked by "
        f"{answer['ranking']}\n")


def _fields_text(fields: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in fields.items())


def _print_changes(items: list[dict[str, Any]], words: str) -> None:
    out = sys.stdout.write
    for n, item in enumerate(items, 1):
        cls = f"[{item['cost_class']}] " if "cost_class" in item else ""
        out(f"\n{n:>2}. {cls}{item['label']}\n")
        out(f"    set: {_fields_text(item['changes'])}\n")
        if item["implied"]:
            out(f"    which also sets: {_fields_text(item['implied'])}\n")
        room = (f"{_gib(item['headroom_bytes'])} headroom" if item["fits"]
                else f"{_gib(-item['headroom_bytes'])} short")
        saves = "" if words == "gain" else f"saves {_gib(item['saved_bytes'])}, "
        out(f"    total {_gib(item['total_bytes'])}, {saves}{room}\n")
        out(f"    {words}: {item[words]}\n")
        if item.get("how"):
            out(f"    how: {item['how']}\n")


if __name__ == "__main__":
    sys.exit(main())
