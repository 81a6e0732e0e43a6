"""The names a checkpoint gives a model's linear modules, and how quantization configs
match them (`ignore` lists, `modules_to_not_convert`, `exclude_modules`, config-group
`targets`).

Names follow the checkpoints' safetensors keys as `transformers` v4 saved them (the layout
vLLM loads): `model.layers.{i}.self_attn.q_proj`, `model.layers.{i}.mlp.experts.{e}.gate_proj`,
`lm_head`; GPT-2, Falcon, GPT-NeoX, BLOOM, OPT, GPT-J, MPT, Phi, StarCoder2, Qwen (v1) and
ChatGLM keep their own (`transformer.h.{i}.attn.c_attn`, `model.decoder.layers.{i}.fc1`, ...),
and the multimodal wrappers (Gemma 3, Llama 4, Mistral 3) prefix the language model with
`language_model.`. Three matching rules, one per family of quantizers:

- `compressed-tensors` (also vLLM's reading of ModelOpt's newer `ignore`): an entry is a module
  name, `re:<regex>` matched from the start of the name, or a class name (`Linear`)
  (compressed-tensors 0.12.2 utils/match.py `_match_name`, `_match_class`);
- `transformers` (`modules_to_not_convert`, `llm_int8_skip_modules`, `skip_modules`): an entry
  is a regex matched from the start of the name, or a suffix of it (transformers v5
  quantizers/quantizers_utils.py `should_convert_module`);
- `fnmatch` (ModelOpt's `exclude_modules`): a shell-style pattern (`model.layers.0.self_attn*`)
  matching the name or one of its parents.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .architecture import ModelSpec, TensorGroup

SYNTAXES = ("compressed-tensors", "transformers", "fnmatch")
MAX_PATTERN_LENGTH = 512  # bounds on what a pasted config can make the matcher do
MAX_ENTRIES = 4096
MAX_SCHEMES = 64  # compressed-tensors config groups, HQQ per-layer configs
_UNMATCHED_BUDGET = 200_000  # regex matches spent looking for ignore entries that match nothing

# role -> the module's name inside a decoder layer (Llama layout)
_LLAMA = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "attn_qkv": "self_attn.qkv_proj",
    "attn_q_a": "self_attn.q_a_proj", "attn_q_b": "self_attn.q_b_proj",
    "attn_kv_a": "self_attn.kv_a_proj_with_mqa", "attn_kv_b": "self_attn.kv_b_proj",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
    "ffn_gate_up": "mlp.gate_up_proj",
    "ffn_gate_exps": "mlp.experts.{e}.gate_proj", "ffn_up_exps": "mlp.experts.{e}.up_proj",
    "ffn_down_exps": "mlp.experts.{e}.down_proj",
    "ffn_gate_shexp": "mlp.shared_experts.gate_proj", "ffn_up_shexp": "mlp.shared_experts.up_proj",
    "ffn_down_shexp": "mlp.shared_experts.down_proj",
    "ffn_gate_inp": "mlp.gate",  # the router (never quantized: named for ignore lists)
}
# per family: what differs from the Llama layout (modeling_<family>.py module names)
_FAMILY = {
    "qwen2_moe": {"ffn_gate_shexp": "mlp.shared_expert.gate_proj",
                  "ffn_up_shexp": "mlp.shared_expert.up_proj",
                  "ffn_down_shexp": "mlp.shared_expert.down_proj",
                  "ffn_gate_inp_shexp": "mlp.shared_expert_gate"},
    "mixtral": {"ffn_gate_exps": "block_sparse_moe.experts.{e}.w1",
                "ffn_up_exps": "block_sparse_moe.experts.{e}.w3",
                "ffn_down_exps": "block_sparse_moe.experts.{e}.w2",
                "ffn_gate_inp": "block_sparse_moe.gate"},
    "gpt_oss": {"ffn_gate_up_exps": "mlp.experts.gate_up_proj",
                "ffn_down_exps": "mlp.experts.down_proj", "ffn_gate_inp": "mlp.router"},
    "llama4_text": {"ffn_gate": "feed_forward.gate_proj", "ffn_up": "feed_forward.up_proj",
                    "ffn_down": "feed_forward.down_proj",
                    "ffn_gate_up_exps": "feed_forward.experts.gate_up_proj",
                    "ffn_down_exps": "feed_forward.experts.down_proj",
                    "ffn_gate_shexp": "feed_forward.shared_expert.gate_proj",
                    "ffn_up_shexp": "feed_forward.shared_expert.up_proj",
                    "ffn_down_shexp": "feed_forward.shared_expert.down_proj",
                    "ffn_gate_inp": "feed_forward.router"},
    "gpt2": {"attn_qkv": "attn.c_attn", "attn_output": "attn.c_proj", "ffn_up": "mlp.c_fc",
             "ffn_down": "mlp.c_proj"},
    "gpt_bigcode": {"attn_qkv": "attn.c_attn", "attn_output": "attn.c_proj",
                    "ffn_up": "mlp.c_fc", "ffn_down": "mlp.c_proj"},
    "falcon": {"attn_qkv": "self_attention.query_key_value",
               "attn_output": "self_attention.dense", "ffn_up": "mlp.dense_h_to_4h",
               "ffn_down": "mlp.dense_4h_to_h"},
    "gpt_neox": {"attn_qkv": "attention.query_key_value", "attn_output": "attention.dense",
                 "ffn_up": "mlp.dense_h_to_4h", "ffn_down": "mlp.dense_4h_to_h"},
    "bloom": {"attn_qkv": "self_attention.query_key_value",
              "attn_output": "self_attention.dense", "ffn_up": "mlp.dense_h_to_4h",
              "ffn_down": "mlp.dense_4h_to_h"},
    "opt": {"attn_output": "self_attn.out_proj", "ffn_up": "fc1", "ffn_down": "fc2"},
    "gptj": {"attn_q": "attn.q_proj", "attn_k": "attn.k_proj", "attn_v": "attn.v_proj",
             "attn_output": "attn.out_proj", "ffn_up": "mlp.fc_in", "ffn_down": "mlp.fc_out"},
    "mpt": {"attn_qkv": "attn.Wqkv", "attn_output": "attn.out_proj", "ffn_up": "ffn.up_proj",
            "ffn_down": "ffn.down_proj"},
    "phi": {"attn_output": "self_attn.dense", "ffn_up": "mlp.fc1", "ffn_down": "mlp.fc2"},
    "starcoder2": {"ffn_up": "mlp.c_fc", "ffn_down": "mlp.c_proj"},
    # remote code: modeling_qwen.py (Qwen/Qwen-7B; QWenMLP: c_proj(w1(x) * silu(w2(x)))) and
    # modeling_chatglm.py (THUDM/chatglm3-6b; dense_h_to_4h holds gate and up)
    "qwen": {"attn_qkv": "attn.c_attn", "attn_output": "attn.c_proj", "ffn_gate": "mlp.w2",
             "ffn_up": "mlp.w1", "ffn_down": "mlp.c_proj"},
    "chatglm": {"attn_qkv": "self_attention.query_key_value",
                "attn_output": "self_attention.dense", "ffn_gate_up": "mlp.dense_h_to_4h",
                "ffn_down": "mlp.dense_4h_to_h"},
}
# per family: (layer stack, lm_head, token embedding)
_STACK = {
    "gpt2": ("transformer.h", "lm_head", "transformer.wte"),
    "gpt_bigcode": ("transformer.h", "lm_head", "transformer.wte"),
    "falcon": ("transformer.h", "lm_head", "transformer.word_embeddings"),
    "gpt_neox": ("gpt_neox.layers", "embed_out", "gpt_neox.embed_in"),
    "bloom": ("transformer.h", "lm_head", "transformer.word_embeddings"),
    "opt": ("model.decoder.layers", "lm_head", "model.decoder.embed_tokens"),
    "gptj": ("transformer.h", "lm_head", "transformer.wte"),
    "mpt": ("transformer.blocks", "lm_head", "transformer.wte"),
    "qwen": ("transformer.h", "lm_head", "transformer.wte"),
    "chatglm": ("transformer.encoder.layers", "transformer.output_layer",
                "transformer.embedding.word_embeddings"),
}
_MULTIMODAL = ("gemma3", "llama4", "mistral3")  # model_type of the wrappers around text_config


def _stack(spec: ModelSpec) -> tuple[str, str, str]:
    if spec.model_type in _MULTIMODAL:
        return ("language_model.model.layers", "language_model.lm_head",
                "language_model.model.embed_tokens")
    return _STACK.get(spec.family, ("model.layers", "lm_head", "model.embed_tokens"))


def layer_module(spec: ModelSpec, role: str) -> str | None:
    """The name of a `role` tensor's module inside a decoder layer (`self_attn.q_proj`,
    `mlp.experts.{e}.gate_proj`), or None when the checkpoint names no module for it."""
    return _FAMILY.get(spec.family, {}).get(role) or _LLAMA.get(role)


def outer_module(spec: ModelSpec, role: str) -> str | None:
    """The full name of the output layer (`output`) or the token embedding (`token_embd`)."""
    _, output, embedding = _stack(spec)
    return {"output": output, "token_embd": embedding}.get(role)


def group_names(spec: ModelSpec, group: TensorGroup) -> Iterator[tuple[int, str, int]]:
    """(layer, module name, matrices) of `group`: one name per expert where the checkpoint
    stores experts as separate modules, one name for a stacked expert tensor (gpt-oss,
    Llama 4), whose matrices it counts; layer -1 outside the layer stack."""
    layers = _stack(spec)[0]
    if not group.layers:
        outer = outer_module(spec, group.role)
        if outer is not None:
            yield -1, outer, 1
        return
    suffix = layer_module(spec, group.role)
    if suffix is None:
        return
    for layer in group.layers:
        base = f"{layers}.{layer}.{suffix}"
        if "{e}" in suffix:
            for expert in range(group.experts):
                yield layer, base.replace("{e}", str(expert)), 1
        else:
            yield layer, base, group.experts


def pattern_problem(entry: str, syntax: str) -> str | None:
    """Why `entry` cannot be matched (too long, not a valid regex), or None."""
    if len(entry) > MAX_PATTERN_LENGTH:
        return f"at most {MAX_PATTERN_LENGTH} characters, got {len(entry):,}"
    regex = _regex(entry, syntax)
    if regex is None:
        return None
    try:
        re.compile(regex)
    except re.error as error:
        return f"{entry[:80]!r} is not a valid regular expression ({error})"
    if _nested_repetition(regex):
        return (f"{entry[:80]!r} repeats a group that repeats ((a+)+): such a pattern can take "
                "exponential time, and no quantizer writes one")
    return None


def _nested_repetition(regex: str) -> bool:
    """Whether a repeated group contains a repetition, the shape of catastrophic
    backtracking (`(a+)+`, `(.*)*`)."""
    stack: list[bool] = []  # per open group: whether it holds a quantifier
    i, inside_class = 0, False
    while i < len(regex):
        c = regex[i]
        if c == "\\":
            i += 2
            continue
        if inside_class:
            inside_class = c != "]"
        elif c == "[":
            inside_class = True
        elif c == "(":
            stack.append(False)
        elif c == ")" and stack:
            repeated = stack.pop()
            following = regex[i + 1:i + 2]
            if repeated and following in ("*", "+", "{"):
                return True
            if stack and (repeated or following in ("*", "+", "{")):
                stack[-1] = True
        elif c in "*+{" and stack:
            stack[-1] = True
        i += 1
    return False


def _regex(entry: str, syntax: str) -> str | None:
    """The regex an entry stands for (matched with re.match), or None for an exact name."""
    if syntax == "compressed-tensors":
        return entry[3:] if entry.startswith("re:") else None
    if syntax == "fnmatch":  # `*` and `?` are wildcards; the module itself or one under it
        glob = re.escape(entry).replace(r"\*", ".*").replace(r"\?", ".")
        return glob + r"(?:\..*)?\Z"
    return entry  # transformers: re.match(key) (which re.match(key + "\\.") implies)


class Matcher:
    """One compiled list of entries of one syntax; `match(name)` says whether any matches."""

    __slots__ = ("classes", "exact", "regex", "suffixes")

    def __init__(self, entries: tuple[str, ...], syntax: str) -> None:
        self.exact = frozenset(e for e in entries if _regex(e, syntax) is None
                               and not is_class(e, syntax))
        self.classes = frozenset(e for e in entries if is_class(e, syntax))
        regexes = [r for e in entries if (r := _regex(e, syntax)) is not None]
        self.regex = re.compile("|".join(f"(?:{r})" for r in regexes)) if regexes else None
        self.suffixes = tuple(entries) if syntax == "transformers" else ()

    def match(self, name: str) -> bool:
        if name in self.exact or "Linear" in self.classes:
            return True
        if self.suffixes and name.endswith(self.suffixes):
            return True
        return bool(self.regex is not None and self.regex.match(name))


def is_class(entry: str, syntax: str) -> bool:
    """compressed-tensors targets and ignores may name a module class (`Linear`)."""
    return syntax == "compressed-tensors" and entry[:1].isupper() and "." not in entry \
        and not entry.startswith("re:")


@lru_cache(maxsize=64)
def matcher(entries: tuple[str, ...], syntax: str) -> Matcher:
    return Matcher(entries, syntax)


def unmatched(spec: ModelSpec, entries: tuple[str, ...], syntax: str,
              groups: tuple[TensorGroup, ...]) -> list[str]:
    """The entries that match none of the names of `groups` (of `spec`). Exact names are
    looked up; patterns are tried name by name within a budget, and a pattern the budget
    does not reach is taken as matching (no warning is better than a false one)."""
    names = [name for group in groups for _, name, _ in group_names(spec, group)]
    known = set(names)
    budget = _UNMATCHED_BUDGET
    missed = []
    for entry in entries:
        if is_class(entry, syntax):
            continue
        regex = _regex(entry, syntax)
        if regex is None:
            if entry not in known:
                missed.append(entry)
            continue
        pattern = re.compile(regex)
        suffix = entry if syntax == "transformers" else None
        hit = False
        for name in names:
            budget -= 1
            if pattern.match(name) or (suffix is not None and name.endswith(suffix)):
                hit = True
                break
            if budget <= 0:
                return missed
        if not hit:
            missed.append(entry)
    return missed
