"""Host memory (vramcalc/host.py, `details.host_memory`): resident, loading peak, download."""

from __future__ import annotations

from typing import Any

import vramcalc
from vramcalc import architecture, catalogs, formats, host
from vramcalc.errors import Collector

L8 = {"preset": "meta-llama/Llama-3.1-8B"}
P8 = 8_030_261_248  # Llama 3.1 8B's parameters
EMBED = 128_256 * 4_096  # its largest tensor (token embedding, lm_head alike)


def host_memory(**fields: Any) -> dict[str, Any]:
    req = {"mode": "inference", "model": L8, "fit_gpus": [], **fields}
    found: dict[str, Any] = vramcalc.estimate_or_raise(req)["details"]["host_memory"]
    return found


def test_transformers_loads_one_shard_of_a_bf16_checkpoint() -> None:
    h = host_memory()
    assert h["resident_bytes"] == 0 and h["resident"] == []
    assert h["download_bytes"] == 2 * P8  # bf16: 2 bytes per parameter, as stored
    assert h["load_peak_bytes"] == 5 * 10**9  # save_pretrained's 5 GB shards
    assert h["load"]["label"] == "One checkpoint shard"


def test_a_small_checkpoint_is_one_shard() -> None:
    h = host_memory(model={"preset": "Qwen/Qwen2.5-0.5B"})
    assert h["load_peak_bytes"] == h["download_bytes"] < 5 * 10**9


def test_vllm_loads_one_tensor_at_a_time() -> None:
    h = host_memory(engine="vllm", gpu="h100-sxm")
    assert h["load_peak_bytes"] == 2 * EMBED == 1_050_673_152
    assert h["download_bytes"] == 2 * P8


def test_the_download_is_the_checkpoint_whatever_the_weights_run_in() -> None:
    # bitsandbytes quantizes a bf16 download while loading; vLLM downcasts an fp32 one
    assert host_memory(weight_format="nf4")["download_bytes"] == 2 * P8
    config = {**catalogs.presets()["meta-llama/Llama-3.1-8B"]["config"],
              "torch_dtype": "float32"}
    h = host_memory(model={"config": config}, engine="vllm", gpu="h100-sxm")
    assert h["download_bytes"] == 4 * P8
    assert h["load_peak_bytes"] == 4 * EMBED


def test_llama_cpp_keeps_its_cpu_side_in_host_memory() -> None:
    r = vramcalc.estimate_or_raise({"mode": "inference", "model": {"preset":
                                    "meta-llama/Llama-3.1-70B"}, "engine": "llama.cpp",
                                    "gpu": "rtx-4090", "llama_cpp": {"n_gpu_layers": 40},
                                    "fit_gpus": []})
    h, llama = r["details"]["host_memory"], r["details"]["llama_cpp"]
    assert {p["name"]: p["bytes"] for p in h["resident"]} == llama["cpu"]
    assert h["resident_bytes"] == llama["cpu_bytes"]
    assert h["download_bytes"] == h["load_peak_bytes"] == llama["model_file_bytes"]


def test_training_offload_is_resident_per_gpu_process() -> None:
    r = vramcalc.estimate_or_raise({
        "mode": "training", "model": L8, "fit_gpus": [], "micro_batch_size": 2,
        "sequence_length": 1024, "gradient_checkpointing": "offloaded",
        "parallel": {"data": 2, "zero_stage": 2, "offload_optimizer": True}})
    h, cpu = r["details"]["host_memory"], r["details"]["cpu_memory_bytes"]
    parts = {p["name"]: p["bytes"] for p in h["resident"]}
    per_token = cpu["offloaded_activations_per_token"]
    assert parts == {"optimizer_states": cpu["optimizer_states"],
                     "master_weights": cpu["master_weights"],
                     "fp32_gradients": cpu["fp32_gradients"],
                     "offloaded_activations": per_token * 2 * 1024}
    assert h["resident_bytes"] == sum(parts.values())
    assert h["download_bytes"] == 2 * P8


def test_the_largest_tensor_of_stacked_experts_is_one_stack() -> None:
    config = catalogs.presets()["openai/gpt-oss-20b"]["config"]
    spec = architecture.from_config(config, Collector(), path="model")
    assert spec is not None
    fmt = host.stored_format(config, spec)
    assert fmt.id == "mxfp4"
    # one layer's stacked experts, not the model's: 24 layers hold them
    biggest = host.largest_tensor_bytes(fmt, spec)
    assert 0 < biggest < formats.weights_bytes(fmt, spec) // 10
