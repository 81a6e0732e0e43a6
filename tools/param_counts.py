"""Pin the parameter counts that transformers instantiates for every catalog model.

Dev tool, not part of the package: it needs torch and transformers, which vramcalc never
imports at run time. For every entry of vramcalc/data/models.json, every config of the
corpus tests/data/configs/*.json and every small per-family config of
tests/data/family_configs.json it builds the model with AutoModelForCausalLM.from_config on
the meta device (no memory is allocated, so DeepSeek-V3 costs nothing), counts its
parameters and writes tests/data/param_counts.json, the ground truth the tests compare with.
A config with a vision_config also gets the whole AutoModelForImageTextToText count
("multimodal"); a model_type transformers does not register (remote code) is recorded as
such; a corpus config vramcalc refuses by name ("expect": "refuse") is not counted.

    python tools/param_counts.py            # rewrite tests/data/param_counts.json
    python tools/param_counts.py --check    # exit 1 if the file differs from a fresh count

Counting rules (also written into the output's header):
- total: sum(p.numel() for p in model.parameters()); parameters() yields a tied tensor once.
- by_category: each unique parameter goes to exactly one category, by the first rule
  that matches (see _categorize); a parameter no rule matches aborts the run.
- active (MoE only): total - routed + routed * k / E, k = experts per token, E = routed experts.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "vramcalc" / "data" / "models.json"
EXTRA_CONFIGS = ROOT / "tests" / "data" / "configs"
FAMILY_CONFIGS = ROOT / "tests" / "data" / "family_configs.json"
OUTPUT = ROOT / "tests" / "data" / "param_counts.json"
COMMAND = "python tools/param_counts.py"

CATEGORIES = (
    "embeddings",
    "attention",
    "mlp",
    "routed_experts",
    "shared_experts",
    "router",
    "norms",
    "lm_head",
)

RULES = {
    "norms": "any parameter of a module whose class name contains 'Norm' (input/post-attention "
    "norms, q_norm/k_norm, MLA q_a_layernorm/kv_a_layernorm, the final norm)",
    "embeddings": "token embeddings (embed_tokens, wte, word_embeddings, embed_in, Mamba's "
    "embeddings), learned position embeddings (wpe, OPT's embed_positions) and OPT-350m's "
    "project_in/project_out",
    "lm_head": "the output projection (lm_head, GPT-NeoX embed_out) when it is its own tensor; "
    "a tied head is the embedding tensor and is counted once, under embeddings",
    "shared_experts": "parameters under shared_expert / shared_experts, Qwen2-MoE's "
    "shared_expert_gate, and a shared_mlp beside experts (Granite, Hunyuan); without "
    "experts a shared_mlp is the layer's MLP",
    "router": "the MoE router: the 'gate' or 'router' child of a block that has an 'experts' "
    "child (weight and bias; DeepSeek-V3's e_score_correction_bias is a buffer, not a "
    "parameter, in transformers 5, so it is not counted)",
    "routed_experts": "parameters under an 'experts' module",
    "attention": "everything else under the token mixer (self_attn, attn, attention, "
    "self_attention; the recurrent mixers mixer, mamba, linear_attn, conv unless the mixer "
    "is an MLP): q/k/v/o, MLA projections and DeepSeek-V3.2's indexer, biases, gpt-oss sinks, "
    "Mamba / Gated DeltaNet projections, convolutions, A_log, D, dt_bias",
    "mlp": "everything else under a dense feed-forward module (mlp, feed_forward, ffn, OPT's "
    "fc1/fc2, Granite's shared_mlp without experts, Nemotron-H's MLP mixers)",
}
ACTIVE_FORMULA = (
    "active = total - routed_experts + routed_experts * k / E, with k = num_experts_per_tok "
    "and E = the number of routed experts (n_routed_experts, num_local_experts or num_experts); "
    "everything except the routed experts is touched by every token"
)
MULTIMODAL_NOTE = (
    "multimodal config: counted the text model only, built from text_config as {cls} "
    "(a vision tower and projector, if any, are not counted)"
)
QUANT_NOTE = (
    "quantization_config ({method}) removed before building: counts are logical parameters, "
    "independent of how the checkpoint stores them"
)


class UnclassifiedParameterError(RuntimeError):
    """A parameter name matched no counting rule."""


def _load_entries() -> list[dict[str, Any]]:
    """Catalog entries first, then the extra test configs, then the small per-family
    configs, each tagged with its file."""
    entries = []
    for model in json.loads(CATALOG.read_text())["models"]:
        entries.append({**model, "_file": CATALOG.relative_to(ROOT).as_posix()})
    for path in sorted(EXTRA_CONFIGS.glob("*.json")):
        entries.append({**json.loads(path.read_text()), "_file": path.relative_to(ROOT).as_posix()})
    for family in json.loads(FAMILY_CONFIGS.read_text())["configs"]:
        entries.append({**family, "_file": FAMILY_CONFIGS.relative_to(ROOT).as_posix()})
    if not entries:
        raise SystemExit("no model configs found")
    ids = [e["id"] for e in entries]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SystemExit(f"duplicate ids: {duplicates}")
    return entries


# model_type spellings transformers does not register, built as the class their config.json
# names in `architectures` (Kimi K2's card: "Kimi-K2 reuses the DeepSeekV3CausalLM
# architecture", with model_type kimi_k2 so that engines can tell them apart)
MODEL_TYPE_ALIASES = {"kimi_k2": "deepseek_v3"}
REMOTE_NOTE = (
    "model_type {model_type!r} has no transformers class (remote code): not counted here; the "
    "test compares vramcalc's count with the published size instead"
)


class NoTransformersClassError(RuntimeError):
    """The config's model_type is not one transformers builds."""


def _model_type(raw: dict[str, Any]) -> str:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    model_type = MODEL_TYPE_ALIASES.get(raw.get("model_type", ""), raw.get("model_type", ""))
    if model_type not in CONFIG_MAPPING:
        raise NoTransformersClassError(REMOTE_NOTE.format(model_type=raw.get("model_type")))
    return str(model_type)


def _build(raw: dict[str, Any]) -> tuple[Any, Any, list[str]]:
    """Instantiate the causal LM on the meta device; return (model, config, notes)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    raw = dict(raw)
    notes = []
    quant = raw.pop("quantization_config", None)
    if quant is not None:
        notes.append(QUANT_NOTE.format(method=quant.get("quant_method", "unknown")))
    raw.pop("auto_map", None)  # the in-library classes are used, never remote code
    text = raw.get("text_config")
    if text is not None:
        text = dict(text)
        text.pop("quantization_config", None)
        text.setdefault("model_type", _TEXT_TYPES.get(raw.get("model_type", ""), "llama"))
        config = AutoConfig.for_model(_model_type(text), **{k: v for k, v in text.items()
                                                           if k != "model_type"})
        cls = AutoModelForCausalLM._model_mapping.get(type(config), None)
        if cls is None:  # Qwen-VL text configs have no causal-LM class of their own
            return _text_of_whole(raw, notes)
        notes.append(MULTIMODAL_NOTE.format(cls=cls.__name__))
    else:
        model_type = _model_type(raw)
        raw.pop("model_type")
        config = AutoConfig.for_model(model_type, **raw)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return model, config, notes


WHOLE_NOTE = (
    "multimodal config whose text model has no causal-LM class: built {cls} and counted its "
    "language model and lm_head only (the vision tower is in 'multimodal')"
)


class _TextPart:
    """The language model and lm_head of a whole image-text model, as one countable model."""

    def __init__(self, whole: Any) -> None:
        self.whole = whole

    def _keep(self, name: str) -> bool:
        return ".language_model." in f".{name}" or name.startswith("lm_head.")

    def named_parameters(self, remove_duplicate: bool = True) -> Any:
        return ((n, p) for n, p in self.whole.named_parameters(remove_duplicate=remove_duplicate)
                if self._keep(n))

    def parameters(self) -> Any:
        return (p for _, p in self.named_parameters())

    def named_modules(self) -> Any:
        return self.whole.named_modules()

    def named_buffers(self) -> Any:
        return ((n, b) for n, b in self.whole.named_buffers() if self._keep(n))

    def state_dict(self) -> Any:
        return {k: v for k, v in self.whole.state_dict().items() if self._keep(k)}


def _text_of_whole(raw: dict[str, Any], notes: list[str]) -> tuple[Any, Any, list[str]]:
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    raw = {k: v for k, v in raw.items() if k != "auto_map"}
    config = AutoConfig.for_model(raw.pop("model_type"), **raw)
    with torch.device("meta"):
        whole = AutoModelForImageTextToText.from_config(config)
    notes.append(WHOLE_NOTE.format(cls=type(whole).__name__))
    part = _TextPart(whole)
    return part, config.text_config, notes


# the text model_type of a multimodal wrapper whose text_config leaves it out
_TEXT_TYPES = {"llava": "llama", "gemma3": "gemma3_text", "mistral3": "mistral"}


def multimodal_total(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The whole image-text model (`...ForConditionalGeneration`) on the meta device: its
    parameter count and the vision tower's share (everything outside the language model
    and lm_head), for a config with a vision_config; None otherwise."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    if not isinstance(raw.get("vision_config"), dict) or not isinstance(
            raw.get("text_config"), dict):
        return None
    raw = {k: v for k, v in raw.items() if k not in ("quantization_config", "auto_map")}
    config = AutoConfig.for_model(raw.pop("model_type"), **raw)
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    total = sum(p.numel() for p in model.parameters())
    text = sum(p.numel() for name, p in model.named_parameters()
               if ".language_model." in f".{name}" or name.startswith("lm_head."))
    return {"model_class": type(model).__name__, "total": total, "vision": total - text}


_MIXERS = ("self_attn", "attn", "attention", "self_attention", "mixer", "mamba", "linear_attn",
           "conv")


def _categorize(name: str, modules: dict[str, Any]) -> str:
    """The category of one named parameter (rules in RULES, first match wins)."""
    owner_path, _, _ = name.rpartition(".")
    owner = modules[owner_path]
    parts = owner_path.split(".")
    if "Norm" in type(owner).__name__:
        return "norms"
    if parts[-1] in ("embed_tokens", "wte", "wpe", "word_embeddings", "embed_in",
                     "embed_positions", "embeddings", "project_in", "project_out"):
        return "embeddings"
    if parts[-1] in ("lm_head", "embed_out") and len(parts) == 1:
        return "lm_head"
    if any(p in ("shared_expert", "shared_experts", "shared_expert_gate") for p in parts):
        return "shared_experts"
    for i, part in enumerate(parts):
        parent = modules[".".join(parts[:i])]
        if part in ("gate", "router") and hasattr(parent, "experts"):
            return "router"
        moe = getattr(parent, "block_sparse_moe", None) or getattr(parent, "experts", None)
        if part == "shared_mlp" and moe is not None and any(True for _ in moe.parameters()):
            return "shared_experts"
    if "experts" in parts:
        return "routed_experts"
    for i, part in enumerate(parts):
        if part in _MIXERS:
            mixer = modules[".".join(parts[: i + 1])]
            return "mlp" if "MLP" in type(mixer).__name__ else "attention"
    if any(p in ("mlp", "feed_forward", "ffn", "fc1", "fc2", "shared_mlp") for p in parts):
        return "mlp"
    raise UnclassifiedParameterError(f"no counting rule matches parameter {name!r}")


def _routed_experts_config(config: Any) -> tuple[int, int] | None:
    """(experts per token, routed experts) for a MoE config, None for a dense one."""
    for key in ("n_routed_experts", "num_local_experts", "num_experts"):
        experts = getattr(config, key, None)
        if experts:
            return int(config.num_experts_per_tok), int(experts)
    return None


def count(raw: dict[str, Any]) -> dict[str, Any]:
    """Total, per-category and (for MoE) active parameter counts of one config."""
    model, config, notes = _build(raw)
    modules = dict(model.named_modules())
    by_category = dict.fromkeys(CATEGORIES, 0)
    for name, param in model.named_parameters():  # a tied tensor appears once
        by_category[_categorize(name, modules)] += param.numel()
    total = sum(p.numel() for p in model.parameters())
    if sum(by_category.values()) != total:
        raise RuntimeError(f"categories sum to {sum(by_category.values())}, total is {total}")
    result: dict[str, Any] = {
        "model_class": type(getattr(model, "whole", model)).__name__,
        "total": total,
        "by_category": by_category,
    }
    parameter_names = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    buffers = {
        name: buffer.numel()
        for name, buffer in model.named_buffers()
        if name in model.state_dict() and name not in parameter_names
    }
    if buffers:
        notes.append(
            f"{sum(buffers.values())} elements in persistent buffers (saved in checkpoints, "
            f"not parameters, not counted), e.g. {min(buffers)}"
        )
    moe = _routed_experts_config(config)
    if moe is not None and by_category["routed_experts"]:
        k, experts = moe
        routed = by_category["routed_experts"]
        active = Fraction(total - routed) + Fraction(routed * k, experts)
        if active.denominator != 1:
            raise RuntimeError(f"active count {active} is not an integer")
        result["active"] = int(active)
        result["experts_per_token"] = k
        result["routed_experts_count"] = experts
    elif by_category["routed_experts"]:
        raise RuntimeError("routed expert parameters found in a config with no expert count")
    if notes:
        result["notes"] = notes
    return result


def generate() -> dict[str, Any]:
    """The whole output document."""
    import torch
    import transformers

    models: dict[str, Any] = {}
    for entry in _load_entries():
        print(f"counting {entry['id']}", file=sys.stderr)
        if entry.get("expect") == "refuse":
            models[entry["id"]] = {"config_file": entry["_file"],
                                   "refused": "vramcalc refuses this config by name; not counted"}
            continue
        try:
            result = count(entry["config"])
            whole = multimodal_total(entry["config"])
            if whole is not None:
                result["multimodal"] = whole
        except UnclassifiedParameterError:
            raise
        except NoTransformersClassError as exc:
            result = {"no_transformers_class": str(exc)}
        except Exception as exc:  # record what transformers could not build, invent nothing
            result = {
                "error": f"transformers could not build this config: {type(exc).__name__}: {exc}"
            }
        models[entry["id"]] = {"config_file": entry["_file"], **result}
    return {
        "generated_by": COMMAND,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "date": datetime.date.today().isoformat(),
        "method": "AutoModelForCausalLM.from_config(config) under torch.device('meta'); "
        "auto_map and quantization_config are dropped first",
        "total_rule": "sum(p.numel() for p in model.parameters()), which counts tied weights once; "
        "buffers are not parameters and are not counted, even persistent ones a checkpoint stores",
        "category_rules": RULES,
        "active_formula": ACTIVE_FORMULA,
        "models": dict(sorted(models.items())),
    }


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    """The document without the fields that change from run to run."""
    return {k: v for k, v in document.items() if k not in ("date", "versions")}


def main(argv: list[str] | None = None) -> int:
    """Write the counts, or with --check compare them with the pinned file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    document = generate()
    if args.check:
        pinned = json.loads(args.output.read_text())
        if _comparable(pinned) != _comparable(document):
            print(f"{args.output} is out of date: run {COMMAND}", file=sys.stderr)
            return 1
        print(f"{args.output} matches a fresh count", file=sys.stderr)
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
