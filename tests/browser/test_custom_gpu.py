"""A GPU the catalog lacks, on the page: its inputs, its own row in the GPU table, its link,
and its bad values named beside each input (docs/api.md, "A GPU of your own")."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest

from .helpers import (
    assert_matches_python,
    edit,
    request_json,
    response_json,
    settle,
    wait_live,
)

pytestmark = pytest.mark.usefixtures("watch")

GiB = 2**30


def _field(page: Any, name: str) -> Any:
    return page.locator(f'[name="{name}"]:not(:disabled)')


def _total(page: Any) -> str:
    """The headline total: "…" while there are no figures."""
    return str(page.locator("[data-testid=total]").text_content())


def _problem(page: Any, name: str) -> Any:
    return page.locator(f"#problem-{name.replace('.', chr(92) + '.')}")


def test_a_custom_gpu_is_computed_shown_and_linked(
    page: Any, context: Any, site_url: str, vramcalc: Any
) -> None:
    page.goto(f"{site_url}?view=inference")
    wait_live(page)
    settle(page)
    assert page.locator("[data-custom-gpu]").is_hidden()
    # it starts as a copy of the GPU chosen before it
    edit(page, lambda: page.locator("#f-gpu").select_option("custom"))
    rtx = next(g for g in vramcalc.catalog()["gpus"] if g["id"] == "rtx-4090")
    assert request_json(page)["gpu"] == {
        "memory_bytes": rtx["memory_bytes"], "bandwidth_gb_s": rtx["bandwidth_gb_s"],
        "bf16_tflops": rtx["bf16_tflops"]}
    for name, value in [
        ("gpu.name", "RTX 4090 48GB (modded)"),
        ("gpu.memory_bytes", "48"),
        ("gpu.bandwidth_gb_s", "1008"),
        ("gpu.bf16_tflops", "165"),
    ]:
        edit(page, lambda name=name, value=value: _field(page, name).fill(value))
    response = assert_matches_python(page, vramcalc)
    assert response["request"]["gpu"] == {
        "name": "RTX 4090 48GB (modded)", "memory_bytes": 48 * GiB, "usable_fraction": 1.0,
        "bandwidth_gb_s": 1008.0, "bf16_tflops": 165.0, "fp16_tflops": 165.0,
        "compute_capability": None, "vendor": "nvidia", "kind": "discrete"}
    assert response["fit"]["selected"] == "custom"
    assert response["details"]["speed"] is not None
    # its own row, marked as custom and selected, after the catalog's
    row = page.locator('#gpu-rows tr[data-gpu="custom"]')
    assert row.locator("th button").text_content() == "RTX 4090 48GB (modded)"
    assert row.locator("[data-testid=custom-gpu-tag]").text_content() == "custom"
    assert row.get_attribute("class") == "fits selected"
    assert page.locator("#gpu-rows tr [data-testid=custom-gpu-tag]").count() == 1
    assert page.locator("#gpu-rows tr").last.get_attribute("data-gpu") == "custom"
    # fp16 was left to the package, which says what it took
    assert _field(page, "gpu.fp16_tflops").get_attribute("placeholder") == "auto: 165"

    query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    assert query["gpu.memory_bytes"] == [str(48 * GiB)]
    assert query["gpu.name"] == ["RTX 4090 48GB (modded)"]
    assert "gpu" not in query
    other = context.new_page()
    other.goto(page.url)
    wait_live(other)
    settle(other)
    assert response_json(other) == response
    assert other.locator("#f-gpu").input_value() == "custom"
    assert other.locator('[name="gpu.memory_bytes"]').input_value() == "48"
    assert other.locator('[name="gpu.name"]').input_value() == "RTX 4090 48GB (modded)"
    assert_matches_python(other, vramcalc)

    # a catalog GPU again: the custom inputs are hidden and not sent
    edit(page, lambda: page.locator('#gpu-rows tr[data-gpu="h100-sxm"] button').click())
    assert request_json(page)["gpu"] == "h100-sxm"
    assert page.locator("[data-custom-gpu]").is_hidden()
    assert page.locator('#gpu-rows tr[data-gpu="custom"]').count() == 0


def test_bad_custom_gpu_values_are_named_beside_each_input(
    page: Any, site_url: str, vramcalc: Any
) -> None:
    page.goto(f"{site_url}?view=inference")
    wait_live(page)
    settle(page)
    edit(page, lambda: page.locator("#f-gpu").select_option("custom"))
    good = request_json(page)
    names = ("gpu.name", "gpu.memory_bytes", "gpu.bandwidth_gb_s", "gpu.bf16_tflops")
    initial = {name: _field(page, name).input_value() for name in names}
    memory = _problem(page, "gpu.memory_bytes")

    _field(page, "gpu.memory_bytes").fill("")  # checked by the page: nothing is sent
    memory.wait_for(state="visible")
    assert memory.text_content() == "required"
    assert _total(page) == "…"
    edit(page, lambda: _field(page, "gpu.memory_bytes").fill(initial["gpu.memory_bytes"]))

    cases = [  # the package's problems, each beside its input
        ("gpu.memory_bytes", "0", {"memory_bytes": 0}),
        ("gpu.memory_bytes", "-2", {"memory_bytes": -2 * GiB}),
        ("gpu.bandwidth_gb_s", "0", {"bandwidth_gb_s": 0}),
        ("gpu.bf16_tflops", "-1", {"bf16_tflops": -1}),
        ("gpu.name", "x" * 61, {"name": "x" * 61}),
    ]
    for name, value, sent in cases:
        problem = _problem(page, name)
        _field(page, name).fill(value)
        problem.wait_for(state="visible")
        expected = vramcalc.estimate({**good, "gpu": {**good["gpu"], **sent}})["error"]["problems"]
        assert expected == [{"field": name, "message": problem.text_content()}], name
        assert _field(page, name).get_attribute("aria-invalid") == "true"
        assert _total(page) == "…"
        edit(page, lambda name=name: _field(page, name).fill(initial[name]))
        assert problem.is_hidden()

    # text in a number input is the browser's to refuse: the page names it
    _field(page, "gpu.memory_bytes").fill("")
    _field(page, "gpu.memory_bytes").press_sequentially("1e")
    page.wait_for_function("el => el.textContent === 'must be a number'",
                           arg=memory.element_handle())


def _link(site_url: str, **params: str) -> str:
    return f"{site_url}?{urllib.parse.urlencode(params)}"


@pytest.mark.parametrize(
    ("params", "field", "item"),
    [
        ({"gpu.name": "Mine", "gpu.memory_bytes": "abc"}, "gpu.memory_bytes",
         "gpu.memory_bytes=abc"),
        ({"gpu.name": "Mine", "gpu.memory_bytes": "-5"}, "gpu.memory_bytes",
         "gpu.memory_bytes: must be an integer >= 1048576, got -5"),
        ({"gpu": "rtx-4090", "gpu.memory_bytes": "1e400"}, "gpu.memory_bytes",
         "gpu.memory_bytes=1e400"),
    ],
    ids=["text", "negative", "too big for a float, beside a catalog id"],
)
def test_a_hostile_custom_gpu_memory_is_named_never_defaulted(
    page: Any, site_url: str, params: dict[str, str], field: str, item: str
) -> None:
    """A custom GPU's memory has no default to fall back to: the link's value is named in the
    notice and beside its input, the GPU stays the link's own, and no total is drawn."""
    page.goto(_link(site_url, view="inference", **params))
    wait_live(page)
    settle(page)
    assert item in _invalid_items(page)
    assert page.locator("#f-gpu").input_value() == "custom"
    problem = _problem(page, field)
    problem.wait_for(state="visible")
    assert problem.text_content()
    assert _total(page) == "…"
    assert "Traceback" not in page.content()


def test_a_hostile_optional_figure_is_named_and_left_out(page: Any, site_url: str,
                                                         vramcalc: Any) -> None:
    """An optional figure's default is to be absent: named in the notice, then left out (no
    speed bound), the link's GPU otherwise kept."""
    page.goto(_link(site_url, view="inference", **{"gpu.name": "Mine",
                                                   "gpu.memory_bytes": str(24 * GiB),
                                                   "gpu.bandwidth_gb_s": "0"}))
    wait_live(page)
    settle(page)
    assert "gpu.bandwidth_gb_s: must be a number > 0, got 0" in _invalid_items(page)
    response = assert_matches_python(page, vramcalc)
    assert response["request"]["gpu"]["name"] == "Mine"
    assert response["request"]["gpu"]["memory_bytes"] == 24 * GiB
    assert response["request"]["gpu"]["bandwidth_gb_s"] is None
    assert "speed_unknown" in [w["code"] for w in response["warnings"]]


def _invalid_items(page: Any) -> list[str]:
    notice = page.locator('[data-notice="url-invalid"]')
    notice.wait_for(state="visible")
    return [i.strip() for i in notice.locator("li").all_text_contents()]
