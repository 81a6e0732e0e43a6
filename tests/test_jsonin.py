"""Bounded JSON input (vramcalc/jsonin.py): every refusal by name, depth without recursion."""

from __future__ import annotations

import json
import random
import sys
from typing import Any

import pytest
from _models import HUB

from vramcalc import jsonin


def refusal(data: str | bytes, **limits: Any) -> tuple[str, str]:
    with pytest.raises(jsonin.JSONInputError) as info:
        jsonin.loads(data, what="in.json", **limits)
    error = info.value
    assert (error.what, str(error), error.message.count("\n")) == ("in.json", error.message, 0)
    return error.reason, error.message


def nested(depth: int) -> Any:
    """A list nested `depth` deep, built without recursion."""
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def reference_depth(value: Any) -> int:
    """Recursive, for small values only: the definition `depth_ok` must agree with."""
    if isinstance(value, dict):
        return 1 + max(map(reference_depth, value.values()), default=0)
    if isinstance(value, (list, tuple)):
        return 1 + max(map(reference_depth, value), default=0)
    return 0


def test_reads_json() -> None:
    assert jsonin.loads('{"a": [1, 2.5, "x", null, true]}', what="x") == {
        "a": [1, 2.5, "x", None, True]}
    assert jsonin.loads(b'\xef\xbb\xbf{"a": "\xc3\xa9"}', what="x") == {"a": "é"}  # BOM ignored
    assert jsonin.loads("\ufeff[]", what="x") == []
    for path in sorted(HUB.glob("*/*/config.json")):  # every recorded config.json
        assert jsonin.loads(path.read_bytes(), what="x") == json.loads(path.read_bytes())


def test_size_limit() -> None:
    text = json.dumps(["x" * 92])  # 96 bytes: [" + 92 + "]
    assert jsonin.loads(text, what="x", max_bytes=96) == ["x" * 92]
    assert refusal(text, max_bytes=95) == (
        "too_large", "in.json is larger than the limit of 95 bytes")
    assert refusal(text.encode(), max_bytes=95)[0] == "too_large"
    # characters count in UTF-8 bytes: 46 × "é" is 92 bytes, 96 with the brackets and quotes
    assert refusal('["' + "é" * 46 + '"]', max_bytes=95)[0] == "too_large"
    assert refusal(b"[" + b"0," * 10_000_000 + b"0]")[0] == "too_large"  # 20 MB > 16 MiB


@pytest.mark.parametrize(("data", "name"), [
    ('{"a": 1}'.encode("utf-16"), "UTF-16"),  # with its byte order mark
    ('{"a": 1}'.encode("utf-16-le"), "UTF-16"),
    ('{"a": 1}'.encode("utf-16-be"), "UTF-16"),
    ('{"a": 1}'.encode("utf-32"), "UTF-32"),
    ('{"a": 1}'.encode("utf-32-le"), "UTF-32"),
    ('{"a": 1}'.encode("utf-32-be"), "UTF-32"),
])
def test_wide_encodings_are_named(data: bytes, name: str) -> None:
    assert refusal(data) == (name.replace("-", "").lower(),
                             f"in.json is {name} text, not UTF-8: save it as UTF-8")


def test_binary_and_legacy_encodings() -> None:
    assert refusal(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR") == (
        "binary", "in.json is a binary file, not JSON text")
    # zero bytes that do not fall like two ASCII characters' are not UTF-16
    assert refusal(bytes(range(256)))[0] == "binary"
    assert refusal(b"\x00\x01\x00\x00")[0] == "binary"
    assert refusal('{"model": "café"}'.encode("latin-1")) == (
        "not_utf8", "in.json is not UTF-8 text (byte 0xe9 at offset 14; Latin-1 or another "
        "legacy encoding?): save it as UTF-8")


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "in.json is not valid JSON (Expecting property name enclosed in double "
     "quotes, line 1 column 2)"),
    ("", "in.json is not valid JSON (Expecting value, line 1 column 1)"),
    ('{"a": 1}\n{"b": 2}', "in.json is not valid JSON (Extra data, line 2 column 1)"),
    ('{"a": NaN}', "in.json is not valid JSON (NaN is not a JSON value)"),
    ("[Infinity]", "in.json is not valid JSON (Infinity is not a JSON value)"),
    ("[-Infinity]", "in.json is not valid JSON (-Infinity is not a JSON value)"),
    ("9" * 5000, "in.json is not valid JSON (Exceeds the limit (4300 digits) for integer "
     "string conversion)"),
])
def test_not_json(text: str, message: str) -> None:
    assert refusal(text) == ("not_json", message)


def test_depth_limit_is_exact() -> None:
    assert jsonin.loads(json.dumps(nested(64)), what="x") == nested(64)
    assert refusal(json.dumps(nested(65))) == (
        "too_deep", "in.json is nested more than 64 levels deep")
    assert jsonin.loads(json.dumps({"a": {"b": [1]}}), what="x", max_depth=3)
    assert refusal(json.dumps({"a": {"b": [1]}}), max_depth=2)[0] == "too_deep"
    assert jsonin.loads("1", what="x", max_depth=0) == 1
    assert refusal("[]", max_depth=0)[0] == "too_deep"


@pytest.mark.parametrize("depth", [1_000, 10_000, 1_000_000])
def test_deep_input_is_refused_before_the_parser_recurses(depth: int) -> None:
    assert depth > 64 and sys.getrecursionlimit() < 1_000_000
    assert refusal("[" * depth + "]" * depth)[0] == "too_deep"
    assert refusal('{"a":' * depth + "1" + "}" * depth)[0] == "too_deep"
    assert refusal("[" * depth)[0] == "too_deep"  # unbalanced: still no recursion


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[" * 100 + "{" * 100, "b": ['x\\"[[[', "\\\\", '"{{{']})
    assert jsonin.loads(text, what="x", max_depth=2)["a"] == "[" * 100 + "{" * 100
    assert refusal(json.dumps([["[[[" * 50]]), max_depth=1)[0] == "too_deep"


def random_json(rng: random.Random, depth: int) -> Any:
    """A random JSON value at most `depth` deep, strings full of brackets and escapes."""
    kind = rng.randrange(6 if depth else 3)
    if kind == 0:
        return rng.choice([None, True, False, 0, -1.5, 10**20])
    if kind in (1, 2):
        return "".join(rng.choice('[]{}"\\ ab\n\u00e9') for _ in range(rng.randrange(8)))
    size = rng.randrange(4)
    if kind == 3:
        return {f"k{i}{rng.choice('[{')}": random_json(rng, depth - 1) for i in range(size)}
    return [random_json(rng, depth - 1) for _ in range(size)]


def test_depth_agrees_with_the_parsed_value() -> None:
    """Property: for random values, loads refuses exactly those deeper than the limit, and
    depth_ok agrees with the recursive definition."""
    rng = random.Random(20250101)
    for _ in range(2000):
        value = random_json(rng, rng.randrange(8))
        depth = reference_depth(value)
        limit = rng.randrange(7)
        text = json.dumps(value, ensure_ascii=rng.random() < 0.5)
        assert jsonin.depth_ok(value, limit) == (depth <= limit)
        if depth <= limit:
            assert jsonin.loads(text.encode(), what="x", max_depth=limit) == value
        else:
            assert refusal(text, max_depth=limit)[0] == "too_deep"


def test_depth_ok() -> None:
    assert jsonin.depth_ok(1, 0) and jsonin.depth_ok("[[[[", 0)
    assert jsonin.depth_ok([], 1) and not jsonin.depth_ok([], 0)
    assert jsonin.depth_ok({"a": ({"b": 1},)}, 3) and not jsonin.depth_ok({"a": ({"b": 1},)}, 2)
    assert jsonin.depth_ok(nested(64)) and not jsonin.depth_ok(nested(65))
    assert not jsonin.depth_ok(nested(100_000))  # far past the recursion limit
    cycle: list[Any] = []
    cycle.append(cycle)
    assert not jsonin.depth_ok(cycle)
