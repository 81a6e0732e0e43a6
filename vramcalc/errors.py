"""Problems with a request, collected all at once and raised together, and the one scoped
reader every parser uses (request fields and config.json alike)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


@dataclass(frozen=True, kw_only=True, slots=True)
class Problem:
    """One thing wrong with a request: where (a dotted path) and what."""

    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class RequestError(ValueError):
    """A request that cannot be estimated; `problems` lists every reason."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        text = "; ".join(f"{p.field}: {p.message}" for p in self.problems)
        super().__init__(text or "invalid request")

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"problems": [p.to_dict() for p in self.problems]}}


def show(value: object) -> str:
    """A short, safe rendering of a bad value for an error message (JSON's words for
    true, false and null; long values cut; integers too long to print described)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int) and value.bit_length() > 200:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1:,} digits"
    if isinstance(value, (dict, list)):
        return f"{'an object' if isinstance(value, dict) else 'a list'} of {len(value):,} items"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def count(value: int) -> str:
    """`value` with thousands separators, or its size when it is too long to print."""
    return show(value) if value.bit_length() > 200 else f"{value:,}"


@dataclass(slots=True)
class Collector:
    """Gathers problems while a request is read (after packaging's _ErrorCollector)."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(field=path, message=message))

    def raise_if_any(self) -> None:
        if self.problems:
            raise RequestError(self.problems)


_EMPTY: dict[str, Any] = {}


class Fields:
    """Typed reads of one JSON object at a dotted `path`, each problem recorded with the
    field's full path. Each reader returns a usable value even when the field is bad (the
    default), so that one pass finds every problem. `default=None` means required."""

    __slots__ = ("collector", "data", "path", "start")

    def __init__(self, data: Mapping[str, Any], collector: Collector, path: str = "") -> None:
        self.data = data
        self.collector = collector
        self.path = path
        self.start = len(collector.problems)

    def at(self, key: str) -> str:
        """The dotted path of `key` in this object."""
        return f"{self.path}.{key}" if self.path else key

    def add(self, key: str, message: str) -> None:
        """Record a problem with `key` ("" for this object itself)."""
        self.collector.add(self.at(key) if key else self.path, message)

    def failed(self) -> bool:
        """Whether any field read through this reader (or after it) was bad."""
        return len(self.collector.problems) > self.start

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def text(self, key: str, *, default: str) -> str:
        """A string field; `default` only when it is absent or null."""
        if not self.has(key):
            return default
        value = self.data[key]
        if not isinstance(value, str) or not value:
            self.add(key, f"must be a non-empty string, got {show(value)}")
            return default
        return value

    def sub(self, key: str) -> Fields:
        """The object at `key` (an empty one when absent or not an object)."""
        value = self.data.get(key)
        if value is not None and not isinstance(value, dict):
            self.add(key, f"must be an object, got {show(value)}")
        return Fields(value if isinstance(value, dict) else _EMPTY, self.collector, self.at(key))

    def unknown_keys(self, known: Iterable[str]) -> None:
        allowed = frozenset(known)
        for key in self.data:
            if key not in allowed:
                # a key that would read as a path (empty, dotted, long) is quoted
                name = str(key)
                if not name or "." in name or len(name) > 60:
                    name = show(name) if name else '""'
                self.add(name, "is not a known field")

    def integer(
        self, key: str, *aliases: str, default: int | None = None, minimum: int = 1,
        maximum: int | None = None,
    ) -> int:
        """The integer at `key` (or the first alias present)."""
        name = next((k for k in (key, *aliases) if self.has(k)), None)
        if name is None:
            if default is None:
                self.add(key, "is required")
                return max(minimum, 1)
            return default
        fallback = max(minimum, 1) if default is None else default
        value = self.data[name]
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(name, f"must be an integer, got {show(value)}")
            return fallback
        if value < minimum:
            self.add(name, f"must be an integer >= {minimum}, got {show(value)}")
            return fallback
        if maximum is not None and value > maximum:
            self.add(name, f"must be an integer <= {maximum}, got {show(value)}")
            return fallback
        return value

    def optional_integer(self, key: str, *, minimum: int = 1,
                         maximum: int | None = None) -> int | None:
        """The integer at `key`, or None when it is absent (or null)."""
        if not self.has(key):
            return None
        return self.integer(key, minimum=minimum, maximum=maximum)

    def number(
        self, key: str, *, default: float, minimum: float = 0.0, maximum: float | None = None,
        exclusive_minimum: bool = False,
    ) -> float:
        if not self.has(key):
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.add(key, f"must be a number, got {show(value)}")
            return default
        try:
            number = float(value)
        except OverflowError:  # an integer beyond the float range
            number = float("inf")
        if number != number or number in (float("inf"), float("-inf")):
            self.add(key, f"must be a finite number, got {show(value)}")
            return default
        too_low = number <= minimum if exclusive_minimum else number < minimum
        if too_low:
            sign = ">" if exclusive_minimum else ">="
            self.add(key, f"must be a number {sign} {minimum:g}, got {number:g}")
            return default
        if maximum is not None and number > maximum:
            self.add(key, f"must be a number <= {maximum:g}, got {number:g}")
            return default
        return number

    def choice(self, key: str, choices: tuple[str, ...] | list[str], *,
               default: str | None) -> str:
        if not self.has(key):
            if default is None:
                self.add(key, "is required")
                return choices[0]
            return default
        value = self.data[key]
        if not isinstance(value, str) or value not in choices:
            shown = ", ".join(choices) if len(choices) <= 12 else ", ".join(choices[:12]) + ", ..."
            self.add(key, f"must be one of {shown}; got {show(value)}")
            return default if default is not None else choices[0]
        return value

    def boolean(self, key: str, *, default: bool) -> bool:
        if not self.has(key):
            return default
        value = self.data[key]
        if not isinstance(value, bool):
            self.add(key, f"must be true or false, got {show(value)}")
            return default
        return value
