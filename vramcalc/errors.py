"""Problems with a request, collected all at once and raised together."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True, kw_only=True, slots=True)
class Problem:
    """One thing wrong with a request: where (a dotted path) and what."""

    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class RequestError(ValueError):
    """A request that cannot be estimated; `problems` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = tuple(problems)
        text = "; ".join(f"{p.field}: {p.message}" for p in self.problems)
        super().__init__(text or "invalid request")

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"problems": [p.to_dict() for p in self.problems]}}


def _show(value: object) -> str:
    """A short, safe rendering of a bad value for an error message."""
    text = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(slots=True)
class Collector:
    """Gathers problems while a request is read (after packaging's _ErrorCollector)."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(field=path, message=message))

    def raise_if_any(self) -> None:
        if self.problems:
            raise RequestError(self.problems)

    # Typed readers: each returns a usable value (the default on a problem) and records
    # the problem, so that parsing goes on and every problem is reported at once.

    def integer(
        self,
        data: Mapping[str, Any],
        key: str,
        path: str,
        *,
        default: int | None = None,
        minimum: int = 1,
        maximum: int | None = None,
        required: bool = False,
    ) -> int:
        fallback = minimum if default is None else default
        if key not in data or data[key] is None:
            if required or default is None:
                self.add(path, "is required")
            return fallback
        value = data[key]
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(path, f"must be an integer, got {_show(value)}")
            return fallback
        if value < minimum:
            self.add(path, f"must be an integer >= {minimum}, got {value}")
            return fallback
        if maximum is not None and value > maximum:
            self.add(path, f"must be an integer <= {maximum}, got {value}")
            return fallback
        return value

    def number(
        self,
        data: Mapping[str, Any],
        key: str,
        path: str,
        *,
        default: float,
        minimum: float = 0.0,
        maximum: float | None = None,
        exclusive_minimum: bool = False,
    ) -> float:
        if key not in data or data[key] is None:
            return default
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.add(path, f"must be a number, got {_show(value)}")
            return default
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            self.add(path, f"must be a finite number, got {_show(value)}")
            return default
        too_low = number <= minimum if exclusive_minimum else number < minimum
        if too_low:
            sign = ">" if exclusive_minimum else ">="
            self.add(path, f"must be a number {sign} {minimum:g}, got {number:g}")
            return default
        if maximum is not None and number > maximum:
            self.add(path, f"must be a number <= {maximum:g}, got {number:g}")
            return default
        return number

    def choice(
        self,
        data: Mapping[str, Any],
        key: str,
        path: str,
        choices: tuple[str, ...] | list[str],
        *,
        default: str | None,
    ) -> str:
        if key not in data or data[key] is None:
            if default is None:
                self.add(path, "is required")
                return choices[0]
            return default
        value = data[key]
        if not isinstance(value, str) or value not in choices:
            shown = ", ".join(choices) if len(choices) <= 12 else ", ".join(choices[:12]) + ", ..."
            self.add(path, f"must be one of {shown}; got {_show(value)}")
            return default if default is not None else choices[0]
        return value

    def boolean(self, data: Mapping[str, Any], key: str, path: str, *, default: bool) -> bool:
        if key not in data or data[key] is None:
            return default
        value = data[key]
        if not isinstance(value, bool):
            self.add(path, f"must be true or false, got {_show(value)}")
            return default
        return value

    def mapping(self, data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        if key not in data or data[key] is None:
            return {}
        value = data[key]
        if not isinstance(value, dict):
            self.add(path, f"must be an object, got {_show(value)}")
            return {}
        return value

    def unknown_keys(self, data: Mapping[str, Any], known: frozenset[str], prefix: str) -> None:
        for key in data:
            if key not in known:
                where = f"{prefix}.{key}" if prefix else str(key)
                self.add(where, "is not a known field")
