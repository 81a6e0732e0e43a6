"""Training estimates through the public contract (vramcalc.estimate, mode "training")."""

from __future__ import annotations

import math
from typing import Any

import pytest

import vramcalc

LLAMA = {"preset": "meta-llama/Llama-3.1-8B"}
# A small Llama with hand-checkable numbers: h=256, 2 layers, 8 query / 2 KV heads (d=64),
# f=704, V=1000, untied: P = 2·256,000 embeddings/lm_head + 2 layers · (868,352 linear
# [q 131,072 + k, v 32,768 each + o 131,072 + 3 · 180,224 MLP] + 512 norms) + 256
TINY = {"config": {
    "model_type": "llama", "hidden_size": 256, "num_hidden_layers": 2,
    "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64,
    "intermediate_size": 704, "vocab_size": 1000, "tie_word_embeddings": False,
    "max_position_embeddings": 8192,
}}
TINY_P = 2 * 256_000 + 2 * (868_352 + 512) + 256


def _train(**fields: Any) -> dict[str, Any]:
    req: dict[str, Any] = {"mode": "training", "model": TINY, "fit_gpus": ["h100-sxm"]}
    req.update(fields)
    return vramcalc.estimate_or_raise(req)


def _component(resp: dict[str, Any], name: str) -> int:
    return next(c["bytes"] for c in resp["components"] if c["name"] == name)


def _phase(resp: dict[str, Any], name: str) -> int:
    return next(p["bytes"] for p in resp["phases"] if p["name"] == name)


def _errors(req: dict[str, Any]) -> list[dict[str, str]]:
    out = vramcalc.estimate({"mode": "training", "model": TINY, **req})
    assert "error" in out, out
    return out["error"]["problems"]


# ---------------------------------------------------------------------------------------
# tiny, hand-derived


def test_parameters_of_tiny_model() -> None:
    resp = _train()
    assert resp["parameters"]["total"] == TINY_P == 2_249_984
    assert resp["parameters"]["trainable"] == TINY_P


def test_bf16_full_fine_tune_states() -> None:
    # pure bf16, foreach AdamW: weights 2P, two bf16 states 4P; optimizer step adds the
    # gradients 2P and the foreach temporary over the 2-D weights (2,248,704 elements)
    resp = _train(precision="bf16", optimizer_implementation="foreach",
                  micro_batch_size=1, sequence_length=16)
    assert resp["peak_phase"] == "optimizer_step"
    assert _component(resp, "weights") == 2 * TINY_P
    assert _component(resp, "gradients") == 2 * TINY_P
    decay = 2 * 256_000 + 2 * 868_352  # 2-D tensors: embeddings, lm_head, linears
    assert _component(resp, "optimizer_states") == 4 * TINY_P + 2 * decay
    assert resp["allocated_bytes"] == 8 * TINY_P + 2 * decay + (32 << 20)  # + cuBLAS workspace


def test_mixed_precision_keeps_fp32_weights_grads_states() -> None:
    resp = _train(precision="mixed_bf16", optimizer_implementation="fused",
                  micro_batch_size=1, sequence_length=16)
    opt = next(c for c in resp["components"] if c["name"] == "optimizer_states")
    assert opt["bytes"] == 8 * TINY_P  # fp32 exp_avg + exp_avg_sq, fused: no temporaries
    assert _phase(resp, "optimizer_step") - _component(resp, "cuda_context") \
        - _component(resp, "runtime_reserve") - (32 << 20) == 16 * TINY_P  # 4 + 4 + 8 B each
    assert _component(resp, "master_weights") == 0  # the fp32 weights are the master copy


def test_forward_phase_by_hand() -> None:
    # bf16, b·s = 2·32 = 64 tokens, at the loss in the forward:
    #   weights 2P + AdamW states 4P (bf16)                     = 6 · 2,249,984
    #   2 layers · 12,328 B per token (test_activations)        = 2 · 12,328 · 64
    #   final norm 8h + 4 = 2,052 B per token                   = 2,052 · 64
    #   RoPE cos and sin, (1, s, d) bf16: 2 · 64 · 2 B per position = 256 · 32
    #   bf16 logits + fp32 upcast + log-softmax: 10 B · V       = 10,000 · 64
    resp = _train(precision="bf16", micro_batch_size=2, sequence_length=32)
    forward = next(m for m in resp["details"]["phase_moments"] if m["phase"] == "forward")
    assert forward["moment"] == "at the loss"
    assert forward["allocated_bytes"] == (32 << 20) + (  # cuBLAS workspace
        6 * TINY_P + 2 * 12_328 * 64 + 2_052 * 64 + 256 * 32 + 10_000 * 64)
    # the backward starts with 12 B per logit (nll grad, log-softmax grad, saved log-softmax)
    backward = resp["details"]["phase_moments"][1]
    assert backward["allocated_bytes"] >= forward["allocated_bytes"] + 2_000 * 64


def test_gradient_accumulation_keeps_gradients_not_divides_them() -> None:
    one = _train(precision="bf16", gradient_accumulation_steps=1)
    four = _train(precision="bf16", gradient_accumulation_steps=4)
    grads_one = max(_component(one, "gradients"), 2 * TINY_P)
    assert _phase(four, "forward") - _phase(one, "forward") >= 2 * TINY_P  # grads kept alive
    assert _phase(four, "optimizer_step") == _phase(one, "optimizer_step")  # same size
    assert grads_one == 2 * TINY_P


def test_components_sum_to_total_and_phases_report_the_peak() -> None:
    for method in ("full", "lora", "qlora"):
        resp = vramcalc.estimate_or_raise({"mode": "training", "model": LLAMA, "method": method,
                                           "fit_gpus": ["rtx-4090"]})
        assert sum(c["bytes"] for c in resp["components"]) == resp["total_bytes"]
        assert max(p["bytes"] for p in resp["phases"]) == resp["total_bytes"]
        assert resp["peak_phase"] in ("forward", "backward", "optimizer_step")
        tensors = sum(c["bytes"] for c in resp["components"] if c["kind"] == "tensor")
        assert tensors == resp["allocated_bytes"]
        names = [c["name"] for c in resp["components"]]
        assert names == ["weights", "master_weights", "adapters", "gradients",
                         "optimizer_states", "activations", "logits", "workspace",
                         "runtime_reserve", "cuda_context"]
        assert all(c["formula"] and c["source"] for c in resp["components"])


# ---------------------------------------------------------------------------------------
# the request: defaults, framework profiles, echo


def test_defaults_are_echoed() -> None:
    resp = vramcalc.estimate_or_raise({"mode": "training", "model": LLAMA, "fit_gpus": []})
    req = resp["request"]
    assert req["framework"] == "hf_trainer"
    assert (req["method"], req["micro_batch_size"], req["sequence_length"]) == ("full", 1, 2048)
    assert (req["precision"], req["optimizer"], req["optimizer_implementation"]) == (
        "mixed_bf16", "adamw", "fused")
    assert req["parallel"] == {"data": 1, "tensor": 1, "pipeline": 1, "zero_stage": 0,
                               "offload_optimizer": False, "offload_parameters": False,
                               "sequence_parallel": False}
    assert req["overheads"] == {"cuda_context_bytes": 768 << 20,
                                "allocator_reserve_fraction": 0.1}
    again = vramcalc.estimate_or_raise(req)  # the normalized request gives the same answer
    assert again["total_bytes"] == resp["total_bytes"]


def test_lora_defaults_follow_peft() -> None:
    resp = vramcalc.estimate_or_raise({"mode": "training", "model": LLAMA, "method": "lora",
                                       "fit_gpus": []})
    assert resp["request"]["lora"] == {"rank": 16, "alpha": 32, "dropout": 0.05,
                                       "target_modules": ["q_proj", "v_proj"]}
    assert resp["parameters"]["trainable"] == 6_815_744
    assert resp["request"]["precision"] == "bf16"  # HF profile: LoRA on a bf16 base


def test_framework_fills_only_what_is_missing() -> None:
    resp = vramcalc.estimate_or_raise({"mode": "training", "model": LLAMA, "fit_gpus": [],
                                       "framework": "torchtune", "loss": "standard"})
    fw = resp["details"]["framework"]
    assert fw["defaults"]["precision"] == "bf16"
    assert fw["defaults"]["gradient_checkpointing"] == "full"
    assert fw["overridden"] == {"loss": "standard"}  # torchtune's own default is chunked
    assert resp["request"]["precision"] == "bf16" and resp["request"]["loss"] == "standard"
    # the normalized request reproduces the response exactly
    assert vramcalc.estimate_or_raise(resp["request"]) == resp


def test_qlora_profile_turns_on_checkpointing() -> None:
    resp = vramcalc.estimate_or_raise({"mode": "training", "model": LLAMA, "method": "qlora",
                                       "fit_gpus": []})
    assert resp["request"]["gradient_checkpointing"] == "full"
    assert resp["request"]["qlora"] == {"quant_type": "nf4", "double_quant": True,
                                        "saves_linear_inputs": False}


def test_catalog_lists_training_choices() -> None:
    cat = vramcalc.catalog()
    assert cat["choices"]["training"]["method"] == ["full", "lora", "qlora"]
    assert {f["id"] for f in cat["frameworks"]} == {
        "hf_trainer", "torchtune", "unsloth", "deepspeed", "megatron", "litgpt"}
    assert cat["defaults"]["training"]["precision"] == "mixed_bf16"


# ---------------------------------------------------------------------------------------
# errors: every problem, exact messages


def test_bad_fields_are_all_reported() -> None:
    problems = _errors({"method": "dora", "micro_batch_size": 0, "precision": "fp8",
                        "parallel": {"zero_stage": 4, "tensor": 3}})
    assert {"field": "method", "message": "must be one of full, lora, qlora; got 'dora'"} \
        in problems
    assert {"field": "micro_batch_size", "message": "must be an integer >= 1, got 0"} \
        in problems
    assert {"field": "precision",
            "message": "must be one of fp32, mixed_bf16, bf16, mixed_fp16; got 'fp8'"} \
        in problems
    assert {"field": "parallel.zero_stage", "message": "must be an integer <= 3, got 4"} \
        in problems
    assert {"field": "parallel.tensor",
            "message": "must divide the number of attention heads (8)"} in problems


def test_lora_errors() -> None:
    assert _errors({"method": "lora", "lora": {"rank": 0}}) == [
        {"field": "lora.rank", "message": "must be an integer >= 1, got 0"}]
    assert _errors({"method": "lora", "lora": {"target_modules": ["q_proj", "qq"]}}) == [
        {"field": "lora.target_modules",
         "message": "unknown module names: qq; this model's modules: q_proj, k_proj, v_proj, "
         "o_proj, gate_proj, up_proj, down_proj, lm_head, embed_tokens, or \"all-linear\""}]
    # another family's name, and a name this (dense, non-MLA) model has no module of
    for names in (["c_attn"], ["dense"], ["experts"], ["kv_a_proj_with_mqa"]):
        assert _errors({"method": "lora", "lora": {"target_modules": ["q_proj", *names]}}) == [
            {"field": "lora.target_modules",
             "message": f"this model has no {names[0]} layers; its modules: q_proj, k_proj, "
             "v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head, embed_tokens, or "
             "\"all-linear\""}]
    assert _errors({"lora": {"rank": 8}}) == [
        {"field": "lora", "message": "is only used with method lora or qlora"}]
    assert _errors({"method": "lora", "qlora": {}}) == [
        {"field": "qlora", "message": "is only used with method qlora"}]


def test_parallel_errors() -> None:
    assert _errors({"parallel": {"offload_optimizer": True}}) == [
        {"field": "parallel.offload_optimizer",
         "message": "needs zero_stage 1, 2 or 3 (ZeRO-Offload)"}]
    assert _errors({"parallel": {"zero_stage": 2, "offload_parameters": True}}) == [
        {"field": "parallel.offload_parameters", "message": "needs zero_stage 3"}]
    assert _errors({"parallel": {"sequence_parallel": True}}) == [
        {"field": "parallel.sequence_parallel",
         "message": "needs tensor > 1 (it splits what TP replicates)"}]
    assert _errors({"parallel": {"pipeline": 3}}) == [
        {"field": "parallel.pipeline", "message": "must be at most the number of layers (2)"}]
    assert _errors({"parallel": {"nodes": 2}}) == [
        {"field": "parallel.nodes", "message": "is not a known field"}]


def test_optimizer_in_backward_errors() -> None:
    assert _errors({"optimizer_in_backward": True, "gradient_accumulation_steps": 2}) == [
        {"field": "optimizer_in_backward",
         "message": "cannot be combined with gradient_accumulation_steps > 1 (each parameter "
         "is updated as soon as its gradient exists)"}]


def test_inference_fields_are_unknown_in_training() -> None:
    assert _errors({"batch_size": 4}) == [
        {"field": "batch_size", "message": "is not a known field"}]


# ---------------------------------------------------------------------------------------
# properties


def _alloc(**fields: Any) -> int:
    req = {"mode": "training", "model": LLAMA, "fit_gpus": [], **fields}
    return int(vramcalc.estimate_or_raise(req)["allocated_bytes"])


@pytest.mark.parametrize("method", ["full", "lora", "qlora"])
@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_monotone_in_batch_and_sequence(method: str, attention: str) -> None:
    batches = [_alloc(method=method, attention=attention, micro_batch_size=b,
                      sequence_length=1024) for b in (1, 2, 4, 8)]
    assert batches == sorted(batches) and batches[0] < batches[-1]
    lengths = [_alloc(method=method, attention=attention, sequence_length=s)
               for s in (256, 1024, 4096, 16384)]
    assert lengths == sorted(lengths) and lengths[0] < lengths[-1]


def test_monotone_in_rank() -> None:
    ranks = [_alloc(method="lora", lora={"rank": r, "target_modules": "all-linear"})
             for r in (8, 16, 64, 256)]
    assert ranks == sorted(ranks) and ranks[0] < ranks[-1]


def test_lora_below_full_and_qlora_weights_below_lora() -> None:
    for precision in ("mixed_bf16", "bf16", "fp32"):
        full = _alloc(method="full", precision=precision)
        lo = _alloc(method="lora", precision=precision)
        assert lo <= full
    def weights(method: str) -> int:
        resp = vramcalc.estimate_or_raise({"mode": "training", "model": LLAMA, "method": method,
                                           "precision": "bf16", "fit_gpus": [],
                                           "gradient_checkpointing": "full"})
        return _component(resp, "weights")
    assert weights("qlora") <= weights("lora")
    assert _alloc(method="qlora", precision="bf16", gradient_checkpointing="full") < _alloc(
        method="lora", precision="bf16", gradient_checkpointing="full")


def test_non_increasing_in_zero_stage_tp_and_pp() -> None:
    zero = [_alloc(parallel={"data": 8, "zero_stage": z}) for z in (0, 1, 2, 3)]
    assert zero == sorted(zero, reverse=True) and zero[3] < zero[0]
    tp = [_alloc(parallel={"tensor": t}) for t in (1, 2, 4, 8)]
    assert tp == sorted(tp, reverse=True) and tp[3] < tp[0]
    pp = [_alloc(parallel={"pipeline": p}, gradient_accumulation_steps=8) for p in (1, 2, 4, 8)]
    assert pp == sorted(pp, reverse=True) and pp[3] < pp[0]
    sp = _alloc(parallel={"tensor": 4, "sequence_parallel": True}, sequence_length=8192)
    assert sp <= _alloc(parallel={"tensor": 4}, sequence_length=8192)


def test_offload_moves_states_to_cpu() -> None:
    resp = vramcalc.estimate_or_raise({"mode": "training", "model": LLAMA, "fit_gpus": [],
                                       "parallel": {"data": 8, "zero_stage": 3,
                                                    "offload_optimizer": True,
                                                    "offload_parameters": True}})
    cpu = resp["details"]["cpu_memory_bytes"]
    assert cpu["optimizer_states"] > 0 and cpu["master_weights"] > 0 and cpu["weights"] > 0
    assert _component(resp, "optimizer_states") == 0
    on = _alloc(parallel={"data": 8, "zero_stage": 3, "offload_optimizer": True})
    assert on < _alloc(parallel={"data": 8, "zero_stage": 3})


def test_zero_shards_model_states() -> None:
    # DeepSpeed bf16: 2 B weights + 2 B grads + 12 B master and states (ZeRO paper, Ψ = P)
    def states(stage: int) -> int:
        resp = vramcalc.estimate_or_raise({
            "mode": "training", "model": LLAMA, "fit_gpus": [], "framework": "deepspeed",
            "sequence_length": 16, "parallel": {"data": 8, "zero_stage": stage}})
        phase = next(m for m in resp["details"]["phase_moments"]
                     if m["phase"] == "optimizer_step")
        return int(phase["allocated_bytes"])
    p = 8_030_261_248
    ws = 32 << 20  # cuBLAS workspace
    assert math.isclose(states(0) - ws, 16 * p, rel_tol=1e-6)
    assert math.isclose(states(1) - ws, 4 * p + 12 * p / 8, rel_tol=1e-6)
    assert math.isclose(states(2) - ws, 2 * p + 14 * p / 8, rel_tol=1e-6)
    assert math.isclose(states(3) - ws, 16 * p / 8, rel_tol=1e-6)


def test_optimizer_choice_changes_states() -> None:
    adam = _alloc(precision="bf16", optimizer="adamw", optimizer_implementation="fused")
    eight = _alloc(precision="bf16", optimizer="adamw_8bit")
    sgd = _alloc(precision="bf16", optimizer="sgd")
    paged = _alloc(precision="bf16", optimizer="paged_adamw_8bit")
    assert sgd < eight < adam and paged < eight


def test_chunked_and_fused_losses_shrink_the_logits() -> None:
    args = {"method": "lora", "sequence_length": 8192, "gradient_checkpointing": "full"}
    standard = _alloc(loss="standard", **args)
    assert _alloc(loss="chunked", **args) < standard
    assert _alloc(loss="fused", **args) < _alloc(loss="chunked", **args)


def test_checkpointing_variants_order() -> None:
    args = {"sequence_length": 8192, "attention": "eager", "method": "lora"}
    none = _alloc(gradient_checkpointing="none", **args)
    selective = _alloc(gradient_checkpointing="selective", **args)
    full = _alloc(gradient_checkpointing="full", **args)
    offloaded = _alloc(gradient_checkpointing="offloaded", **args)
    assert offloaded <= full < selective < none


def test_fit_rows_agree_with_the_total() -> None:
    req = {"mode": "training", "model": LLAMA, "method": "lora", "micro_batch_size": 2,
           "sequence_length": 2048, "fit_gpus": "all"}
    resp = vramcalc.estimate_or_raise(req)
    for row in resp["fit"]["gpus"]:
        assert row["fits"] == (resp["total_bytes"] <= row["usable_bytes"])
        if row["max_batch_size"]:
            bigger = vramcalc.estimate_or_raise(
                {**req, "micro_batch_size": row["max_batch_size"] + 1, "fit_gpus": []})
            same = vramcalc.estimate_or_raise(
                {**req, "micro_batch_size": row["max_batch_size"], "fit_gpus": []})
            assert same["total_bytes"] <= row["usable_bytes"] < bigger["total_bytes"]
        if row["fits"]:
            assert row["max_batch_size"] >= 2 and row["max_context_length"] >= 2048


def test_never_negative_or_nan() -> None:
    for method in ("full", "lora", "qlora"):
        for ckpt in ("none", "selective", "full", "offloaded"):
            for optimizer in ("adamw", "adamw_8bit", "paged_adamw_8bit", "adafactor", "sgd",
                              "lion"):
                resp = vramcalc.estimate_or_raise({
                    "mode": "training", "model": TINY, "method": method, "fit_gpus": [],
                    "gradient_checkpointing": ckpt, "optimizer": optimizer})
                for c in resp["components"]:
                    assert c["bytes"] >= 0 and not math.isnan(c["bytes"])


def test_litgpt_keeps_its_fused_qkv_per_layer() -> None:
    """framework litgpt against the same request as torchtune runs it (same fields, bf16,
    bf16 adapters): per layer and token, LitGPT's attention keeps q's and k's part of the
    fused qkv through v's view, 2 B · (512 + 128); its LoRA on q and v keeps the input once
    (-(2 + 1)·256) and zero_pad's source (2 B · (512 + 128)): 1792 B in all
    (tests/test_activations.py derives each term)."""
    config = {"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 3,
              "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 64,
              "intermediate_size": 704, "vocab_size": 1000, "tie_word_embeddings": False}
    req = {"mode": "training", "model": {"config": config}, "method": "lora",
           "precision": "bf16", "optimizer": "adamw", "optimizer_implementation": "foreach",
           "gradient_checkpointing": "none", "loss": "chunked", "micro_batch_size": 2,
           "sequence_length": 64, "fit_gpus": [],
           "lora": {"rank": 16, "dropout": 0.05, "target_modules": ["q_proj", "v_proj"]}}

    def activations(framework: str) -> tuple[str, int]:
        resp = vramcalc.estimate_or_raise({**req, "framework": framework})
        return resp["peak_phase"], next(c["bytes"] for c in resp["components"]
                                        if c["name"] == "activations")

    (phase, litgpt), (same_phase, apart) = activations("litgpt"), activations("torchtune")
    assert phase == same_phase == "forward"  # every layer's saved tensors alive at once
    assert litgpt - apart == 3 * 2 * 64 * 1792


def test_litgpt_counts_mla_attention_as_transformers_does() -> None:
    """LitGPT's MLA attention has no fused qkv: DeepSeek-V2-Lite trains alike under both."""
    req = {"mode": "training", "model": {"preset": "deepseek-ai/DeepSeek-V2-Lite"},
           "method": "lora", "precision": "bf16", "optimizer_implementation": "foreach",
           "gradient_checkpointing": "none", "loss": "chunked", "micro_batch_size": 1,
           "sequence_length": 256, "fit_gpus": [], "lora": {"dropout": 0.05}}
    both = [vramcalc.estimate_or_raise({**req, "framework": fw})["total_bytes"]
            for fw in ("litgpt", "torchtune")]
    assert both[0] == both[1]
