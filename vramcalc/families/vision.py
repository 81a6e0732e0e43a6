"""Vision towers of multimodal configs: the encoder and projector weights, counted as
transformers builds them inside `...ForConditionalGeneration` (everything but the language
model and lm_head), and what sets the number of image tokens.

One reader per vision model_type, mirroring transformers v5's modeling files:
clip_vision_model (LLaVA: modeling_clip.py + modeling_llava.py), siglip_vision_model
(Gemma 3: modeling_siglip.py + modeling_gemma3.py), pixtral (Mistral 3: modeling_pixtral.py +
modeling_mistral3.py), qwen2_5_vl / qwen3_vl (modeling_qwen2_5_vl.py, modeling_qwen3_vl.py)
and llama4_vision_model (modeling_llama4.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import Fields
from ..modelspec import VisionSpec

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ..errors import Collector
    from ..modelspec import ModelSpec


def _linear(in_f: int, out_f: int, bias: bool = True) -> int:
    return in_f * out_f + (out_f if bias else 0)


@dataclass(frozen=True, kw_only=True, slots=True)
class _ViT:
    """A ViT encoder's sizes as CLIPVisionConfig, SiglipVisionConfig and Llama4VisionConfig
    name them: square `image`s cut into `patch` x `patch` patches, `layers` pre-norm blocks
    of biased attention and a plain biased MLP (`intermediate` wide) under LayerNorms."""

    hidden: int
    intermediate: int
    layers: int
    image: int
    patch: int
    channels: int

    @classmethod
    def read(cls, v: Fields, *, intermediate: int = 3072, layers: int = 12, image: int = 224,
             patch: int) -> _ViT:
        """The sizes, under each class's defaults (all three default hidden_size to 768)."""
        return cls(hidden=v.integer("hidden_size", default=768),
                   intermediate=v.integer("intermediate_size", default=intermediate),
                   layers=v.integer("num_hidden_layers", default=layers),
                   image=v.integer("image_size", default=image),
                   patch=v.integer("patch_size", default=patch),
                   channels=v.integer("num_channels", default=3))

    @property
    def patches(self) -> int:
        return (self.image // self.patch) ** 2

    @property
    def patch_conv(self) -> int:
        """The patch embedding's weight (a conv or unfolded linear, without its bias)."""
        return self.hidden * self.channels * self.patch * self.patch

    @property
    def blocks(self) -> int:
        """The encoder layers: q/k/v/o, a plain MLP and two LayerNorms, all biased."""
        h, i = self.hidden, self.intermediate
        return self.layers * (4 * _linear(h, h) + _linear(h, i) + _linear(i, h) + 2 * (2 * h))

    @property
    def class_token_encoder(self) -> int:
        """CLIP's encoder (Llama 4's too): a class embedding, the patch conv without bias,
        positions for every patch and the class token, pre and post LayerNorms, the blocks."""
        h = self.hidden
        return h + self.patch_conv + (self.patches + 1) * h + 2 * (2 * h) + self.blocks

    def shape(self, tokens: int) -> dict[str, int]:
        """What read_vision needs of a tower whose images give a fixed number of `tokens`."""
        return {"hidden": self.hidden, "layers": self.layers, "patch": self.patch,
                "image": self.image, "merge": 1, "fixed": tokens}


def _clip(v: Fields, outer: Fields, text_hidden: int) -> tuple[int, int, dict[str, int]]:
    """CLIP (LLaVA-1.5): class embedding, patch conv without bias, positions for every patch
    and the class token, pre/post LayerNorms; projector linear_1 (vision -> text) and
    linear_2 (text -> text), biased by `multimodal_projector_bias`."""
    t = _ViT.read(v, patch=32)
    bias = outer.boolean("multimodal_projector_bias", default=True)
    projector = _linear(t.hidden, text_hidden, bias) + _linear(text_hidden, text_hidden, bias)
    strategy = outer.get("vision_feature_select_strategy") or "default"
    # "default" drops the class token: one token per patch (LLaVA-1.5: 576)
    tokens = t.patches if strategy == "default" else t.patches + 1
    return t.class_token_encoder, projector, t.shape(tokens)


def _siglip(v: Fields, outer: Fields, text_hidden: int) -> tuple[int, int, dict[str, int]]:
    """SigLIP (Gemma 3): biased patch conv, positions, post LayerNorm, the attention-pooling
    head when `vision_use_head`; Gemma 3's projector is one (vision x text) matrix and an
    RMSNorm over the vision width. Gemma 3 puts `mm_tokens_per_image` (256) in the text."""
    t = _ViT.read(v, patch=16)
    h, i = t.hidden, t.intermediate
    head = v.boolean("vision_use_head", default=True)
    encoder = (t.patch_conv + h) + t.patches * h + 2 * h + t.blocks
    if head:  # probe, nn.MultiheadAttention (in_proj 3h + out_proj), LayerNorm, MLP
        encoder += h + _linear(h, 3 * h) + _linear(h, h) + 2 * h + _linear(h, i) + _linear(i, h)
    projector = h * text_hidden + h
    tokens = outer.integer("mm_tokens_per_image", default=256)
    return encoder, projector, t.shape(tokens)


def _pixtral(v: Fields, outer: Fields, text_hidden: int) -> tuple[int, int, dict[str, int]]:
    """Pixtral (Mistral 3): patch conv without bias, RMSNorms, unbiased attention and a
    gated MLP; the projector RMSNorm, the patch merger (merge² x h -> h) and two linears."""
    h = v.integer("hidden_size", default=1024)
    i = v.integer("intermediate_size", default=4096)
    layers = v.integer("num_hidden_layers", default=24)
    heads = v.integer("num_attention_heads", default=16)
    head_dim = v.integer("head_dim", default=h // heads)
    image = v.integer("image_size", default=1024)
    patch = v.integer("patch_size", default=16)
    channels = v.integer("num_channels", default=3)
    merge = outer.integer("spatial_merge_size", default=2)
    bias = outer.boolean("multimodal_projector_bias", default=False)
    width = heads * head_dim
    encoder = h * channels * patch * patch + h
    encoder += layers * (2 * h + 4 * h * width + 3 * h * i)
    projector = h + merge * merge * h * h + _linear(h, text_hidden, bias) + _linear(
        text_hidden, text_hidden, bias)
    return encoder, projector, {"hidden": h, "layers": layers, "patch": patch, "image": image,
                                "merge": merge, "fixed": 0, "rule": 1}


def _qwen_vl(v: Fields, outer: Fields, text_hidden: int) -> tuple[int, int, dict[str, int]]:
    """Qwen2-VL / Qwen2.5-VL / Qwen3-VL: a Conv3d patch embedding over `temporal_patch_size`
    frames, pre-norm blocks with a fused biased qkv, the patch merger (LayerNorm/RMSNorm,
    then merge² x h -> merge² x h -> out_hidden_size), and Qwen3-VL's learned positions and
    DeepStack mergers. Qwen2.5-VL: RMSNorm and a gated biased MLP; Qwen2-VL and Qwen3-VL:
    LayerNorm and a plain MLP."""
    kind = str(v.get("model_type"))
    qwen3 = kind.startswith("qwen3")  # Qwen3-VL and Qwen3.5
    gated = kind.startswith("qwen2_5")
    if kind.startswith("qwen2_vl"):  # Qwen2-VL: embed_dim is the encoder width, hidden_size
        # the output width
        h = v.integer("embed_dim", default=1280)
        i = int(h * v.number("mlp_ratio", default=4.0))
        out = v.integer("hidden_size", default=text_hidden)
    else:
        h = v.integer("hidden_size")
        i = v.integer("intermediate_size")
        out = v.integer("out_hidden_size", default=text_hidden)
    depth = v.integer("depth", "num_hidden_layers")
    patch = v.integer("patch_size", "spatial_patch_size", default=14)
    temporal = v.integer("temporal_patch_size", default=2)
    channels = v.integer("in_channels", "in_chans", default=3)
    merge = v.integer("spatial_merge_size", default=2)
    norm = h if gated else 2 * h  # RMSNorm weight, or LayerNorm weight + bias
    conv = channels * temporal * patch * patch * h + (h if qwen3 else 0)
    encoder = conv
    if qwen3:
        encoder += v.integer("num_position_embeddings", default=2304) * h
    mlp = _linear(h, i) + _linear(i, h)
    if gated:  # gate_proj and up_proj (h -> i, biased), down_proj (i -> h, biased)
        mlp += _linear(h, i)
    encoder += depth * (_linear(h, 3 * h) + _linear(h, h) + mlp + 2 * norm)
    wide = h * merge * merge

    def merger(norm_width: int) -> int:
        return norm_width + _linear(wide, wide) + _linear(wide, out)

    projector = merger(norm)
    if qwen3:  # Qwen3-VL's DeepStack: one merger per tapped layer, normalised after the
        # shuffle (three by default); Qwen3.5's encoder has none unless its config lists taps
        taps = v.get("deepstack_visual_indexes")
        count = len(taps) if isinstance(taps, list) else 0 if kind.startswith("qwen3_5") else 3
        projector += count * merger(2 * wide)
    return encoder, projector, {"hidden": h, "layers": depth, "patch": patch, "image": 0,
                                "merge": merge, "fixed": 0, "temporal": temporal}


def _llama4(v: Fields, outer: Fields, text_hidden: int) -> tuple[int, int, dict[str, int]]:
    """Llama 4's vision encoder: an unfolded linear patch embedding, class token and
    positions, biased attention and MLP with LayerNorms, the pixel-shuffle adapter MLP, then
    the projector linear_1 (vision_output_dim -> text). One 336 or 448 px tile gives
    (image/patch)² x pixel_shuffle_ratio² tokens."""
    t = _ViT.read(v, intermediate=5632, layers=34, image=448, patch=14)
    out_dim = v.integer("vision_output_dim", default=7680)
    proj_in = v.integer("projector_input_dim", default=4096)
    proj_out = v.integer("projector_output_dim", default=4096)
    ratio = v.number("pixel_shuffle_ratio", default=0.5)
    # vision_adapter.mlp fc1, fc2 (no bias)
    encoder = t.class_token_encoder + t.intermediate * proj_in + proj_in * proj_out
    projector = out_dim * text_hidden
    tokens = int(t.patches * ratio * ratio)
    return encoder, projector, t.shape(tokens)


_READERS: dict[str, Callable[[Fields, Fields, int], tuple[int, int, dict[str, int]]]] = {
    "clip_vision_model": _clip,
    "siglip_vision_model": _siglip,
    "pixtral": _pixtral,
    "qwen2_vl": _qwen_vl,
    "qwen2_vl_vision": _qwen_vl,
    "qwen2_5_vl": _qwen_vl,
    "qwen2_5_vl_vision": _qwen_vl,
    "qwen3_vl": _qwen_vl,
    "qwen3_vl_vision": _qwen_vl,
    "qwen3_5_vision": _qwen_vl,
    "qwen3_5_moe_vision": _qwen_vl,
    "qwen3_vl_moe_vision": _qwen_vl,
    "llama4_vision_model": _llama4,
}
# the vision model_type a wrapper implies when its vision_config leaves it out
_DEFAULT_VISION = {
    "llava": "clip_vision_model", "gemma3": "siglip_vision_model", "mistral3": "pixtral",
    "qwen2_vl": "qwen2_vl", "qwen2_5_vl": "qwen2_5_vl", "qwen3_vl": "qwen3_vl",
    "qwen3_vl_moe": "qwen3_vl_moe_vision", "qwen3_5": "qwen3_5_vision",
    "qwen3_5_moe": "qwen3_5_moe_vision", "llama4": "llama4_vision_model",
}


def read_vision(
    config: Mapping[str, Any], text: ModelSpec, collector: Collector, path: str
) -> VisionSpec | None:
    """The vision tower of `config`, or None where it has none or vramcalc does not know
    its vision model_type (the caller then notes that it is not counted)."""
    raw = config.get("vision_config")
    if not isinstance(raw, dict):
        return None
    outer = Fields(config, collector, path)
    kind = str(raw.get("model_type") or _DEFAULT_VISION.get(str(config.get("model_type")), ""))
    reader = _READERS.get(kind)
    if reader is None:
        return None
    v = Fields({**raw, "model_type": kind}, collector, f"{path}.vision_config")
    encoder, projector, shape = reader(v, outer, text.hidden_size)
    if v.failed():
        return None
    return VisionSpec(
        model_type=kind, parameters=encoder + projector, encoder_parameters=encoder,
        projector_parameters=projector, hidden_size=shape["hidden"],
        num_layers=shape["layers"], patch_size=shape["patch"], image_size=shape["image"],
        merge_size=shape["merge"], fixed_tokens=shape["fixed"],
        temporal_patch_size=shape.get("temporal", 1),
        token_rule="pixtral" if shape.get("rule") else "fixed" if shape["fixed"] else "grid",
    )
