"""Byte units and integer ceiling division, shared by every formula module."""

from __future__ import annotations

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30


def cdiv(a: int, b: int) -> int:
    """⌈a / b⌉ for integers (b > 0), without floating point."""
    return -(-a // b)
