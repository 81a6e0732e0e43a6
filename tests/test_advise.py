"""Changes that make a request fit (vramcalc/advise.py, `vramcalc.fit_changes`): every
suggestion, sent back through `estimate`, fits on the target and is one the framework or
engine accepts; the ranking is stable and follows its rule; exact texts for a few."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vramcalc
from vramcalc import catalogs
from vramcalc.advise import CLASSES, MAX_EVALUATIONS
from vramcalc.engines import vllm as vllm_engine
from vramcalc.jsonable import with_fields as apply

L8 = {"preset": "meta-llama/Llama-3.1-8B"}
L70 = {"preset": "meta-llama/Llama-3.1-70B"}
LORA_4090 = {"mode": "training", "model": L8, "method": "lora", "micro_batch_size": 4,
             "sequence_length": 2048, "gpu": "rtx-4090"}
VLLM_4090 = {"mode": "inference", "model": L8, "engine": "vllm", "context_length": 131072,
             "gpu": "rtx-4090"}
LLAMA_CPP_4090 = {"mode": "inference", "model": L70, "engine": "llama.cpp",
                  "context_length": 32768, "gpu": "rtx-4090"}
TF_A6000 = {"mode": "inference", "model": L70, "gpu": "rtx-a6000", "parallel": {"tensor": 2}}
TORCHTUNE_A100 = {"mode": "training", "model": L8, "framework": "torchtune",
                  "micro_batch_size": 8, "gpu": "a100-80gb"}
VLLM_A100 = {**VLLM_4090, "gpu": "a100-80gb"}
L405_T4 = {"mode": "training", "model": {"preset": "meta-llama/Llama-3.1-405B"}, "gpu": "t4"}
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "training-lora": (LORA_4090, {}),
    "vllm": (VLLM_4090, {}),
    "llama.cpp": (LLAMA_CPP_4090, {}),
    "transformers": (TF_A6000, {}),
    "fits-training": (TORCHTUNE_A100, {}),
    "fits-vllm": (VLLM_A100, {}),
    "nothing-fits": (L405_T4, {"gpus": 1}),
    "torchtune-full": ({"mode": "training", "model": L8, "framework": "torchtune",
                        "optimizer_implementation": "foreach", "gpu": "rtx-4090"}, {}),
    "unsloth-full": ({"mode": "training", "model": L8, "framework": "unsloth",
                      "micro_batch_size": 8, "sequence_length": 4096, "gpu": "l4"}, {}),
    "megatron": ({"mode": "training", "model": L70, "framework": "megatron",
                  "sequence_length": 4096, "gpu": "h100-sxm", "parallel": {"data": 8}}, {}),
    "deepspeed": ({"mode": "training", "model": L8, "framework": "deepspeed",
                   "micro_batch_size": 2, "gpu": "rtx-4090", "parallel": {"data": 2}}, {}),
    "transformers-eager": ({"mode": "inference", "model": {"preset": "Qwen/Qwen3-8B"},
                            "attention": "eager", "context_length": 32768, "batch_size": 4,
                            "gpu": "rtx-4090"}, {}),
    "llama.cpp-no-fa": ({"mode": "inference", "model": L8, "engine": "llama.cpp",
                         "context_length": 131072, "weight_format": "Q8_0",
                         "llama_cpp": {"flash_attn": False}, "gpu": "rtx-4060-ti-16gb"}, {}),
}


@cache
def answer(name: str) -> dict[str, Any]:
    request, kwargs = CASES[name]
    return vramcalc.fit_changes(request, **kwargs)


def _row(response: dict[str, Any], gpu: str) -> dict[str, Any]:
    row: dict[str, Any] = next(r for r in response["fit"]["gpus"] if r["gpu"] == gpu)
    return row


def _offered(request: dict[str, Any]) -> set[str]:
    """The lever ids data/levers.json offers the request's framework or engine."""
    echo = vramcalc.estimate(request)["request"]
    mode = echo["mode"]
    kind = echo["framework"] if mode == "training" else echo["engine"]
    key = "frameworks" if mode == "training" else "engines"
    return {e["id"] for e in catalogs.load("levers.json")[mode] if kind in e[key]}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_suggestion_sent_back_fits_and_is_accepted(name: str) -> None:
    request, _ = CASES[name]
    got = answer(name)
    assert "error" not in got
    target = got["target"]["gpu"]
    listed = got["suggestions"] + got["bigger"]
    assert listed or got["outcome"] == "nothing_fits"
    for item in listed:
        response = vramcalc.estimate(item["request"])
        assert "error" not in response, item["label"]  # the engine and framework accept it
        assert _row(response, target)["fits"], item["label"]
        assert response["total_bytes"] == item["total_bytes"]
        # the changes alone, merged into the request, give the same request and answer
        assert item["request"] == apply({**request, "gpu": target}, item["changes"])
        for path, value in item["implied"].items():
            node = response["request"]
            for part in path.split("."):
                node = node[part]
            assert node == value
    for item in got["closest"]:
        response = vramcalc.estimate(item["request"])
        assert "error" not in response and not _row(response, target)["fits"]
    assert got["evaluations"] <= got["max_evaluations"] == MAX_EVALUATIONS


@pytest.mark.parametrize("name", sorted(CASES))
def test_suggestions_use_only_the_levers_offered(name: str) -> None:
    request, _ = CASES[name]
    got = answer(name)
    offered = _offered(request)
    for item in got["suggestions"] + got["closest"]:
        assert set(item["levers"]) <= offered, item["label"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_ranking_is_stable_and_follows_its_rule(name: str) -> None:
    request, kwargs = CASES[name]
    again = vramcalc.fit_changes(request, **kwargs)
    assert again == answer(name)  # same input, same output, in the same order
    items = answer(name)["suggestions"]
    keys = [(CLASSES.index(i["cost_class"]), len(i["levers"])) for i in items]
    assert keys == sorted(keys)
    assert answer(name)["ranking"].startswith("cost class first (free, speed, quality")


def _words(bytes_: int) -> str:
    from vramcalc.units import natural_size

    return natural_size(bytes_)


def test_training_lora_on_a_24_gb_card() -> None:
    got = answer("training-lora")
    base = vramcalc.estimate(LORA_4090)
    row = _row(base, "rtx-4090")
    assert got["outcome"] == "changes" and not got["fits"]
    assert got["current"] == {"total_bytes": base["total_bytes"],
                              "headroom_bytes": row["headroom_bytes"], "fits": False, "gpus": 1}
    first = got["suggestions"][0]
    assert first["changes"] == {"loss": "fused", "gradient_checkpointing": "full"}
    assert first["label"] == "fused cross-entropy loss + gradient checkpointing"
    assert first["cost_class"] == "speed"
    assert first["cost"] == (
        "none: the lm_head and the loss run chunk by chunk in one kernel, so the logits never "
        "exist whole; the same loss, usually faster; recomputes each layer's forward during the "
        "backward: about one extra forward pass, roughly a third more compute per step")
    assert first["how"] == ("TrainingArguments(use_liger_kernel=True); "
                            "TrainingArguments(gradient_checkpointing=True)")
    assert first["saved_bytes"] == got["current"]["total_bytes"] - first["total_bytes"]
    second = got["suggestions"][1]
    # micro batch 1 x 4 steps: the same 8,192 tokens per optimizer step
    assert second["changes"] == {"gradient_checkpointing": "full", "micro_batch_size": 1,
                                 "gradient_accumulation_steps": 4}
    assert "tokens_per_optimizer_step" not in second["effects"]
    qlora = next(i for i in got["suggestions"] if "method" in i["changes"])
    # HF Trainer's QLoRA profile turns checkpointing on, and LoRA's bf16 default no longer
    # applies: both said, not hidden
    assert qlora["implied"] == {"precision": "mixed_bf16", "gradient_checkpointing": "full"}
    assert qlora["cost_class"] == "quality"
    shorter = next(i for i in got["suggestions"] if i["levers"] == ["sequence_length"])
    longest = row["max_context_length"] // 64 * 64  # the fit table's, rounded down to 64s
    assert shorter["changes"] == {"sequence_length": longest}
    assert shorter["effects"]["tokens_per_optimizer_step"] == {"before": 8192,
                                                               "after": 4 * longest}
    # no torchtune-only lever for the HF Trainer
    assert all("optimizer_in_backward" not in i["changes"] for i in got["suggestions"])


def test_vllm_at_128k_on_a_24_gb_card() -> None:
    got = answer("vllm")
    first = got["suggestions"][0]
    assert first["changes"] == {"kv_cache_dtype": "fp8", "weight_format": "fp8"}
    assert first["cost_class"] == "quality"
    assert first["how"] == "vllm serve --kv-cache-dtype fp8; vllm serve --quantization fp8"
    shorter = next(i for i in got["suggestions"] if i["levers"] == ["context_length"])
    longest = vramcalc.estimate(VLLM_4090)["details"]["vllm"]["max_model_len_that_fits"]
    longest = longest // 64 * 64
    # without vllm.max_model_len in the request, the context sets it
    assert shorter["changes"] == {"context_length": longest}
    assert shorter["implied"] == {"vllm.max_model_len": longest}
    assert shorter["how"] == f"vllm serve --max-model-len {longest}"
    tp = got["suggestions"][-1]
    assert tp["changes"] == {"parallel.tensor": 2} and tp["cost_class"] == "hardware"
    # vLLM's non-torch default at TP > 1
    assert tp["implied"] == {"vllm.non_torch_bytes": vllm_engine.DEFAULT_NON_TORCH_BYTES[1]}
    kv_ids = {k["id"] for k in vramcalc.catalog()["kv_cache_dtypes"] if "vllm" in k["engines"]}
    for item in got["suggestions"]:
        assert item["changes"].get("kv_cache_dtype", "fp8") in kv_ids


def test_vllm_must_hold_the_whole_batch() -> None:
    """vLLM starts with 16 requests of 128k on an H100 (its fit row fits) but its KV pool
    holds 3 of them: for fit_changes that does not fit, and each suggestion holds them all."""
    request = {**VLLM_4090, "gpu": "h100-sxm", "batch_size": 16}
    row = _row(vramcalc.estimate(request), "h100-sxm")
    assert row["fits"] and row["max_batch_size"] < 16
    got = vramcalc.fit_changes(request)
    assert got["outcome"] == "changes" and not got["current"]["fits"]
    assert {"batch_size": row["max_batch_size"]} in [i["changes"] for i in got["suggestions"]]
    assert {"parallel.tensor": 8} in [i["changes"] for i in got["suggestions"]]
    for item in got["suggestions"]:
        after = _row(vramcalc.estimate(item["request"]), "h100-sxm")
        assert after["max_batch_size"] >= item["request"]["batch_size"]


def test_a_format_the_gpu_cannot_run_is_not_offered() -> None:
    """vLLM's FP8 kernels need compute capability 8.0 (data/levers.json min_sm): a T4 (7.5)
    gets AWQ, never FP8 weights."""
    got = vramcalc.fit_changes({**VLLM_4090, "gpu": "t4"})
    formats = {i["changes"].get("weight_format") for i in got["suggestions"] + got["closest"]}
    assert "awq-int4" in formats and "fp8" not in formats


def test_vllm_context_follows_max_model_len_when_the_request_sets_it() -> None:
    request = {**VLLM_4090, "context_length": 8192, "vllm": {"max_model_len": 131072}}
    got = vramcalc.fit_changes(request)
    shorter = next(i for i in got["suggestions"] if i["levers"] == ["context_length"])
    assert list(shorter["changes"]) == ["vllm.max_model_len"]


def test_llama_cpp_partial_offload_says_its_speed_cost() -> None:
    got = answer("llama.cpp")
    base = vramcalc.estimate(LLAMA_CPP_4090)
    ngl = base["details"]["llama_cpp"]["max_n_gpu_layers"]  # the largest -ngl that fits
    after = vramcalc.estimate(apply(LLAMA_CPP_4090, {"llama_cpp.n_gpu_layers": ngl}))
    before_s = base["details"]["speed"]["decode"]["tokens_per_s_per_sequence"]
    after_s = after["details"]["speed"]["decode"]["tokens_per_s_per_sequence"]
    first = got["suggestions"][0]
    assert first["changes"] == {"llama_cpp.n_gpu_layers": ngl}
    assert first["label"] == f"{ngl} of 81 layers on the GPU"
    assert first["cost"] == (
        "the other layers (and their KV cache) stay in CPU memory and run on the CPU, at its "
        f"memory bandwidth; decode bound {before_s:,} → {after_s:,} tokens/s per sequence; "
        f"{_words(after['details']['llama_cpp']['cpu_bytes'])} in CPU memory")
    assert first["effects"]["decode_tokens_per_s"] == {"before": before_s, "after": after_s}
    assert after_s < before_s / 2
    assert first["how"] == f"-ngl {ngl}"
    # llama.cpp has no tensor parallelism
    assert all("parallel.tensor" not in i["changes"] for i in got["suggestions"])
    # a quantized KV cache leaves room for more layers on the GPU
    kv = next(i for i in got["suggestions"] if i["levers"] == ["kv_cache_dtype", "n_gpu_layers"])
    assert kv["changes"]["llama_cpp.cache_type_k"] in ("q8_0", "q4_0")
    assert kv["changes"]["llama_cpp.n_gpu_layers"] > ngl


def test_a_quantized_v_cache_turns_flash_attention_on() -> None:
    got = answer("llama.cpp-no-fa")
    kv = [i for i in got["suggestions"] if "kv_cache_dtype" in i["levers"]]
    assert kv
    for item in kv:
        assert item["changes"]["llama_cpp.flash_attn"] is True


def test_transformers_70b_on_two_48_gb_cards() -> None:
    got = answer("transformers")
    assert [i["changes"] for i in got["suggestions"]] == [
        {"weight_format": "bnb-int8"}, {"parallel.tensor": 4}]
    int8, tp = got["suggestions"]
    speed = [vramcalc.estimate(r)["details"]["speed"]["decode"]["tokens_per_s_per_sequence"]
             for r in (TF_A6000, int8["request"])]
    assert int8["label"] == "8-bit weights (bitsandbytes)"
    assert int8["cost"] == ("8-bit weights (LLM.int8()): near-lossless, slower matmuls than "
                            f"16-bit; decode bound {speed[0]:,} → {speed[1]:,} tokens/s per "
                            "sequence")
    assert tp["effects"]["gpus"] == {"before": 2, "after": 4}


def test_a_gpu_count_caps_the_gpus_and_makes_them_a_speed_cost() -> None:
    two = vramcalc.fit_changes(TF_A6000, gpus=2)
    assert two["target"]["gpus"] == 2
    assert all("parallel.tensor" not in i["changes"] for i in two["suggestions"])
    four = vramcalc.fit_changes(TF_A6000, gpus=4)
    tp = next(i for i in four["suggestions"] if "parallel.tensor" in i["changes"])
    assert tp["cost_class"] == "speed"


def test_another_target_gpu() -> None:
    got = vramcalc.fit_changes(LORA_4090, gpu="h100-sxm")
    assert got["target"]["gpu"] == "h100-sxm"
    assert all(i["request"]["gpu"] == "h100-sxm" for i in got["suggestions"])


def test_already_fits_offers_bigger() -> None:
    got = answer("fits-training")
    row = _row(vramcalc.estimate(TORCHTUNE_A100), "a100-80gb")
    assert got["outcome"] == "fits" and got["fits"] and got["suggestions"] == []
    batch, length = row["max_batch_size"], row["max_context_length"] // 64 * 64
    assert batch > 8 and length > 2048
    assert [i["changes"] for i in got["bigger"]] == [{"micro_batch_size": batch},
                                                     {"sequence_length": length}]
    assert got["bigger"][0]["gain"] == (f"the largest micro batch that fits, from 8; 16,384 → "
                                        f"{batch * 2048:,} tokens per optimizer step")
    assert "cost" not in got["bigger"][0] and "cost_class" not in got["bigger"][0]
    vllm = answer("fits-vllm")
    # 128k is the model's longest context: only concurrency can grow
    row = _row(vramcalc.estimate(VLLM_A100), "a100-80gb")
    assert [i["changes"] for i in vllm["bigger"]] == [{"batch_size": row["max_batch_size"]}]


def test_nothing_fits_lists_the_closest() -> None:
    got = answer("nothing-fits")
    assert got["outcome"] == "nothing_fits" and got["suggestions"] == []
    closest = got["closest"]
    assert 1 <= len(closest) <= 5
    assert all(not i["fits"] for i in closest)
    shortfalls = [-i["headroom_bytes"] for i in closest]
    assert shortfalls == sorted(shortfalls)
    assert any(len(i["levers"]) == 2 for i in closest)  # pairs were tried
    # one GPU given: none of the tries adds GPUs
    assert all(i["request"].get("parallel", {}).get("data", 1) == 1 for i in closest)


def test_framework_constraints_hold_in_pairs() -> None:
    got = answer("torchtune-full")
    seen = [set(i["levers"]) for i in got["suggestions"] + got["closest"]]
    assert any("optimizer_in_backward" in s for s in seen)
    for levers in seen:
        assert not ({"optimizer_in_backward"} < levers and levers & {"micro_batch", "zero",
                                                                   "offload", "data_parallel"})
    unsloth = answer("unsloth-full")
    for item in unsloth["suggestions"]:
        assert not set(item["levers"]) & {"zero", "offload", "data_parallel", "tensor_parallel"}
    megatron = answer("megatron")
    assert all("method" not in i["changes"] for i in megatron["suggestions"])


def test_the_budget_bounds_the_work() -> None:
    got = vramcalc.fit_changes(LORA_4090, max_evaluations=5)
    assert got["evaluations"] <= 5 and got["max_evaluations"] == 5
    for item in got["suggestions"]:
        assert _row(vramcalc.estimate(item["request"]), "rtx-4090")["fits"]


def test_fit_gpus_keeps_the_target_row() -> None:
    got = vramcalc.fit_changes({**LORA_4090, "fit_gpus": ["t4"]})
    request = got["suggestions"][0]["request"]
    assert request["fit_gpus"] == ["t4", "rtx-4090"]


@pytest.mark.parametrize(("request_", "kwargs", "problems"), [
    (LORA_4090, {"gpu": "nope"},
     [{"field": "gpu", "message": "must be a GPU id from the catalog (e.g. 'rtx-4090'), got "
       "'nope'"}]),
    (LORA_4090, {"gpus": 0}, [{"field": "gpus", "message": "must be an integer from 1 to 64, "
                               "got 0"}]),
    (LORA_4090, {"gpus": True}, [{"field": "gpus", "message": "must be an integer from 1 to "
                                  "64, got true"}]),
    (LORA_4090, {"max_evaluations": 0},
     [{"field": "max_evaluations", "message": "must be an integer from 1 to 500, got 0"}]),
    ({"mode": "inference", "model": L8}, {},
     [{"field": "gpu", "message": "is required: the GPU the request should fit (give gpu, or "
       "set the request's gpu)"}]),
    (TF_A6000, {"gpus": 1},
     [{"field": "gpus", "message": "the request already uses 2 GPUs; give at least that many, "
       "or lower its parallel sizes"}]),
    ([], {}, [{"field": "", "message": "the request must be a JSON object"}]),
    ({**LORA_4090, "micro_batch_size": 0}, {},
     [{"field": "micro_batch_size", "message": "must be an integer >= 1, got 0"}]),
])
def test_bad_input_gives_named_problems(request_: Any, kwargs: dict[str, Any],
                                        problems: list[dict[str, str]]) -> None:
    assert vramcalc.fit_changes(request_, **kwargs) == {"error": {"problems": problems}}


def test_a_defect_is_an_answer_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from vramcalc import advise

    def broken(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise KeyError("x")

    monkeypatch.setattr(advise, "fit_changes", broken)
    assert vramcalc.fit_changes(LORA_4090) == {"error": {"problems": [{
        "field": "request", "message": "vramcalc could not suggest changes for this request "
        "(KeyError); please report it with the request"}]}}


def test_apply_sets_dotted_fields_without_changing_the_request() -> None:
    request = {"a": {"b": 1}, "c": 2}
    assert apply(request, {"a.d": 3, "e.f": True, "c": 4}) == {
        "a": {"b": 1, "d": 3}, "c": 4, "e": {"f": True}}
    assert request == {"a": {"b": 1}, "c": 2}


def test_the_lever_data_names_real_choices() -> None:
    """data/levers.json: every lever has a class, a source and texts for each value; every
    framework, engine and value it names exists."""
    data = catalogs.load("levers.json")
    classes = [c["id"] for c in data["cost_classes"]]
    assert classes == list(CLASSES)
    choices = vramcalc.catalog()["choices"]["training"]
    fields = {"loss": choices["loss"], "gradient_checkpointing": choices["gradient_checkpointing"],
              "method": choices["method"], "optimizer": choices["optimizer"],
              "optimizer_implementation": choices["optimizer_implementation"]}
    kvs = catalogs.kv_dtypes()
    from vramcalc.advise import _BUILDERS

    for mode, key, kinds in (("training", "frameworks", set(catalogs.frameworks())),
                             ("inference", "engines", {"transformers", "vllm", "llama.cpp"})):
        for lever in data[mode]:
            assert lever["class"] in classes and lever["source"], lever["id"]
            assert lever["id"] in _BUILDERS
            assert set(lever[key]) <= kinds, lever["id"]
            for kind, offer in lever[key].items():
                if not isinstance(offer, list):
                    continue
                for value in offer:
                    name = json.dumps(value) if isinstance(value, bool) else str(value)
                    text = lever.get("values", {}).get(name, {})
                    assert text.get("label") or lever.get("label"), (lever["id"], value)
                    assert text.get("cost") or lever.get("cost"), (lever["id"], value)
                    if lever.get("field") in fields:
                        assert value in fields[lever["field"]], (lever["id"], value)
                    if lever["id"] == "weight_format":
                        assert value in catalogs.weight_formats()
                    if lever["id"] == "kv_cache_dtype":
                        assert kind in kvs[value].engines, (kind, value)


# ----------------------------------------------------------------------------------------
# As a property: generated plausible requests on any catalog GPU


_PRESETS = ["meta-llama/Llama-3.2-1B-Instruct", "Qwen/Qwen3-8B", "meta-llama/Llama-3.1-8B",
            "google/gemma-3-27b-it", "Qwen/Qwen3-30B-A3B", "openai/gpt-oss-20b",
            "deepseek-ai/DeepSeek-V2-Lite", "meta-llama/Llama-3.1-70B"]


@st.composite
def _requests(draw: st.DrawFn) -> dict[str, Any]:
    request: dict[str, Any] = {"model": {"preset": draw(st.sampled_from(_PRESETS))},
                               "gpu": draw(st.sampled_from(sorted(catalogs.gpus())))}
    if draw(st.booleans()):
        request.update(mode="training", framework=draw(st.sampled_from(
            sorted(catalogs.frameworks()))), method=draw(st.sampled_from(["full", "lora",
                                                                          "qlora"])),
            micro_batch_size=draw(st.integers(1, 16)),
            sequence_length=draw(st.sampled_from([512, 2048, 8192])))
    else:
        request.update(mode="inference", engine=draw(st.sampled_from(
            ["transformers", "vllm", "llama.cpp"])), batch_size=draw(st.integers(1, 16)),
            context_length=draw(st.sampled_from([2048, 32768, 131072])))
    return request


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_requests())
def test_any_request_gets_checked_ranked_suggestions(request: dict[str, Any]) -> None:
    got = vramcalc.fit_changes(request, max_evaluations=20)
    if "error" in got:  # a request the package refuses (a method a model cannot take, ...)
        assert "error" in vramcalc.estimate(request)
        return
    assert got["evaluations"] <= 20
    assert got["outcome"] == ("fits" if got["fits"] else "changes" if got["suggestions"]
                              else "nothing_fits")
    keys = [(CLASSES.index(i["cost_class"]), len(i["levers"])) for i in got["suggestions"]]
    assert keys == sorted(keys)
    offered = _offered(request)
    for item in got["suggestions"] + got["bigger"]:
        response = vramcalc.estimate(item["request"])
        row = _row(response, request["gpu"])
        assert "error" not in response and row["fits"]
        if request["mode"] == "inference" and request["engine"] == "vllm":
            assert row["max_batch_size"] >= item["request"]["batch_size"]
    for item in got["suggestions"] + got["closest"]:
        assert set(item["levers"]) <= offered


@pytest.mark.parametrize("name", ["training-lora", "torchtune-full", "unsloth-full", "megatron",
                                  "deepspeed", "vllm", "llama.cpp", "nothing-fits"])
def test_the_search_skips_only_what_could_not_change_the_list(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the list is full of outcomes cheaper than every plan left, the search stops, and
    a lever-plus-size pair whose size cannot gain on the size alone is not estimated: the
    same list as evaluating every plan the budget allows."""
    from vramcalc import advise

    request, kwargs = CASES[name]
    early = vramcalc.fit_changes(request, **kwargs)
    monkeypatch.setattr(advise, "_settled", lambda fitting, worst: False)
    monkeypatch.setattr(advise, "_may_gain", lambda a, size, alone: True)
    every = vramcalc.fit_changes(request, **kwargs)
    assert early["evaluations"] <= every["evaluations"]
    assert {k: v for k, v in early.items() if k != "evaluations"} == {
        k: v for k, v in every.items() if k != "evaluations"}
    if name == "training-lora":  # the hardware pairs, and pairs with micro batch 1, skipped
        assert early["evaluations"] < every["evaluations"]
