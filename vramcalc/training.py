"""Training and fine-tuning memory (mode "training")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .errors import Collector
    from .request import Common


def parse(data: Mapping[str, Any], common: Common, c: Collector) -> object:
    c.add("mode", "training estimates are not available in this version")
    return None


def respond(req: object) -> dict[str, Any]:
    raise AssertionError("parse() always records a problem")
