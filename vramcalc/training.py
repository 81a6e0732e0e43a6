"""Training and fine-tuning memory (mode "training")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .errors import Collector
    from .request import Common


def parse(data: Mapping[str, Any], common: Common, c: Collector) -> None:
    c.add("mode", "training estimates are not available in this version")


def respond(req: None) -> dict[str, Any]:
    raise AssertionError("parse() always records a problem")
