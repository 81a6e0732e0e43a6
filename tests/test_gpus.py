"""The GPU catalog (data/gpus.json, catalogs.GPU) and a GPU a request describes: its fit row,
its speed bound, its problems; what each GPU changes (fp16 on GPUs without bf16, no CUDA
context on Apple GPUs, the chip's bandwidth for llama.cpp's CPU side on unified memory)."""

from __future__ import annotations

import re
from typing import Any

import pytest

import vramcalc
from vramcalc import catalogs
from vramcalc.units import natural_size

L8 = {"preset": "meta-llama/Llama-3.1-8B"}
NEW = ("rtx-3070", "rtx-4060", "rtx-4060-ti-8gb", "rtx-2080-ti", "rtx-3080-12gb",
       "rtx-4070-ti-super", "a40", "v100-32gb", "a100-pcie-40gb", "a100-pcie-80gb", "l40",
       "h20", "gh200", "rx-7900-xtx", "arc-a770-16gb", "arc-b580", "ryzen-ai-max-395-128gb",
       "dgx-spark")
# a GPU of one's own with the RTX 4090's figures
AS_4090 = {"name": "My 4090", "memory_bytes": 25757220864, "bandwidth_gb_s": 1008,
           "bf16_tflops": 165, "compute_capability": "8.9"}


def inference(**fields: Any) -> dict[str, Any]:
    return {"mode": "inference", "model": L8, **fields}


def problems(req: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["field"], p["message"]) for p in vramcalc.estimate(req)["error"]["problems"]]


# --- the catalog ---------------------------------------------------------------------------

def test_the_cards_users_asked_for_are_in_the_catalog() -> None:
    assert set(NEW) <= set(catalogs.gpus())


@pytest.mark.parametrize("gpu_id", NEW)
def test_every_new_entry_cites_a_public_source(gpu_id: str) -> None:
    entry = next(e for e in catalogs.load("gpus.json")["gpus"] if e["id"] == gpu_id)
    assert re.search(r"https://[\w./-]+|[\w-]+/[\w.-]+#\d+", entry["source"]), entry["source"]
    assert entry["memory_source"]


def test_entries_are_consistent() -> None:
    for gpu in catalogs.gpus().values():
        assert gpu.memory_bytes > 0 and 0 < gpu.usable_fraction <= 1, gpu.id
        assert gpu.fp16_tflops and gpu.bandwidth_gb_s, gpu.id
        # a GPU without bf16 has no bf16 figure, and only such GPUs lack one
        assert (gpu.bf16_tflops is None) == (not gpu.bf16), gpu.id
        assert gpu.vendor in ("nvidia", "amd", "intel", "apple"), gpu.id
        assert (gpu.compute_capability is not None) == (gpu.vendor == "nvidia"), gpu.id
        assert (gpu.usable_fraction < 1) == (gpu.kind == "unified"), gpu.id
    assert [g.id for g in catalogs.gpus().values() if not g.bf16] == [
        "t4", "v100-16gb", "v100-32gb", "rtx-2080-ti"]


def test_catalog_lists_the_new_fields() -> None:
    spark = next(g for g in vramcalc.catalog()["gpus"] if g["id"] == "dgx-spark")
    assert spark == {"id": "dgx-spark", "name": "NVIDIA DGX Spark 128GB (GB10)",
                     "vendor": "nvidia", "kind": "unified", "memory_bytes": 128 * 2**30,
                     "usable_fraction": 0.8, "usable_bytes": int(128 * 2**30 * 0.8),
                     "bandwidth_gb_s": 273, "bf16_tflops": 125, "fp16_tflops": 125,
                     "compute_capability": "12.1"}


# --- per-dtype compute: T4 and V100 have no bf16 ---------------------------------------------

@pytest.mark.parametrize(("gpu", "compute"), [
    ("t4", {"dtype": "fp16", "tflops": 65, "bandwidth_gb_s": 320}),
    ("v100-32gb", {"dtype": "fp16", "tflops": 125, "bandwidth_gb_s": 900}),
    ("rtx-2080-ti", {"dtype": "fp16", "tflops": 56.9, "bandwidth_gb_s": 616}),
    ("a100-pcie-80gb", {"dtype": "bf16", "tflops": 312, "bandwidth_gb_s": 1935}),
])
def test_speed_uses_the_tensor_rate_the_gpu_has(gpu: str, compute: dict[str, Any]) -> None:
    sp = vramcalc.estimate_or_raise(inference(gpu=gpu, fit_gpus=[]))["details"]["speed"]
    assert sp["compute"] == compute
    # prefill is compute-bound here: its time is its flops over that peak
    assert sp["prefill"]["time_to_first_token_s"] == round(
        sp["prefill"]["flops"] / (compute["tflops"] * 1e12), 4)


def test_an_fp16_checkpoint_computes_in_fp16() -> None:
    sp = vramcalc.estimate_or_raise(inference(gpu="h100-sxm", weight_format="fp16",
                                              fit_gpus=[]))["details"]["speed"]
    assert sp["compute"]["dtype"] == "fp16"


# --- a GPU of one's own --------------------------------------------------------------------

def test_a_described_gpu_gives_the_catalog_cards_numbers() -> None:
    mine = vramcalc.estimate_or_raise(inference(gpu=AS_4090, fit_gpus=["rtx-4090"]))
    theirs = vramcalc.estimate_or_raise(inference(gpu="rtx-4090", fit_gpus=["rtx-4090"]))
    assert mine["fit"]["selected"] == "custom"
    ref, row = mine["fit"]["gpus"]  # the catalog's row, then the selected GPU's
    assert row == {**ref, "gpu": "custom", "name": "My 4090"}
    speed = {k: v for k, v in mine["details"]["speed"].items() if k != "gpu"}
    assert speed == {k: v for k, v in theirs["details"]["speed"].items() if k != "gpu"}
    assert mine["total_bytes"] == theirs["total_bytes"]


def test_the_echo_is_normalized_and_sent_back_gives_the_same_answer() -> None:
    r = vramcalc.estimate_or_raise(inference(gpu={"memory_bytes": 12 * 2**30,
                                                  "fp16_tflops": 20}))
    assert r["request"]["gpu"] == {
        "name": "Custom GPU", "memory_bytes": 12 * 2**30, "usable_fraction": 1.0,
        "bandwidth_gb_s": None, "bf16_tflops": 20.0, "fp16_tflops": 20.0,
        "compute_capability": None, "vendor": "nvidia", "kind": "discrete"}
    assert vramcalc.estimate_or_raise(r["request"]) == r


def test_no_bandwidth_no_speed_bound() -> None:
    r = vramcalc.estimate_or_raise(inference(gpu={"memory_bytes": 2**35}))
    assert r["details"]["speed"] is None
    assert r["warnings"] == [{"code": "speed_unknown", "message": "no speed bound: the GPU gives "
                              "no bandwidth_gb_s and no bf16_tflops or fp16_tflops"}]
    r = vramcalc.estimate_or_raise(inference(gpu={"memory_bytes": 2**35,
                                                  "bandwidth_gb_s": 500}))
    assert r["warnings"][-1]["message"] == ("no speed bound: the GPU gives no bf16_tflops or "
                                            "fp16_tflops")


def test_below_compute_capability_8_there_is_no_bf16() -> None:
    gpu = {"memory_bytes": 2**34, "bandwidth_gb_s": 320, "fp16_tflops": 65,
           "compute_capability": "7.5"}
    r = vramcalc.estimate_or_raise(inference(gpu=gpu, fit_gpus=[]))
    assert r["request"]["gpu"]["bf16_tflops"] is None
    assert r["details"]["speed"]["compute"]["dtype"] == "fp16"
    t4 = vramcalc.estimate_or_raise(inference(gpu="t4", fit_gpus=[]))["details"]["speed"]
    assert r["details"]["speed"]["decode"] == t4["decode"]


@pytest.mark.parametrize(("gpu", "expected"), [
    ({}, [("gpu.memory_bytes", "is required")]),
    ({"memory_bytes": 5}, [("gpu.memory_bytes", "must be an integer >= 1048576, got 5")]),
    ({"memory_bytes": 2**34, "vram": 1}, [("gpu.vram", "is not a known field")]),
    ({"memory_bytes": 2**34, "usable_fraction": 0},
     [("gpu.usable_fraction", "must be a number > 0, got 0")]),
    ({"memory_bytes": 2**34, "bandwidth_gb_s": -1},
     [("gpu.bandwidth_gb_s", "must be a number > 0, got -1")]),
    ({"memory_bytes": 2**34, "bf16_tflops": "fast"},
     [("gpu.bf16_tflops", "must be a number, got 'fast'")]),
    ({"memory_bytes": 2**34, "compute_capability": 8.9},
     [("gpu.compute_capability", "must be CUDA's \"major.minor\" as a string such as \"8.9\", "
       "got 8.9")]),
    ({"memory_bytes": 2**34, "compute_capability": "8.9", "vendor": "amd"},
     [("gpu.compute_capability", "is CUDA's (vendor \"nvidia\"), but vendor is 'amd'")]),
    ({"memory_bytes": 2**34, "compute_capability": "7.0", "bf16_tflops": 125},
     [("gpu.bf16_tflops", "compute capability 7.0 has no bf16 (it needs 8.0): give "
       "fp16_tflops")]),
    ({"memory_bytes": 2**34, "vendor": "nvidai"},
     [("gpu.vendor", "must be one of nvidia, amd, intel, apple, other; got 'nvidai'")]),
    ({"memory_bytes": 2**34, "name": "x" * 61},
     [("gpu.name", "must be at most 60 characters, got 61")]),
    ({"memory_bytes": 2**45}, [("gpu.memory_bytes", "must be an integer <= 17592186044416, "
                                "got 35184372088832")]),
])
def test_every_bad_field_of_a_described_gpu_is_named(gpu: dict[str, Any],
                                                     expected: list[tuple[str, str]]) -> None:
    assert problems(inference(gpu=gpu)) == expected


def test_vllm_runs_on_a_described_gpu() -> None:
    r = vramcalc.estimate_or_raise(inference(engine="vllm", gpu=AS_4090, fit_gpus=[]))
    ref = vramcalc.estimate_or_raise(inference(engine="vllm", gpu="rtx-4090", fit_gpus=[]))
    assert r["total_bytes"] == ref["total_bytes"]
    assert r["details"]["vllm"]["num_gpu_blocks"] == ref["details"]["vllm"]["num_gpu_blocks"]


def test_fit_changes_target_a_described_gpu() -> None:
    gpu = {"name": "Old card", "memory_bytes": 12 * 2**30, "compute_capability": "7.5"}
    answer = vramcalc.fit_changes(inference(engine="vllm", gpu=gpu))
    assert answer["target"]["gpu"] == "custom" and answer["target"]["name"] == "Old card"
    # FP8 weights need compute capability 8.0: never offered on a 7.5 card
    assert all(s["changes"].get("weight_format") != "fp8" for s in answer["suggestions"])
    assert answer["suggestions"]


# --- what the selected GPU changes ---------------------------------------------------------

def test_apple_gpus_have_no_cuda_context() -> None:
    r = vramcalc.estimate_or_raise(inference(gpu="m4-max-64gb", engine="llama.cpp"))
    context = next(c for c in r["components"] if c["name"] == "cuda_context")
    assert context["bytes"] == 0 and r["request"]["overheads"]["cuda_context_bytes"] == 0
    assert {"code": "no_cuda_context", "message": "Apple M4 Max 64GB runs Metal, which has no "
            "CUDA context: overheads.cuda_context_bytes is 0"} in r["warnings"]
    given = vramcalc.estimate_or_raise(inference(gpu="m4-max-64gb",
                                                 overheads={"cuda_context_bytes": 2**20}))
    assert given["request"]["overheads"]["cuda_context_bytes"] == 2**20
    assert all(w["code"] != "no_cuda_context" for w in given["warnings"])
    trained = vramcalc.estimate_or_raise({"mode": "training", "model": L8,
                                          "gpu": "m4-max-128gb"})
    assert trained["request"]["overheads"]["cuda_context_bytes"] == 0


@pytest.mark.parametrize(("gpu", "bandwidth"), [
    ("m4-max-64gb", 546), ("dgx-spark", 273), ("ryzen-ai-max-395-128gb", 256),
    ("rtx-4090", 76.8), (None, 76.8)])
def test_llama_cpp_cpu_side_reads_unified_memory_at_the_chips_bandwidth(
        gpu: str | None, bandwidth: float) -> None:
    r = vramcalc.estimate_or_raise(inference(engine="llama.cpp", gpu=gpu, fit_gpus=[]))
    assert r["request"]["llama_cpp"]["cpu_bandwidth_gb_s"] == bandwidth


def test_a_partial_offload_on_unified_memory_is_as_fast_as_a_full_one() -> None:
    def decode(ngl: int) -> float:
        r = vramcalc.estimate_or_raise(inference(engine="llama.cpp", gpu="m4-max-64gb",
                                                 llama_cpp={"n_gpu_layers": ngl}))
        return float(r["details"]["speed"]["decode"]["bytes_per_step"])
    # the same bytes at the same bandwidth whichever side reads them (one embedding row aside)
    assert decode(10) == pytest.approx(decode(-1), rel=0.05)


def test_a_speed_bound_that_does_not_fit_says_so() -> None:
    r = vramcalc.estimate_or_raise(inference(model={"preset": "meta-llama/Llama-3.1-70B"},
                                             gpu="rtx-4090", fit_gpus=[]))
    short = -r["fit"]["gpus"][0]["headroom_bytes"]
    assert r["warnings"] == [{"code": "speed_does_not_fit", "message": "the speed bound assumes "
                              "the setup runs, but it does not fit GeForce RTX 4090 24GB "
                              f"({natural_size(short)} short)"}]


def test_a_batch_beyond_the_fit_says_so() -> None:
    row = vramcalc.estimate_or_raise(inference(gpu="h100-sxm", fit_gpus=[]))["fit"]["gpus"][0]
    most = row["max_batch_size"]
    r = vramcalc.estimate_or_raise(inference(gpu="h100-sxm", batch_size=most + 4, fit_gpus=[]))
    short = natural_size(-r["fit"]["gpus"][0]["headroom_bytes"])
    assert r["warnings"] == [{"code": "speed_batch_does_not_fit", "message": "the speed bound "
                              f"is for batch_size {most + 4}, but at most {most} sequences fit "
                              f"H100 SXM 80GB at this context ({short} short)"}]
    fits = vramcalc.estimate_or_raise(inference(gpu="h100-sxm", batch_size=most, fit_gpus=[]))
    assert fits["warnings"] == []


def test_the_selected_gpu_always_has_a_row() -> None:
    r = vramcalc.estimate_or_raise(inference(gpu="l40", fit_gpus=["rtx-4090"]))
    assert [row["gpu"] for row in r["fit"]["gpus"]] == ["rtx-4090", "l40"]
    assert r["request"]["fit_gpus"] == ["rtx-4090"]


def test_the_cuda_context_measured_on_a_gpu_is_its_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the H200's PyTorch context, measured (tests/data/calibration): 768 MiB
    import dataclasses

    from vramcalc import catalogs, estimate

    gpus = catalogs.gpus()
    assert gpus["h200"].cuda_context_bytes == 768 << 20
    assert gpus["rtx-4090"].cuda_context_bytes is None  # not measured: the default
    # a GPU measured at 400 MiB: transformers and training take it, vLLM keeps its own
    monkeypatch.setitem(gpus, "rtx-4090", dataclasses.replace(gpus["rtx-4090"],
                                                              cuda_context_bytes=400 << 20))
    base = {"model": {"preset": "Qwen/Qwen3-0.6B"}, "gpu": "rtx-4090", "fit_gpus": []}
    for mode in ("inference", "training"):
        r = estimate({**base, "mode": mode})
        assert r["request"]["overheads"]["cuda_context_bytes"] == 400 << 20
    r = estimate({**base, "mode": "inference", "engine": "vllm"})
    assert r["request"]["overheads"]["cuda_context_bytes"] == 625 << 20
