"""The one byte formatter (presentation only). GiB is 2^30 bytes and is never printed as GB."""

from __future__ import annotations

_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB")


def natural_size(n: int | float, *, binary: bool = True, digits: int = 2) -> str:
    """`natural_size(17_000_000_000)` -> '15.83 GiB'; `binary=False` -> '17.00 GB'.

    Modelled on python-humanize's naturalsize: binary (IEC) units by default here, because
    GPU memory is sold and reported in powers of two.
    """
    base = 1024 if binary else 1000
    units = _BINARY if binary else _DECIMAL
    sign = "-" if n < 0 else ""
    value = float(abs(n))
    if value < base:
        return f"{sign}{int(value)} B"
    exponent = 0
    while value >= base and exponent < len(units) - 1:
        value /= base
        exponent += 1
    return f"{sign}{value:.{digits}f} {units[exponent]}"



_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str) -> int:
    """'24GiB' -> 25769803776, '24 GB' -> 24000000000, '512MiB', '25769803776B': a number
    and a unit (B, kB/KiB, MB/MiB, GB/GiB, TB/TiB; case ignored). Raises ValueError naming
    the units when there is none: a bare number could mean GB or GiB."""
    value = text.strip()
    number = value.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ").strip()
    unit = value[len(value.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")):]
    factor = _UNITS.get(unit.lower())
    try:
        amount = float(number)
    except ValueError:
        amount = -1.0
    if factor is None or not 0 < amount < 2**53 or len(value) > 40:
        raise ValueError(f"{text[:40]!r} is not a size: give a number and a unit, such as "
                         "24GiB, 24GB or 512MiB")
    return int(amount * factor)
