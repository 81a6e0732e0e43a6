"""A shared link with a hostile value gives a visible message and figures, never a page stuck
in "prerendered" or "computing" (issue 11's links: unbounded sizes, deep nesting, out-of-range
fractions, unknown views, numbers too big for a float)."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest

from .helpers import settle, wait_live

pytestmark = pytest.mark.usefixtures("watch")


def _deep(depth: int) -> str:
    """A config with a value nested `depth` lists deep, as JSON text (built as text: Python's
    own encoder stops near 1,000 levels)."""
    return '{"model_type": "llama", "nested": ' + "[" * depth + "0" + "]" * depth + "}"


def _link(site_url: str, **params: str) -> str:
    return f"{site_url}?{urllib.parse.urlencode(params)}"


def _invalid_items(page: Any) -> list[str]:
    notice = page.locator('[data-notice="url-invalid"]')
    notice.wait_for(state="visible")
    return [item.strip() for item in notice.locator("li").all_text_contents()]


def _shows_figures(page: Any) -> None:
    wait_live(page)
    settle(page)
    assert page.evaluate("document.documentElement.dataset.state") == "live"
    assert "Traceback" not in page.content()


@pytest.mark.parametrize(
    ("params", "field", "computes"),
    [
        # a field of the user's own architecture has no default to fall back to: it is named,
        # beside the field and in the notice, and no total is drawn until it is fixed
        ({"view": "inference", "source": "manual", "model.config.num_hidden_layers": "100000000"},
         "model.config.num_hidden_layers", False),
        ({"view": "inference", "engine": "vllm", "vllm.gpu_memory_utilization": "5"},
         "vllm.gpu_memory_utilization", True),
        ({"view": "inference", "batch_size": "1" + "0" * 400}, "batch_size", True),
        ({"view": "bogus"}, "view=bogus", True),
    ],
    ids=["a hundred million layers", "utilization 5", "a 401-digit batch", "an unknown view"],
)
def test_a_hostile_value_is_named_and_the_defaults_computed(
    page: Any, site_url: str, params: dict[str, str], field: str, computes: bool
) -> None:
    page.goto(_link(site_url, **params))
    _shows_figures(page)
    items = _invalid_items(page)
    assert any(item.startswith(field) for item in items), items
    total = (page.locator("[data-testid=total]").text_content() or "").strip()
    if computes:
        assert total not in ("", "…"), total
    else:
        problem = page.locator(f"#problem-{field.replace('.', chr(92) + '.')}")
        problem.wait_for(state="visible")
        assert "at most" in (problem.text_content() or "")


@pytest.mark.parametrize("depth", [1_000, 5_000])
def test_a_deeply_nested_config_is_refused_by_name(page: Any, site_url: str, depth: int) -> None:
    page.goto(_link(site_url, view="inference", **{"model.config": _deep(depth)}))
    _shows_figures(page)
    text = " ".join(page.locator("[data-notice], #problems, [role=alert]").all_text_contents())
    assert "nested" in text or "model.config" in text, text
