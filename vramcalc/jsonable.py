"""Frozen dataclasses -> JSON-ready dicts, derived from their fields (no hand-written
`to_dict` that can forget one). A field's `metadata["echo"]` says how it is written:

- absent: as its value (dataclasses recursively, tuples as lists);
- False: left out (derived data such as the parsed model);
- "id": a catalog entry written as its `id`;
- "flatten": a dataclass whose fields are written into the parent;
- "omit_none" / "omit_empty": left out when None / falsy.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping


_SCALARS = frozenset({str, int, float, bool, type(None)})
# a dataclass type -> its fields' (name, how) in order, read once (dataclasses.fields and
# is_dataclass per value were most of an estimate's time)
_PLANS: dict[type, tuple[tuple[str, Any], ...]] = {}


def _plan(cls: type) -> tuple[tuple[str, Any], ...] | None:
    plan = _PLANS.get(cls)
    if plan is None and is_dataclass(cls):
        plan = _PLANS[cls] = tuple((f.name, f.metadata.get("echo", True)) for f in fields(cls))
    return plan


def as_json(value: Any) -> Any:
    """The JSON-ready form of `value`."""
    cls = type(value)
    if cls in _SCALARS:
        return value
    plan = _plan(cls)
    if plan is not None:
        out: dict[str, Any] = {}
        for name, how in plan:
            item = getattr(value, name)
            if how is True:
                out[name] = item if type(item) in _SCALARS else as_json(item)
            elif how is False or (how == "omit_none" and item is None) or (
                    how == "omit_empty" and not item):
                continue
            elif how == "id":
                out[name] = item.id
            elif how == "flatten":
                out.update(as_json(item))
            else:
                out[name] = as_json(item)
        return out
    if isinstance(value, (tuple, list)):
        return [as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    return value


def with_fields(request: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """`request` with each dotted field of `fields` set; objects on the way are copied, not
    changed (a request sent back with some fields changed)."""
    out = dict(request)
    for path, value in fields.items():
        node = out
        *parents, leaf = path.split(".")
        for part in parents:
            child = node.get(part)
            node[part] = dict(child) if isinstance(child, dict) else {}
            node = node[part]
        node[leaf] = value
    return out


HIDDEN: dict[str, Any] = {"echo": False}
ID: dict[str, Any] = {"echo": "id"}
FLATTEN: dict[str, Any] = {"echo": "flatten"}
OMIT_NONE: dict[str, Any] = {"echo": "omit_none"}
OMIT_EMPTY: dict[str, Any] = {"echo": "omit_empty"}
