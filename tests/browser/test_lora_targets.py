"""The LoRA target modules the page offers are the chosen model's own (each answer's
`model.lora_target_modules`, plus `all-linear`), for presets and pasted configs alike."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .helpers import assert_matches_python, edit, request_json, response_json, settle, wait_live

pytestmark = pytest.mark.usefixtures("watch")

TARGETS = '[name="lora.target_modules"]'

# a small Mixtral: attention and routed experts, no dense MLP (modeling_mixtral.py)
MOE_CONFIG = {
    "model_type": "mixtral", "hidden_size": 512, "num_hidden_layers": 4,
    "num_attention_heads": 8, "num_key_value_heads": 2, "intermediate_size": 1024,
    "num_local_experts": 4, "num_experts_per_tok": 2, "vocab_size": 32000,
    "max_position_embeddings": 4096, "tie_word_embeddings": False,
}


def offered(page: Any) -> list[str]:
    return page.locator(TARGETS).evaluate_all("els => els.map(e => e.value)")


def ticked(page: Any) -> list[str]:
    return page.locator(f"{TARGETS}:checked").evaluate_all("els => els.map(e => e.value)")


def tick(page: Any, name: str, on: bool = True) -> None:
    page.locator(f'{TARGETS}[value="{name}"]').set_checked(on)


def choose_preset(page: Any, preset: str) -> None:
    page.locator('[name="model.preset"]').select_option(preset)


def test_the_offered_targets_are_the_models_own(
    page: Any, context: Any, site_url: str, vramcalc: Any
) -> None:
    page.goto(f"{site_url}?view=finetune")
    wait_live(page)
    settle(page)
    response = response_json(page)
    llama = response["model"]["lora_target_modules"]
    assert llama == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                     "down_proj", "lm_head", "embed_tokens"]
    assert offered(page) == [*llama, "all-linear"]
    assert ticked(page) == ["q_proj", "v_proj"]

    # ticked names the next model also has stay ticked; the others are unticked, and said
    for name in ("k_proj", "o_proj", "gate_proj"):
        edit(page, lambda name=name: tick(page, name))
    assert request_json(page)["lora"]["target_modules"] == [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj"]
    edit(page, lambda: choose_preset(page, "mistralai/Mixtral-8x7B-v0.1"))
    response = assert_matches_python(page, vramcalc)
    assert offered(page) == [*response["model"]["lora_target_modules"], "all-linear"]
    assert "experts" in offered(page) and "gate_proj" not in offered(page)
    assert ticked(page) == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert response["request"]["lora"]["target_modules"] == ticked(page)
    notice = page.locator('[data-notice="lora-targets"] li')
    assert notice.all_text_contents() == ["gate_proj"]

    # none of them in GPT-2: its own default (c_attn) instead, and its own names offered
    edit(page, lambda: choose_preset(page, "openai-community/gpt2"))
    response = assert_matches_python(page, vramcalc)
    assert offered(page) == ["c_attn", "c_proj", "c_fc", "all-linear"]
    assert ticked(page) == ["c_attn"] == response["request"]["lora"]["target_modules"]
    edit(page, lambda: tick(page, "c_fc"))
    assert request_json(page)["lora"]["target_modules"] == ["c_attn", "c_fc"]

    # all-linear stands alone: the others wait, disabled, and it is sent as the value itself
    edit(page, lambda: tick(page, "all-linear"))
    assert request_json(page)["lora"]["target_modules"] == "all-linear"
    assert page.locator(f'{TARGETS}[value="c_attn"]').is_disabled()
    # and it holds for any model: DeepSeek-V2-Lite offers MLA's and the experts' names
    edit(page, lambda: choose_preset(page, "deepseek-ai/DeepSeek-V2-Lite"))
    response = assert_matches_python(page, vramcalc)
    assert response["request"]["lora"]["target_modules"] == "all-linear"
    assert {"kv_a_proj_with_mqa", "kv_b_proj", "experts"} <= set(offered(page))
    assert ticked(page) == ["all-linear"]

    # a pasted config: its own names too
    page.locator("input[name=source][value=config]").check()
    edit(page, lambda: page.locator("#f-model\\.config").fill(json.dumps(MOE_CONFIG)))
    edit(page, lambda: tick(page, "all-linear", False))
    response = assert_matches_python(page, vramcalc)
    assert offered(page) == ["q_proj", "k_proj", "v_proj", "o_proj", "experts", "lm_head",
                             "embed_tokens", "all-linear"]
    edit(page, lambda: tick(page, "experts"))
    response = assert_matches_python(page, vramcalc)
    assert response["request"]["lora"]["target_modules"] == ticked(page)
    assert "experts" in ticked(page)

    # a shared link reproduces the choice
    other = context.new_page()
    other.goto(page.url)
    wait_live(other)
    settle(other)
    assert response_json(other) == response
    assert offered(other) == offered(page)
    assert ticked(other) == ticked(page)
