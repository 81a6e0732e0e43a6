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

