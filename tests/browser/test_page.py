"""The page computes exactly what CPython's vramcalc.estimate returns, in every mode and state."""

from __future__ import annotations

import functools
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .helpers import (
    assert_matches_python,
    edit,
    format_gib,
    page_data,
    request_json,
    response_json,
    settle,
    shown_total,
    wait_live,
)

pytestmark = pytest.mark.usefixtures("watch")


def test_prerendered_then_live(page: Any, site_url: str, vramcalc: Any, defaults: dict) -> None:
    html = urllib.request.urlopen(site_url).read().decode()
    expected = vramcalc.estimate(defaults["requests"][defaults["view"]])
    figure = format_gib(expected["total_bytes"])
    assert '<html lang="en" data-state="prerendered"' in html
    data = page_data(html)  # in the page itself: drawn without waiting for Python
    assert data["prerendered"][defaults["view"]]["response"] == expected
    assert data["catalog"] == json.loads(json.dumps(vramcalc.catalog()))

    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.goto(site_url, wait_until="domcontentloaded")  # the page's modules have run
    drawn = page.evaluate(
        """() => [document.documentElement.dataset.state,
                  document.querySelector('[data-testid=total]').textContent,
                  document.querySelectorAll('#gpu-rows tr').length,
                  document.querySelectorAll('#chart svg circle').length,
                  document.querySelectorAll('#math-rows tr').length]"""
    )
    assert drawn == [
        "prerendered",
        figure,
        len(expected["fit"]["gpus"]),
        len(defaults["series"][defaults["axes"]["inference"][0]]),
        len(expected["components"]),
    ]
    wait_live(page)
    settle(page)
    response = assert_matches_python(page, vramcalc)
    assert response == expected  # the form's defaults are the prerendered request's
    rows = page.evaluate(
        """() => [...document.querySelectorAll('#gpu-rows tr')]
                  .map(r => [r.dataset.gpu, r.cells[4].textContent, r.cells[5].textContent])"""
    )
    said = [
        [g["gpu"], *(f"{g[k]:,}" if g[k] > 0 else "none fits"
                     for k in ("max_batch_size", "max_context_length"))]
        for g in expected["fit"]["gpus"]
    ]
    assert rows == said
    assert ["none fits", "none fits"] in [row[1:] for row in rows]  # cards too small: in words
    assert page.locator("[name=context_length]").input_value() == "8192"
    # Python started through interpreter.mjs, from the build's memory snapshot, with the
    # page's own standard library
    assert f"{site_url}interpreter.mjs" in requested
    assert any(u.startswith(f"{site_url}python/stdlib.zip?") for u in requested)
    assert any(u.startswith(f"{site_url}python/snapshot.bin?") for u in requested)
    assert page.locator("html").get_attribute("data-boot") == "snapshot"


def test_every_list_comes_from_the_catalog(
    page: Any, site_url: str, vramcalc: Any, defaults: dict
) -> None:
    """The page fills its lists from vramcalc.catalog(), before Python starts; none is empty."""
    catalog = vramcalc.catalog()
    page.goto(site_url, wait_until="domcontentloaded")
    empty = page.evaluate(
        "[...document.querySelectorAll('select')].filter(s => s.options.length === 0)"
        ".map(s => s.name)"
    )
    assert empty == []

    def values(selector: str) -> list[str]:
        return page.locator(selector).evaluate_all("els => els.map(e => e.value)")

    assert values('[name="model.preset"] option') == [p["id"] for p in catalog["presets"]]
    def grouped(entries: list[dict[str, Any]], key: str) -> list[str]:
        # the page puts each group (vendor, format kind) in an optgroup where it first appears
        groups: dict[str, list[str]] = {}
        for entry in entries:
            groups.setdefault(str(entry.get(key) or ""), []).append(entry["id"])
        return [value for ids in groups.values() for value in ids]

    assert values('[name="gpu"] option') == ["", "custom", *grouped(catalog["gpus"], "vendor")]
    assert values('[name="weight_format"] option') == [
        "", *grouped(catalog["weight_formats"], "kind")
    ]
    assert values('[name="engine"] option') == catalog["choices"]["engine"]
    assert values('[name="framework"] option') == [f["id"] for f in catalog["frameworks"]]
    assert values('[data-group="training"] [name="attention"] option') == [
        "", *catalog["choices"]["training"]["attention"]
    ]
    # LoRA targets: the default model's own modules (from its answer), and all-linear
    default_model = page_data(urllib.request.urlopen(site_url).read().decode())["prerendered"][
        defaults["view"]]["response"]["model"]
    assert values('[name="lora.target_modules"]') == [
        *default_model["lora_target_modules"], "all-linear"]
    assert page.locator('[name="gpu"]').input_value() == defaults["requests"]["inference"]["gpu"]
    label = page.locator('[name="model.preset"] option:checked').text_content()
    assert label == "Llama 3.1 8B · 8.0 B"


MODES = {  # a view, and the inputs changed there
    "inference": (
        "inference",
        [
            ("fill", "batch_size", "8"),
            ("select", "weight_format", "nf4"),
            ("select", "kv_cache_dtype", "fp16"),
            ("select", "attention", "eager"),
            ("select", "transformers.cache", "static"),
        ],
    ),
    "vllm": (
        "inference",
        [
            ("select", "engine", "vllm"),
            ("fill", "vllm.gpu_memory_utilization", "0.85"),
            ("fill", "vllm.max_num_seqs", "64"),
            ("select", "kv_cache_dtype", "fp8"),
        ],
    ),
    "llama.cpp": (
        "inference",
        [
            ("select", "engine", "llama.cpp"),
            ("select", "weight_format", "Q5_K_M"),
            ("select", "llama_cpp.cache_type_k", "q8_0"),
            ("fill", "llama_cpp.n_gpu_layers", "20"),
        ],
    ),
    "finetune": (
        "finetune",
        [
            ("select", "method", "qlora"),
            ("fill", "lora.rank", "32"),
            ("fill", "micro_batch_size", "2"),
            ("select", "optimizer", "paged_adamw_8bit"),
            ("select", "framework", "unsloth"),
        ],
    ),
    "training": (
        "training",
        [
            ("fill", "sequence_length", "8192"),
            ("fill", "parallel.data", "8"),
            ("fill", "parallel.zero_stage", "3"),
            ("select", "precision", "bf16"),
        ],
    ),
    "gpus": ("gpus", [("fill", "context_length", "32768"), ("select", "gpu", "a100-80gb")]),
}


def set_input(page: Any, how: str, name: str, value: str) -> None:
    control = page.locator(f'[name="{name}"]:not(:disabled)')
    if how == "select":
        control.select_option(value)
    else:
        control.fill(value)


@pytest.mark.parametrize("case", list(MODES))
def test_each_mode_computes_what_python_does(
    page: Any, site_url: str, vramcalc: Any, defaults: dict, case: str
) -> None:
    view, inputs = MODES[case]
    page.goto(f"{site_url}?view={view}")
    wait_live(page)
    settle(page)
    assert page.locator(f'nav a[data-view="{view}"]').get_attribute("aria-current") == "page"
    default = defaults["requests"].get(view, defaults["requests"]["inference"])
    assert "error" not in vramcalc.estimate(default)
    for how, name, value in inputs:
        edit(page, functools.partial(set_input, page, how, name, value))
    response = assert_matches_python(page, vramcalc)
    request = response["request"]
    for _, name, value in inputs:
        got = request
        for key in name.split("."):
            got = got[key]
        assert str(got) == value, name
    if view == "training":
        assert request["method"] == "full"
    if view == "gpus":
        assert page.locator("#gpu-rows tr.selected").get_attribute("data-gpu") == "a100-80gb"
    details = response["details"]
    lines = {
        li.get_attribute("data-detail"): li.text_content()
        for li in page.locator("[data-testid=engine-details] li").all()
    }
    if case == "vllm":  # the engine's own figures, as Python computed them
        vllm = details["vllm"]
        assert f"KV cache for {vllm['kv_cache_tokens']:,} tokens" in lines["vllm"]
        assert f"max_model_len that fits: {vllm['max_model_len_that_fits']:,}" in lines["vllm"]
    if case == "llama.cpp":
        assert f"the largest -ngl that fits: {details['llama_cpp']['max_n_gpu_layers']}" in \
            lines["llama_cpp"]
    if details.get("speed"):
        speed = details["speed"]["decode"]["tokens_per_s_per_sequence"]
        assert f"decode ≤ {speed} tokens/s" in lines["speed"]
    host = details.get("host_memory")
    if host:  # host RAM as a figure of its own: while running, while loading, to download
        shown = lines["host_memory"]
        for key in ("resident_bytes", "load_peak_bytes", "download_bytes"):
            assert format_gib(host[key]) in shown, key
        for part in host["resident"]:
            assert part["label"].lower() in shown


def test_link_reproduces_the_result(page: Any, context: Any, site_url: str, vramcalc: Any) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"{site_url}?view=inference")
    wait_live(page)
    edit(page, lambda: page.locator("input[name=source][value=manual]").check())
    page.locator(".advanced summary").click()
    for how, name, value in [
        ("fill", "model.config.num_hidden_layers", "48"),
        ("fill", "model.config.num_key_value_heads", "4"),
        ("select", "weight_format", "nf4"),
        ("fill", "context_length", "16384"),
        ("fill", "overheads.cuda_context_bytes", "700"),
    ]:
        edit(page, functools.partial(set_input, page, how, name, value))
    first = response_json(page)
    assert first["request"]["overheads"]["cuda_context_bytes"] == 700 * 2**20
    with page.expect_download() as download:
        page.locator("#download-json").click()
    assert json.loads(Path(download.value.path()).read_text()) == first
    page.locator("#share").click()
    link = page.evaluate("navigator.clipboard.readText()")
    assert link == page.url

    other = context.new_page()
    other.goto(link)
    wait_live(other)
    settle(other)
    assert response_json(other) == first
    assert other.locator("input[name=source]:checked").get_attribute("value") == "manual"
    assert other.locator('[name="context_length"]').input_value() == "16384"
    assert other.locator('[name="weight_format"]').input_value() == "nf4"
    assert other.locator('[name="overheads.cuda_context_bytes"]').input_value() == "700"
    assert other.locator(".advanced").evaluate("d => d.open")  # a linked non-default is in view
    assert_matches_python(other, vramcalc)


def test_config_json_pasted_or_uploaded_and_linked(
    page: Any, context: Any, site_url: str, vramcalc: Any, tmp_path: Path
) -> None:
    config = {
        "model_type": "qwen2",
        "hidden_size": 1536,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "intermediate_size": 8960,
        "vocab_size": 151936,
        "max_position_embeddings": 32768,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
    }
    page.goto(site_url)
    wait_live(page)
    page.locator("input[name=source][value=config]").check()
    assert (
        page.locator("#problem-model\\.config").text_content()
        == "paste a config.json or choose a file"
    )
    edit(page, lambda: page.locator("#f-model\\.config").fill(json.dumps(config)))
    pasted = assert_matches_python(page, vramcalc)
    assert pasted["request"]["model"]["config"] == config

    path = tmp_path / "config.json"
    path.write_text(json.dumps({**config, "num_hidden_layers": 14}))
    edit(page, lambda: page.locator("#config-file").set_input_files(str(path)))
    uploaded = assert_matches_python(page, vramcalc)
    assert uploaded["request"]["model"]["config"]["num_hidden_layers"] == 14

    assert "model.config=z" in page.url  # the config travels in the link, compressed
    other = context.new_page()
    other.goto(page.url)
    wait_live(other)
    settle(other)
    assert response_json(other) == uploaded


def test_malformed_link_gives_notice_and_defaults(
    page: Any, site_url: str, vramcalc: Any, defaults: dict
) -> None:
    page.goto(
        f"{site_url}?view=inference&batch_size=abc&colour=blue&weight_format=no-such-format"
        "&context_length=0&model.config=zzzz"
    )
    wait_live(page)
    settle(page)
    unknown = page.locator('[data-notice="url-unknown"]')
    assert unknown.locator("li").all_text_contents() == ["colour"]
    invalid = page.locator('[data-notice="url-invalid"] li').all_text_contents()
    assert "batch_size=abc" in invalid
    assert "weight_format=no-such-format" in invalid
    assert "model.config" in invalid
    assert any(item.startswith("context_length: ") for item in invalid)
    response = assert_matches_python(page, vramcalc)
    assert response == vramcalc.estimate(defaults["requests"]["inference"])


def test_bad_inputs_show_the_contract_problems(page: Any, site_url: str, vramcalc: Any) -> None:
    page.goto(site_url)
    wait_live(page)
    settle(page)
    request = {**request_json(page), "batch_size": 0}
    page.locator("[name=batch_size]").fill("0")
    problem = page.locator("#problem-batch_size")
    problem.wait_for(state="visible")
    expected = vramcalc.estimate(request)["error"]["problems"]
    assert [p["field"] for p in expected] == ["batch_size"]
    assert problem.text_content() == expected[0]["message"]
    assert page.locator("[name=batch_size]").get_attribute("aria-invalid") == "true"
    assert shown_total(page) == "…"
    assert "Traceback" not in page.content()

    edit(page, lambda: page.locator("[name=batch_size]").fill("2"))
    assert problem.is_hidden()
    assert_matches_python(page, vramcalc)

    page.locator("input[name=source][value=manual]").check()
    page.locator('[name="model.config.num_attention_heads"]').fill("0")
    field = page.locator("#problem-model\\.config\\.num_attention_heads")
    field.wait_for(state="visible")
    assert field.text_content() != ""


HUB_CONFIG = {
    "model_type": "llama",
    "hidden_size": 2048,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "intermediate_size": 8192,
    "vocab_size": 128256,
    "max_position_embeddings": 131072,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
}


@pytest.mark.browser_context_args(service_workers="block")
def test_hugging_face_lookup(page: Any, watch: Any, site_url: str, vramcalc: Any) -> None:
    """Recorded Hub answers: a config, gated (401), no config.json (404), and no network; the
    page shows what vramcalc.hub says about each, and offers the other ways in."""
    watch.allowed.add("https://huggingface.co")
    cors = {
        "access-control-allow-origin": "*",
        "access-control-expose-headers": "X-Error-Code,X-Repo-Commit,ETag",
    }
    answers = {
        "meta-llama/Llama-3.2-1B": {
            "status": 200,
            "body": json.dumps(HUB_CONFIG),
            "headers": {**cors, "content-type": "application/json"},
        },
        "meta-llama/Llama-3.1-405B": {
            "status": 401,
            "body": "Access to model meta-llama/Llama-3.1-405B is restricted.",
            "headers": {**cors, "x-error-code": "GatedRepo"},
        },
        "someone/gguf-only": {
            "status": 404,
            "body": "Entry not found",
            "headers": {**cors, "x-error-code": "EntryNotFound"},
        },
    }
    asked: list[str] = []

    def hub(route: Any) -> None:
        url = route.request.url
        asked.append(url)
        model = url.removeprefix("https://huggingface.co/").removesuffix(
            "/resolve/main/config.json"
        )
        if model in answers:
            route.fulfill(**answers[model])
        else:
            route.abort("internetdisconnected")

    page.route("https://huggingface.co/**", hub)
    page.goto(site_url)
    wait_live(page)
    page.locator("input[name=source][value=hub]").check()
    status = page.locator("#hub-status")

    def look_up(model: str, expected: str) -> None:
        page.locator("#f-model\\.name").fill(model)
        page.locator("#hub-fetch").click()
        page.wait_for_function(
            "t => document.querySelector('#hub-status').textContent.startsWith(t)", arg=expected
        )

    def explain(status: str, model_id: str) -> str:
        return str(vramcalc.hub.explain(status, model_id, audience="page"))

    look_up("not an id", explain("invalid_id", "not an id"))
    look_up("meta-llama/Llama-3.1-405B", explain("gated", "meta-llama/Llama-3.1-405B"))
    assert status.get_by_role("button", name="Paste config.json").is_visible()
    look_up("someone/gguf-only", explain("no_config", "someone/gguf-only"))
    look_up("nobody/offline-test", explain("offline", "nobody/offline-test"))

    edit(page, lambda: look_up("meta-llama/Llama-3.2-1B", "Loaded config.json"))
    assert status.text_content() == "Loaded config.json of meta-llama/Llama-3.2-1B."
    response = assert_matches_python(page, vramcalc)
    assert response["request"]["model"] == {
        "config": HUB_CONFIG,
        "name": "meta-llama/Llama-3.2-1B",
    }
    assert asked == [  # one request per look-up, none for a malformed id
        f"https://huggingface.co/{m}/resolve/main/config.json"
        for m in (
            "meta-llama/Llama-3.1-405B",
            "someone/gguf-only",
            "nobody/offline-test",
            "meta-llama/Llama-3.2-1B",
        )
    ]

    look_up("meta-llama/Llama-3.1-405B", explain("gated", "meta-llama/Llama-3.1-405B"))
    status.get_by_role("button", name="Paste config.json").click()
    assert page.locator("input[name=source]:checked").get_attribute("value") == "config"


def test_the_changes_that_make_it_fit(page: Any, site_url: str, vramcalc: Any) -> None:
    """The default fine-tuning view does not fit its GPU: fit_changes' ranked list appears under
    the verdict, the same as the package's, and applying the first makes it fit."""
    page.goto(f"{site_url}?view=finetune")
    wait_live(page)
    settle(page)
    request = request_json(page)
    expected = vramcalc.fit_changes(request)
    assert expected["outcome"] == "changes"
    items = page.locator("#fit-change-list li")
    items.first.wait_for(state="visible")
    labels = [text.split(" → ")[0] for text in items.all_text_contents()]
    assert labels == [s["label"] for s in expected["suggestions"]]
    first = expected["suggestions"][0]
    assert items.first.locator(".num").text_content() == format_gib(first["total_bytes"])

    edit(page, lambda: page.locator("[data-apply='0']").click())
    settle(page)
    response = assert_matches_python(page, vramcalc)
    assert response == vramcalc.estimate(first["request"])
    assert response["total_bytes"] == first["total_bytes"]
    assert page.locator("#summary .fits").is_visible()
    # it fits now: the list is gone, and "bigger" is offered on demand
    assert page.locator("#fit-changes").is_hidden()
    page.locator("#fit-bigger").click()
    bigger = vramcalc.fit_changes(first["request"])["bigger"]
    page.locator("#fit-change-list li").first.wait_for(state="visible")
    shown = [t.split(" → ")[0] for t in page.locator("#fit-change-list li").all_text_contents()]
    assert shown == [s["label"] for s in bigger]


def test_the_engine_guide_covers_every_engine(page: Any, site_url: str, vramcalc: Any) -> None:
    page.goto(site_url)
    wait_live(page)
    offered = page.locator("#f-engine option").evaluate_all("os => os.map(o => o.value)")
    assert sorted(offered) == sorted(vramcalc.catalog()["choices"]["engine"])
    page.locator("#engine-guide summary").click()
    guide = (page.locator("#engine-guide").text_content() or "").lower()
    assert all(engine in guide for engine in offered), offered
