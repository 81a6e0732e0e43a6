"""Write the golden request/response pairs of tests/data/estimates/ (dev-only).

    python tools/golden.py            # write every <case>.response.json from its request
    python tools/golden.py --check    # exit 1 when a response differs (what the test does)

The requests are the cases below; the responses are what the package answered when the
pair was written. They are regression snapshots: a change that moves a number must say so
in its commit and rewrite the pair on purpose.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import vramcalc  # noqa: E402

OUT = ROOT / "tests" / "data" / "estimates"
FEW = ["rtx-4090", "a100-80gb", "h100-sxm", "m4-max-64gb"]
L8 = {"preset": "meta-llama/Llama-3.1-8B"}


def _inf(model: str, **fields: Any) -> dict[str, Any]:
    return {"mode": "inference", "model": {"preset": model}, "fit_gpus": FEW, **fields}


def _train(model: str, **fields: Any) -> dict[str, Any]:
    return {"mode": "training", "model": {"preset": model}, "fit_gpus": FEW, **fields}


def _config(name: str) -> dict[str, Any]:
    path = ROOT / "tests" / "data" / "configs" / f"{name}.json"
    config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["config"]
    return config


CASES: dict[str, Any] = {
    # transformers inference
    "inf-llama31-8b-default": {"mode": "inference", "model": L8},
    "inf-llama31-8b-8k-4090-all-gpus": {"mode": "inference", "model": L8, "context_length": 8192,
                                         "gpu": "rtx-4090"},
    "inf-llama31-8b-nf4": _inf("meta-llama/Llama-3.1-8B", weight_format="nf4", batch_size=4),
    "inf-llama31-8b-fp16-kv-32k": _inf("meta-llama/Llama-3.1-8B", kv_cache_dtype="fp16",
                                       context_length=32768),
    "err-transformers-fp8-kv": _inf("meta-llama/Llama-3.1-8B", kv_cache_dtype="fp8"),
    "inf-llama31-8b-eager-static": _inf("meta-llama/Llama-3.1-8B", attention="eager",
                                        transformers={"cache": "static"}, context_length=4096),
    "inf-llama31-70b-tp4": _inf("meta-llama/Llama-3.1-70B", parallel={"tensor": 4},
                                gpu="h100-sxm"),
    "inf-qwen3-8b-awq": _inf("Qwen/Qwen3-8B", weight_format="awq-int4", gpu="rtx-4090"),
    "inf-qwen3-30b-a3b-moe": _inf("Qwen/Qwen3-30B-A3B", context_length=16384),
    "inf-deepseek-v3-mla": _inf("deepseek-ai/DeepSeek-V3", context_length=65536),
    "inf-deepseek-v2-lite-eager": _inf("deepseek-ai/DeepSeek-V2-Lite", attention="eager",
                                       context_length=2048, batch_size=2),
    "inf-gemma2-9b-sliding": _inf("google/gemma-2-9b-it", context_length=8192),
    "inf-gemma3-27b-interleaved": _inf("google/gemma-3-27b-it", context_length=131072,
                                       weight_format="int4"),
    "inf-mistral-7b-window-static": _inf("mistralai/Mistral-7B-v0.3", context_length=16384,
                                         transformers={"cache": "static"}),
    "inf-phi3-mini-fused": _inf("microsoft/Phi-3-mini-4k-instruct", context_length=4096,
                                weight_format="fp16"),
    "inf-gpt-oss-20b-mxfp4": _inf("openai/gpt-oss-20b", context_length=32768, gpu="rtx-4090"),
    "inf-llama4-scout": _inf("meta-llama/Llama-4-Scout-17B-16E-Instruct", context_length=8192),
    "inf-falcon-7b-mqa": _inf("tiiuae/falcon-7b", context_length=2048, weight_format="bnb-int8"),
    "inf-gpt2-fp32": _inf("openai-community/gpt2", weight_format="fp32", context_length=1024),
    "inf-config-olmo1": {"mode": "inference", "model": {"config": _config("olmo-1b"),
                                                        "name": "OLMo 1B"}, "fit_gpus": FEW},
    "inf-config-qwen15-moe": {"mode": "inference", "fit_gpus": FEW,
                              "model": {"config": _config("Qwen1.5-MoE-A2.7B")}},
    "inf-beyond-context": _inf("meta-llama/Llama-3.1-8B", context_length=300000),
    "inf-overheads": _inf("Qwen/Qwen3-0.6B", overheads={"cuda_context_bytes": 0,
                                                       "allocator_reserve_fraction": 0.2}),
    "inf-custom-gpu-t4-like": _inf("meta-llama/Llama-3.1-8B", context_length=8192, gpu={
        "name": "Turing 16GB", "memory_bytes": 16 * 2**30, "bandwidth_gb_s": 320,
        "fp16_tflops": 65, "compute_capability": "7.5"}),
    "inf-llamacpp-dgx-spark-offload": _inf("meta-llama/Llama-3.1-70B", engine="llama.cpp",
                                           gpu="dgx-spark", weight_format="Q8_0",
                                           llama_cpp={"n_gpu_layers": 60}),
    # vLLM
    "vllm-llama31-8b-h100": _inf("meta-llama/Llama-3.1-8B", engine="vllm", gpu="h100-sxm",
                                 context_length=32768),
    "vllm-qwen3-8b-4090": _inf("Qwen/Qwen3-8B", engine="vllm", gpu="rtx-4090",
                               vllm={"max_model_len": 32768}),
    "vllm-llama33-70b-tp2-fp8": _inf("meta-llama/Llama-3.3-70B-Instruct", engine="vllm",
                                     gpu="h100-sxm", weight_format="fp8",
                                     parallel={"tensor": 2}, kv_cache_dtype="fp8"),
    "vllm-gemma3-12b-hybrid": _inf("google/gemma-3-12b-it", engine="vllm", gpu="a100-80gb",
                                   context_length=131072),
    "vllm-deepseek-v2-lite-mla": _inf("deepseek-ai/DeepSeek-V2-Lite", engine="vllm",
                                      gpu="h200", vllm={"gpu_memory_utilization": 0.8,
                                                        "block_size": 64,
                                                        "enforce_eager": True}),
    "vllm-gpt-oss-20b": _inf("openai/gpt-oss-20b", engine="vllm", gpu="h100-sxm",
                             vllm={"max_num_seqs": 256, "max_model_len": 8192}),
    "vllm-too-long": _inf("meta-llama/Llama-3.1-70B", engine="vllm", gpu="a100-80gb",
                          context_length=131072, weight_format="awq-int4"),
    "vllm-overrides": _inf("Qwen/Qwen3-0.6B", engine="vllm", gpu="l4",
                           vllm={"max_num_batched_tokens": 4096, "cuda_graph_bytes": 0,
                                 "non_torch_bytes": 0, "device_memory_bytes": 23000000000}),
    # llama.cpp
    "llamacpp-llama31-8b-q4km": _inf("meta-llama/Llama-3.1-8B", engine="llama.cpp",
                                     gpu="rtx-4090", context_length=32768),
    "llamacpp-gemma3-12b-partial": _inf("google/gemma-3-12b-it", engine="llama.cpp",
                                        weight_format="Q4_K_M", context_length=32768,
                                        gpu="rtx-3060-12gb",
                                        llama_cpp={"n_gpu_layers": 30}),
    "llamacpp-qwen3-30b-q8-nofa": _inf("Qwen/Qwen3-30B-A3B", engine="llama.cpp",
                                       weight_format="Q8_0", context_length=8192,
                                       llama_cpp={"flash_attn": False, "n_ubatch": 256}),
    "llamacpp-qkv-quant": _inf("meta-llama/Llama-3.1-8B", engine="llama.cpp",
                               weight_format="IQ4_XS", gpu="rtx-4060-ti-16gb",
                               llama_cpp={"cache_type_k": "q8_0", "cache_type_v": "q4_0",
                                          "n_ctx": 65536}),
    "llamacpp-deepseek-v2-lite": _inf("deepseek-ai/DeepSeek-V2-Lite", engine="llama.cpp",
                                      weight_format="Q6_K", llama_cpp={"n_gpu_layers": 0}),
    "llamacpp-bf16-as-gguf": _inf("Qwen/Qwen3-0.6B", engine="llama.cpp", weight_format="bf16"),
    # training
    "train-llama31-8b-default": {"mode": "training", "model": L8},
    "train-llama31-8b-lora-4090": {"mode": "training", "model": L8, "gpu": "rtx-4090",
                                   "method": "lora", "micro_batch_size": 4,
                                   "sequence_length": 2048},
    "train-llama31-8b-qlora": _train("meta-llama/Llama-3.1-8B", method="qlora",
                                     micro_batch_size=2, sequence_length=2048),
    "train-qwen25-7b-qlora-fp4-nodq": _train("Qwen/Qwen2.5-7B", method="qlora",
                                             qlora={"quant_type": "fp4",
                                                    "double_quant": False},
                                             lora={"rank": 64, "target_modules": "all-linear"}),
    "train-qwen3-0.6b-full-fp32": _train("Qwen/Qwen3-0.6B", precision="fp32",
                                         micro_batch_size=8, sequence_length=1024),
    "train-qwen3-1.7b-bf16-ckpt": _train("Qwen/Qwen3-1.7B", precision="bf16",
                                         gradient_checkpointing="full", micro_batch_size=4,
                                         gradient_accumulation_steps=8),
    "train-llama32-3b-eager-selective": _train("meta-llama/Llama-3.2-3B", attention="eager",
                                               gradient_checkpointing="selective"),
    "train-gpt2-full": _train("openai-community/gpt2", micro_batch_size=8,
                              sequence_length=1024),
    "train-llama31-70b-deepspeed-z3": _train("meta-llama/Llama-3.1-70B", framework="deepspeed",
                                             parallel={"data": 8, "zero_stage": 3,
                                                       "offload_optimizer": True},
                                             gradient_checkpointing="full"),
    "train-llama31-8b-megatron-tp-pp": _train("meta-llama/Llama-3.1-8B", framework="megatron",
                                              parallel={"tensor": 2, "pipeline": 2, "data": 2},
                                              micro_batch_size=2, sequence_length=4096),
    "train-torchtune-lora-chunked": _train("meta-llama/Llama-3.2-3B", framework="torchtune",
                                           method="lora", loss="chunked",
                                           optimizer_in_backward=False),
    "train-unsloth-qlora": _train("meta-llama/Llama-3.1-8B", framework="unsloth",
                                  method="qlora", sequence_length=8192),
    "train-adafactor-lion": _train("Qwen/Qwen2.5-0.5B", optimizer="adafactor"),
    "train-8bit-paged": _train("Qwen/Qwen2.5-1.5B-Instruct", optimizer="paged_adamw_8bit",
                               optimizer_implementation="forloop"),
    "train-oib-fused-loss": _train("Qwen/Qwen2.5-3B", framework="torchtune",
                                   optimizer_in_backward=True, loss="fused",
                                   gradient_checkpointing="offloaded"),
    "train-mixtral-moe-lora": _train("mistralai/Mixtral-8x7B-v0.1", method="lora",
                                     lora={"target_modules": ["q_proj", "v_proj", "experts"]}),
    "train-deepseek-v2-lite-mla": _train("deepseek-ai/DeepSeek-V2-Lite", method="lora",
                                         gradient_checkpointing="full"),
    "train-gemma2-2b-ddp-fp16": _train("google/gemma-2-2b-it", precision="mixed_fp16",
                                       parallel={"data": 4}),
    "train-phi3-sgd-momentum": _train("microsoft/Phi-3-mini-4k-instruct", optimizer="sgd",
                                      momentum=0.9, precision="bf16"),
    # errors
    "err-not-an-object": [1, 2, 3],
    "err-no-model": {"mode": "inference"},
    "err-unknown-preset": {"mode": "inference", "model": {"preset": "nope/nope"}},
    "err-many": {"mode": "inference", "model": L8, "batch_size": 0, "context_length": "x",
                 "weight_format": "q9", "gpu": "gtx-280", "bogus": 1, "parallel": {"tensor": 3}},
    "err-vllm-no-gpu": {"mode": "inference", "model": L8, "engine": "vllm",
                        "vllm": {"block_size": 7}},
    "err-training": {"mode": "training", "model": L8, "method": "lora", "qlora": {},
                     "lora": {"target_modules": ["c_attn"]},
                     "parallel": {"offload_optimizer": True, "pipeline": 100}},
    "err-llamacpp": {"mode": "inference", "model": L8, "engine": "llama.cpp",
                     "weight_format": "awq-int4", "parallel": {"tensor": 2},
                     "llama_cpp": {"flash_attn": False, "cache_type_v": "q8_0"},
                     "vllm": {}},
    "err-bad-config": {"mode": "inference", "model": {"config": {"model_type": "llama"}}},
}


def _dump(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare, write nothing")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, req in CASES.items():
        response = _dump(vramcalc.estimate(req))
        req_path, resp_path = OUT / f"{name}.request.json", OUT / f"{name}.response.json"
        if args.check:
            if not resp_path.exists() or resp_path.read_text(encoding="utf-8") != response:
                changed.append(name)
            continue
        req_path.write_text(_dump(req), encoding="utf-8")
        resp_path.write_text(response, encoding="utf-8")
    if changed:
        print("differ:", ", ".join(changed))
        return 1
    print(f"{len(CASES)} cases {'match' if args.check else 'written'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
