"""Vision towers of multimodal configs: the encoder and projector weights, and what sets
the number of image tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..errors import Collector
    from ..modelspec import ModelSpec, VisionSpec


def read_vision(
    config: Mapping[str, Any], text: ModelSpec, collector: Collector, path: str
) -> VisionSpec | None:
    """The vision tower of `config`, or None where vramcalc does not know it."""
    return None
