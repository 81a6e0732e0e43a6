"""JSON from outside the package (files, stdin, the Hub, the page), read within bounds.

`loads` refuses, with a `JSONInputError` naming what was being read, input that is too
large, not UTF-8, not JSON, or nested too deeply, and it checks the depth *before*
`json.loads` runs: the standard parser recurses once per nesting level, so a 10,000-deep
`[[[...]]]` raises RecursionError in CPython and can exhaust the smaller stack of
Pyodide's WebAssembly build. `depth_ok` does the same check, iteratively, for values that
are already Python objects (before `json.dumps` or `copy.deepcopy`, which recurse too).

The limits (named below) are far above any real input: a model's config.json nests 3-4
levels (`text_config.rope_scaling.*`) and is a few kilobytes; a request puts it 2 levels
down (`model.config`).
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

# 64 levels: ten times the deepest real request (model.config.text_config.rope_scaling... is
# about 6), yet far below CPython's default recursion limit of 1000 frames.
MAX_DEPTH = 64
# 16 MiB: the largest config.json of a language model on the Hub is tens of kilobytes; a
# bound this size still parses in well under a second on a phone.
MAX_BYTES = 16 << 20

# A JSON string, in the unrolled-loop form (no backtracking): RFC 8259 section 7.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JSONInputError(ValueError):
    """Input that `loads` refused. `what` names the input ("request.json", "the request");
    `reason` is one of too_large, utf16, utf32, binary, not_utf8, too_deep, not_json; the
    message (`str(exc)`) is one line that starts with `what`."""

    def __init__(self, what: str, reason: str, message: str) -> None:
        self.what = what
        self.reason = reason
        self.message = message
        super().__init__(message)


def loads(data: str | bytes, *, what: str, max_bytes: int = MAX_BYTES,
          max_depth: int = MAX_DEPTH) -> Any:
    """Parse one JSON text (RFC 8259) from `data`, or raise `JSONInputError`.

    Bytes must be UTF-8 (a leading byte order mark is ignored, as RFC 8259 section 8.1
    allows); UTF-16 and UTF-32 are recognised by their byte order mark or by the pattern of
    zero bytes in the first four (RFC 4627 section 3) and refused by name. NaN and
    Infinity, which Python's json module would accept, are not JSON and are refused."""
    text = _text(data, what, max_bytes)
    if _too_deep(text, max_depth):
        raise JSONInputError(what, "too_deep",
                             f"{what} is nested more than {max_depth} levels deep")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise JSONInputError(what, "not_json", f"{what} is not valid JSON ({exc.msg}, line "
                             f"{exc.lineno} column {exc.colno})") from None
    except ValueError as exc:  # NaN / Infinity, or an integer longer than int() reads
        detail = str(exc).split(":")[0]
        raise JSONInputError(what, "not_json", f"{what} is not valid JSON ({detail})") from None


def depth_ok(value: Any, max_depth: int = MAX_DEPTH) -> bool:
    """Whether `value` nests at most `max_depth` lists, tuples or dicts (a scalar is 0 deep).
    Iterative, so that any depth (or a cycle) is answered without recursion."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            continue
        if depth + 1 > max_depth:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def non_finite(value: Any) -> tuple[str, float] | None:
    """The dotted path (list items by index, "" for `value` itself) and the value of the
    first NaN or infinite float in `value`, else None. JSON has neither (RFC 8259 section 6), but a
    Python caller can pass them. Call after `depth_ok`: the walk is iterative, the depth
    bounded."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            return path, node
        if isinstance(node, dict):
            items: Any = ((str(k), v) for k, v in node.items())
        elif isinstance(node, (list, tuple)):
            items = ((str(i), v) for i, v in enumerate(node))
        else:
            continue
        stack.extend((v, f"{path}.{k}" if path else k) for k, v in items)
    return None


def _text(data: str | bytes, what: str, max_bytes: int) -> str:
    """`data` as text, within `max_bytes` of UTF-8."""
    if isinstance(data, str):
        # one character is at least one UTF-8 byte: measure the bytes only when it may matter
        size = len(data) if len(data) > max_bytes else len(
            data.encode("utf-8", "surrogatepass"))
        _check_size(size, what, max_bytes)
        return data.removeprefix("\ufeff")
    _check_size(len(data), what, max_bytes)
    encoding = _wide_encoding(data)
    if encoding:
        raise JSONInputError(what, encoding.replace("-", "").lower(),
                             f"{what} is {encoding} text, not UTF-8: save it as UTF-8")
    if b"\x00" in data:
        raise JSONInputError(what, "binary", f"{what} is a binary file, not JSON text")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        byte = data[exc.start]
        raise JSONInputError(
            what, "not_utf8",
            f"{what} is not UTF-8 text (byte 0x{byte:02x} at offset {exc.start}; Latin-1 or "
            "another legacy encoding?): save it as UTF-8") from None


def _check_size(size: int, what: str, max_bytes: int) -> None:
    if size > max_bytes:
        raise JSONInputError(what, "too_large",
                             f"{what} is larger than the limit of {max_bytes:,} bytes")


def _wide_encoding(data: bytes) -> str:
    """"UTF-16" or "UTF-32" when `data` starts like JSON text in either (RFC 4627 section 3:
    the first two characters of a JSON text are ASCII, so the zero bytes in the first four
    octets give the encoding away), else ""."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16"
    if len(data) < 4:
        return ""
    zero = [byte == 0 for byte in data[:4]]
    if zero in ([True, True, True, False], [False, True, True, True]):
        return "UTF-32"
    if zero in ([True, False, True, False], [False, True, False, True]):
        return "UTF-16"  # two ASCII characters, each with a zero byte on the same side
    return ""


def _too_deep(text: str, max_depth: int) -> bool:
    """Whether [ and { nest more than `max_depth` deep in `text`, strings skipped. No
    recursion, and the scan runs in C (regular expressions, map and accumulate)."""
    if text.count("[") + text.count("{") <= max_depth:  # the common case: nothing to scan
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > max_depth


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")
