"""Inference engines, one module each: its options, defaults, plan and `respond`.

Adding an engine is adding a module here that follows `request.inference.EngineProfile`
(NAME, OPTIONS_KEY, defaults, `parse_options`, `cache_dtypes`) and has
`respond(req) -> EngineResult`, `catalog_defaults() -> dict`, then naming it in `MODULES`.
Modules are imported on demand: the page opens on transformers.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import ModuleType

# engine name -> module; the first is the default engine
MODULES = {"transformers": "transformers", "vllm": "vllm", "llama.cpp": "llama_cpp",
           "sglang": "sglang", "ollama": "ollama"}
NAMES = tuple(MODULES)


def module(name: str) -> ModuleType:
    """The module of engine `name` (one of NAMES)."""
    return import_module(f".{MODULES[name]}", __name__)


def profile(name: str) -> Any:
    """The engine module, as the parser's `EngineProfile`."""
    return module(name)
