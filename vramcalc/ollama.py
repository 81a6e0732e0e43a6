"""Ollama model names (`ollama run NAME`) -> the preset with their shapes, the quantization of
the tag's file and the context length stored in it (data/ollama.json, each entry with its
Ollama library page). Only names: the engine that runs them is `engines/ollama.py`.

A name is `[library/]model[:tag]`; no tag means `latest`. A tag may end in a quantization
(`qwen3:30b-a3b-q4_K_M`, `llama3.1:8b-instruct-q8_0`): the rest, without the variant words
Ollama puts before it (instruct, it, text, chat), names the model, and the suffix its file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from . import catalogs
from .errors import show

# a tag's quantization suffix (lower case, as Ollama spells tags) -> vramcalc's weight format
_QUANT_SUFFIXES = {
    "fp16": "F16", "bf16": "BF16", "f16": "F16", "q8_0": "Q8_0", "q6_k": "Q6_K",
    "q5_k_m": "Q5_K_M", "q5_k_s": "Q5_K_S", "q5_0": "Q5_0", "q5_1": "Q5_1",
    "q4_k_m": "Q4_K_M", "q4_k_s": "Q4_K_S", "q4_0": "Q4_0", "q4_1": "Q4_1",
    "q3_k_l": "Q3_K_L", "q3_k_m": "Q3_K_M", "q3_k_s": "Q3_K_S", "q2_k": "Q2_K",
    "iq4_xs": "IQ4_XS", "iq4_nl": "IQ4_NL", "mxfp4": "mxfp4",
}
_VARIANTS = ("instruct", "it", "text", "chat")


@dataclass(frozen=True, kw_only=True, slots=True)
class OllamaModel:
    name: str  # the canonical tag (llama3.1:8b)
    preset: str | None  # the vramcalc preset with its shapes; None: no preset
    hub: str  # the Hugging Face model the tag is built from
    weight_format: str  # the default file's quantization, as a vramcalc weight format id
    context_length: int  # the GGUF's <arch>.context_length: Ollama caps num_ctx at it
    source: str
    note: str


@cache
def models() -> dict[str, OllamaModel]:
    """Every name and alias -> its model."""
    out: dict[str, OllamaModel] = {}
    for e in catalogs.load("ollama.json")["models"]:
        model = OllamaModel(name=e["name"], preset=e["preset"], hub=e["hub"],
                            weight_format=e["weight_format"],
                            context_length=int(e["context_length"]), source=e["source"],
                            note=e.get("note", ""))
        for name in (e["name"], *e["aliases"]):
            out[name] = model
    return out


def lookup(name: str) -> tuple[OllamaModel | None, str, str]:
    """(the model, the weight format its name asks for, a problem or "")."""
    known = models()
    full = name.strip().lower().removeprefix("library/")
    if ":" not in full:
        full += ":latest"
    if full in known:
        return known[full], known[full].weight_format, ""
    base, _, tag = full.partition(":")
    quant = ""
    head, sep, last = tag.rpartition("-")
    if sep and last in _QUANT_SUFFIXES:
        tag, quant = head, _QUANT_SUFFIXES[last]
    parts = tag.split("-")
    while len(parts) > 1 and parts[-1] in _VARIANTS:
        parts.pop()
    model = known.get(f"{base}:{'-'.join(parts)}")
    if model is None:
        shown = ", ".join(sorted({m.name for m in known.values()}))
        return None, "", (f"unknown Ollama model {show(name)}; vramcalc knows: {shown} (a tag "
                          "may add a quantization such as -q8_0)")
    return model, quant or model.weight_format, ""
