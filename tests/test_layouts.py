"""The fit rows' `gpus_needed` and `layout` (vramcalc/layouts.py): the fewest GPUs that run
the whole request. Each expected count is checked against estimate itself: the layout fits
that GPU and the next smaller one does not."""

from __future__ import annotations

from typing import Any

import pytest

import vramcalc
from vramcalc import api, layouts

L70 = {"preset": "meta-llama/Llama-3.1-70B"}
L8 = {"preset": "meta-llama/Llama-3.1-8B"}


def row(req: dict[str, Any], gpu: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in vramcalc.estimate_or_raise(req)["fit"]["gpus"]
                                 if r["gpu"] == gpu)
    return found


def fits(req: dict[str, Any], gpu: str, parallel: dict[str, Any]) -> bool:
    merged = {**req, "fit_gpus": [gpu], "parallel": {**req.get("parallel", {}), **parallel}}
    return bool(row(merged, gpu)["fits"])


def test_transformers_70b_needs_eight_4090s_in_tensor_parallel() -> None:
    req = {"mode": "inference", "model": L70, "fit_gpus": ["rtx-4090", "h100-sxm", "b200"]}
    r = vramcalc.estimate_or_raise(req)
    needed = {g["gpu"]: (g["gpus_needed"], g["layout"]) for g in r["fit"]["gpus"]}
    assert needed == {"rtx-4090": (8, {"tensor": 8}), "h100-sxm": (2, {"tensor": 2}),
                      "b200": (1, {"tensor": 1})}
    assert fits(req, "rtx-4090", {"tensor": 8}) and not fits(req, "rtx-4090", {"tensor": 4})
    # the weights alone would take 6: the whole workload takes more
    assert r["fit"]["gpus"][0]["gpus_for_weights"] == 6


def test_tensor_sizes_must_divide_the_heads() -> None:
    # 40 heads, 8 KV heads (Qwen3-14B): 16 does not divide 40, so 16 is skipped
    config = {"model_type": "llama", "vocab_size": 32000, "hidden_size": 5120,
              "intermediate_size": 13824, "num_hidden_layers": 120, "num_attention_heads": 40,
              "num_key_value_heads": 8, "max_position_embeddings": 4096,
              "torch_dtype": "bfloat16"}
    req = {"mode": "inference", "model": {"config": config}, "fit_gpus": ["t4"]}
    got = row(req, "t4")
    assert got["layout"] is None or 40 % got["layout"]["tensor"] == 0
    assert vramcalc.estimate(dict(req, parallel={"tensor": 16}))["error"]["problems"] == [
        {"field": "parallel.tensor", "message": "must divide the number of attention heads "
         "(40)"}]


def test_vllm_goes_beyond_a_node_with_pipeline_stages() -> None:
    req = {"mode": "inference", "model": L70, "engine": "vllm", "gpu": "h100-sxm",
           "fit_gpus": ["h100-sxm", "t4"]}
    r = vramcalc.estimate_or_raise(req)
    needed = {g["gpu"]: (g["gpus_needed"], g["layout"]) for g in r["fit"]["gpus"]}
    # 8 T4s (128 GB) cannot hold 70B in bf16: two nodes of 8 in pipeline can
    assert needed == {"h100-sxm": (2, {"tensor": 2}),
                      "t4": (16, {"tensor": 8, "pipeline": 2})}
    assert not fits(req, "t4", {"tensor": 8})
    assert fits(req, "t4", {"tensor": 8, "pipeline": 2})
    big = row({"mode": "inference", "model": {"preset": "meta-llama/Llama-3.1-405B"},
               "engine": "vllm", "gpu": "h100-sxm", "fit_gpus": ["h100-sxm"]}, "h100-sxm")
    assert (big["gpus_needed"], big["layout"]) == (16, {"tensor": 8, "pipeline": 2})


def test_vllm_must_hold_the_batch() -> None:
    req = {"mode": "inference", "model": L8, "engine": "vllm", "gpu": "rtx-4090",
           "fit_gpus": ["rtx-4090"], "batch_size": 32}
    got = row(req, "rtx-4090")
    assert got["fits"] and got["max_batch_size"] < 32
    # one 4090 starts vLLM but its KV cache holds 11 requests of 4,096 tokens; two hold 50
    assert got["gpus_needed"] == 2 and got["layout"] == {"tensor": 2}
    assert row(dict(req, parallel={"tensor": 2}), "rtx-4090")["max_batch_size"] >= 32


def test_training_scales_out_with_zero_3_at_the_same_micro_batch() -> None:
    req = {"mode": "training", "model": L8, "fit_gpus": ["rtx-4090"],
           "gradient_checkpointing": "full"}
    got = row(req, "rtx-4090")
    n = got["gpus_needed"]
    assert got["layout"] == {"data": n, "tensor": 1, "pipeline": 1, "zero_stage": 3}
    assert fits(req, "rtx-4090", {"data": n, "zero_stage": 3})
    assert not fits(req, "rtx-4090", {"data": n // 2, "zero_stage": 3})


def test_megatron_offers_tensor_parallel_and_keeps_its_zero_stage() -> None:
    req = {"mode": "training", "model": L8, "framework": "megatron", "fit_gpus": ["rtx-4090"]}
    got = row(req, "rtx-4090")
    assert got["layout"]["zero_stage"] == 1
    assert got["gpus_needed"] == got["layout"]["data"] * got["layout"]["tensor"]


def test_unsloth_has_one_gpu() -> None:
    req = {"mode": "training", "model": L70, "framework": "unsloth", "fit_gpus": ["rtx-4090"]}
    got = row(req, "rtx-4090")
    assert not got["fits"] and got["gpus_needed"] is None and got["layout"] is None


def test_a_row_that_fits_keeps_the_requests_own_layout() -> None:
    req = {"mode": "inference", "model": L8, "parallel": {"tensor": 2},
           "fit_gpus": ["h100-sxm"]}
    assert row(req, "h100-sxm")["gpus_needed"] == 2
    assert row(req, "h100-sxm")["layout"] == {"tensor": 2}


@pytest.mark.parametrize("gpu", ["m4-max-64gb", "rtx-4090"])
def test_llama_cpp_and_apple_gpus_are_one_gpu(gpu: str) -> None:
    big = row({"mode": "inference", "model": L70, "fit_gpus": [gpu]}, gpu)
    assert gpu == "rtx-4090" or (big["gpus_needed"], big["layout"]) == (None, None)
    small = row({"mode": "inference", "model": L8, "engine": "llama.cpp", "fit_gpus": [gpu]},
                gpu)
    assert (small["gpus_needed"], small["layout"]) == (1, {"tensor": 1})
    llama = row({"mode": "inference", "model": L70, "engine": "llama.cpp",
                 "weight_format": "F16", "fit_gpus": [gpu]}, gpu)
    assert (llama["gpus_needed"], llama["layout"]) == (None, None)


def test_the_work_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    whole, total = api._without_layouts, api._peak

    def counted(req: Any) -> dict[str, Any]:
        calls.append(req)
        return whole(req)

    monkeypatch.setattr(api, "_without_layouts", counted)
    monkeypatch.setattr(api, "_peak", lambda req: calls.append(req) or total(req))
    vramcalc.estimate({"mode": "training", "model": {"preset": "meta-llama/Llama-3.1-405B"},
                       "framework": "megatron"})
    assert 0 < len(calls) <= layouts.MAX_ESTIMATES
    calls.clear()
    vramcalc.estimate({"mode": "inference", "model": {"preset": "meta-llama/Llama-3.1-405B"},
                       "engine": "vllm", "gpu": "rtx-4090"})
    assert 0 < len(calls) <= layouts.MAX_ESTIMATES
    # vLLM's whole answers ask only for the rows still open
    assert all(len(c["fit_gpus"]) < len(vramcalc.catalog()["gpus"]) for c in calls[1:])


CUSTOM = {"name": "RTX 4090 48GB", "memory_bytes": 48 * 2**30, "bandwidth_gb_s": 1008}
ALONE = [
    {"mode": "inference", "model": L70, "gpu": "rtx-4090", "context_length": 32768},
    {"mode": "inference", "model": L70, "gpu": CUSTOM, "parallel": {"tensor": 2}},
    {"mode": "training", "model": L8, "method": "lora", "micro_batch_size": 4,
     "gradient_checkpointing": "full", "gpu": "rtx-4090"},
    {"mode": "training", "model": L70, "method": "full", "framework": "megatron",
     "gpu": CUSTOM},
    {"mode": "training", "model": L8, "method": "full", "framework": "deepspeed",
     "gpu": "t4", "sequence_length": 8192},
]


@pytest.mark.parametrize("req", ALONE)
def test_a_layouts_total_is_the_whole_answers(req: dict[str, Any]) -> None:
    """Outside vLLM a layout asks for the peak total alone (api._peak, no fit table, no
    response), and a row fits when that total is within its usable bytes: the same rows as
    when each layout is a whole answer whose own fit rows decide."""
    whole = api._without_layouts(req)
    assert api._peak(req) == (whole["total_bytes"], whole["peak_phase"])
    fast = vramcalc.estimate(req)

    def peak_of_whole_answer(raw: Any) -> tuple[int, str] | vramcalc.RequestError:
        answer = api._without_layouts(raw)
        if "error" in answer:
            return vramcalc.RequestError([])
        # a whole answer's own verdict on each row agrees with the total-within-usable rule
        for r in answer["fit"]["gpus"]:
            assert r["fits"] == (answer["total_bytes"] <= r["usable_bytes"])
        return answer["total_bytes"], answer["peak_phase"]

    with pytest.MonkeyPatch.context() as m:
        m.setattr(api, "_peak", peak_of_whole_answer)
        slow = vramcalc.estimate(req)
    assert fast == slow
    assert any(r["gpus_needed"] and r["gpus_needed"] > 1 for r in fast["fit"]["gpus"])


def test_a_layouts_refused_total_is_the_answers_error() -> None:
    bad = {"mode": "inference", "model": L70, "parallel": {"tensor": 3}}
    refused = api._peak(bad)
    assert isinstance(refused, vramcalc.RequestError)
    assert refused.to_dict() == vramcalc.estimate(bad)


def test_sweeps_and_fit_changes_go_without(monkeypatch: pytest.MonkeyPatch) -> None:
    called = []
    monkeypatch.setattr(layouts, "annotate", lambda *a: called.append(a) or a[2])
    vramcalc.sweep({"mode": "inference", "model": L70, "gpu": "rtx-4090"}, "batch_size", [1, 2])
    vramcalc.fit_changes({"mode": "inference", "model": L70, "gpu": "rtx-4090"},
                         max_evaluations=3)
    assert called == []


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_a_normalized_request_sent_back_gives_the_same_layouts(engine: str) -> None:
    """The echo pins the engine's TP-dependent defaults for the request's own layout (vLLM's
    non-torch memory at TP 1: 0.13 GiB); the layouts of other sizes derive them again, so the
    round trip keeps every row (found by the property test: a 2080 Ti row read 16 GPUs
    instead of 32 after the round trip)."""
    raw = {"mode": "inference", "model": {"preset": "meta-llama/Llama-3.1-70B"},
           "fit_gpus": ["rtx-2080-ti"], "engine": engine, "gpu": "a10"}
    first = vramcalc.estimate(raw)
    assert "error" not in first
    again = vramcalc.estimate(first["request"])
    assert again == first
    row = first["fit"]["gpus"][0]
    assert row["gpu"] == "rtx-2080-ti"
    if engine == "vllm":  # TP 8 and pipeline stages
        assert row["gpus_needed"] > 8 and row["layout"]["pipeline"] > 1


def fake_totals(values: list[int | None]) -> layouts._Totals:
    """A _Totals whose candidate i totals values[i] (None: refused), counting what it asks."""
    asked: list[int] = []

    def peak(raw: Any) -> Any:
        i = raw["i"]
        asked.append(i)
        return (values[i], "backward") if values[i] is not None else vramcalc.RequestError([])

    candidates = [(2 << i, {"i": i}, {}) for i in range(len(values))]
    totals = layouts._Totals({}, candidates, peak)
    totals.asked = asked  # type: ignore[attr-defined]
    return totals


def test_bisection_finds_each_gpus_first_fit_with_fewer_totals() -> None:
    # totals (GiB) for 2, 4, ... 1024 GPUs; GPUs of 100, 50, 20 and 5 GiB
    values = [120, 90, 60, 45, 40, 38, 37, 36, 36, 35]
    usable = {"a": 100, "b": 50, "c": 20, "d": 40}
    scan = layouts._scanned(fake_totals(values), usable)
    assert scan == {"a": 1, "b": 3, "d": 4}  # c never fits: 35 GiB at the most GPUs
    totals = fake_totals(values)
    assert layouts._bisected(totals, usable) == scan
    assert len(set(totals.asked)) < len(values)  # type: ignore[attr-defined]
    # a refused layout: bisection gives up, the scan in order decides
    assert layouts._bisected(fake_totals([120, None, 60, *values[3:]]), usable) is None
    assert layouts._scanned(fake_totals([120, None, 60, *values[3:]]), usable) == {
        "a": 2, "b": 3, "d": 4}


DP_CASES = [
    {"model": {"preset": preset}, "method": method, "framework": framework,
     "micro_batch_size": b, "sequence_length": s, "gradient_checkpointing": ckpt, **extra}
    for preset in ("meta-llama/Llama-3.1-8B", "Qwen/Qwen3-30B-A3B", "google/gemma-3-27b-it",
                   "openai-community/gpt2", "deepseek-ai/DeepSeek-V3")
    for method in ("full", "lora", "qlora")
    for framework in ("hf_trainer", "deepspeed", "torchtune")
    for b, s, ckpt, extra in ((1, 512, "none", {}), (8, 8192, "full", {}),
                              (4, 2048, "full", {"parallel": {"offload_optimizer": True,
                                                              "zero_stage": 1}}))
]


def test_data_parallel_totals_never_grow_with_the_gpus() -> None:
    """What bisection stands on: along the data-parallel layouts the per-GPU total never
    grows, and every layout is accepted (a refused one would make the scan decide)."""
    from vramcalc import engines, request
    from vramcalc.jsonable import with_fields

    checked = 0
    for case in DP_CASES:
        raw = {"mode": "training", "gpu": "rtx-4090", **case}
        parsed = request.parse(raw, engines.NAMES, engines.profile)
        candidates = layouts._candidates(parsed, layouts._current(parsed)[0])
        assert layouts._shards_only(candidates)
        totals = [api._peak(with_fields(raw, fields)) for _, fields, _ in candidates]
        assert all(isinstance(t, tuple) for t in totals), case
        values = [t[0] for t in totals if isinstance(t, tuple)]
        assert values == sorted(values, reverse=True), case
        checked += 1
    assert checked == len(DP_CASES) == 135
    # Megatron's layouts add tensor parallelism too: those are tried in order
    megatron = request.parse({"mode": "training", "model": L8, "framework": "megatron"},
                             engines.NAMES, engines.profile)
    assert not layouts._shards_only(layouts._candidates(megatron, 1))


def test_megatrons_normalized_request_gives_the_same_layouts() -> None:
    """The echo pins sequence_parallel false for the request's own tensor size 1; the tensor
    layouts derive it again (Megatron's default turns it on above 1). Found by the long
    property run: gemma-3-12b on an A10 read 16 GPUs, and none after the round trip."""
    raw = {"mode": "training", "model": {"preset": "google/gemma-3-12b-it"},
           "fit_gpus": ["a10"], "method": "full", "gpu": "a10", "loss": "standard",
           "framework": "megatron"}
    first = vramcalc.estimate(raw)
    assert first["request"]["parallel"]["sequence_parallel"] is False
    assert vramcalc.estimate(first["request"]) == first
    row = first["fit"]["gpus"][0]
    assert (row["gpus_needed"], row["layout"]["tensor"]) == (16, 16)
