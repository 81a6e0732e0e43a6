"""Offline after the first visit, inside a cross-origin iframe, and usable by everyone."""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import shutil
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from .helpers import (
    ROOT,
    Server,
    assert_matches_python,
    build,
    edit,
    format_gb,
    format_gib,
    response_json,
    settle,
    wait_live,
)


def precache(dist: Path) -> list[str]:
    text = (dist / "sw.js").read_text()
    return json.loads(re.search(r"const PRECACHE = (\[.*?\]);", text, re.S).group(1))


def test_offline_reload_still_computes(
    browser: Any, dist: Path, vramcalc: Any, tmp_path: Path
) -> None:
    """First visit online; then the server is stopped and the HTTP cache cleared; a reload
    is served by the service worker alone and still recomputes."""
    server = Server(dist)  # its own origin: a service worker no other test has seen
    context = browser.new_context()
    try:
        errors: list[str] = []
        context.on("console", lambda m: m.type == "error" and errors.append(m.text))
        requested: set[str] = set()
        context.on("request", lambda r: requested.add(r.url))
        page = context.new_page()
        page.goto(server.url)
        wait_live(page)
        page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=60_000)
        origin = server.url.rstrip("/")
        cached = page.evaluate(
            "async () => { const keys = await caches.keys();"
            " const c = await caches.open(keys.find(k => k.startsWith('vramcalc-')));"
            " return (await c.keys()).map(r => r.url); }"
        )
        listed = precache(dist)
        assert sorted(cached) == sorted(urllib.parse.urljoin(server.url, u) for u in listed)
        files = sorted(
            "./" + p.relative_to(dist).as_posix()
            for p in dist.rglob("*")
            if p.is_file() and p.name not in ("sw.js", ".nojekyll")
        )
        assert listed == files  # exactly the page's files
        wanted = {u.split("?")[0] for u in requested if u.startswith(origin)} - {
            f"{origin}/",
            f"{origin}/sw.js",
        }
        assert wanted <= set(cached), wanted - set(cached)  # everything the page asked for
        # the service worker keeps Python's snapshot decompressed: no 30 MB to inflate each start
        kept = page.evaluate(
            "async (url) => { const keys = await caches.keys();"
            " const c = await caches.open(keys.find(k => k.startsWith('vramcalc-')));"
            " const r = await c.match(url); const b = new Uint8Array(await r.arrayBuffer());"
            " return [b.length, new TextDecoder().decode(b.subarray(0, 18))]; }",
            urllib.parse.urljoin(server.url, build.SNAPSHOT),
        )
        raw = gzip.decompress((dist / build.SNAPSHOT).read_bytes())
        assert kept == [len(raw), "vramcalc-snapshot "]

        session = context.new_cdp_session(page)
        session.send("Network.clearBrowserCache")
        server.stop()
        responses: list[Any] = []
        page.on("response", lambda r: responses.append(r))
        page.reload()
        wait_live(page)
        page.wait_for_selector('[data-notice="offline"]')  # the page says it is offline
        assert page.locator("html").get_attribute("data-boot") == "snapshot"
        edit(page, lambda: page.locator("[name=context_length]").fill("65536"))
        response = assert_matches_python(page, vramcalc)
        assert response["request"]["context_length"] == 65536
        same_origin = [r for r in responses if r.url.startswith(origin)]
        assert same_origin and all(r.from_service_worker for r in same_origin), [
            r.url for r in same_origin if not r.from_service_worker
        ]
        assert [e for e in errors if "sw.js" not in e] == []  # the update check may fail offline
    finally:
        context.close()
        with contextlib.suppress(OSError):  # stopped already, unless the test failed early
            server.stop()


@pytest.mark.usefixtures("watch")
def test_embed_in_a_cross_origin_iframe(
    page: Any, context: Any, watch: Any, site_url: str, tmp_path: Path, vramcalc: Any
) -> None:
    page.goto(site_url)
    wait_live(page)
    edit(page, lambda: page.locator("[name=batch_size]").fill("4"))
    page.locator("#embed").click()
    snippet = page.locator("#embed-code").input_value()
    assert "embed=1" in snippet and "batch_size=4" in snippet

    host_dir = tmp_path / "host"
    host_dir.mkdir()
    (host_dir / "index.html").write_text(
        '<!doctype html><title>Docs</title><link rel="icon" href="data:,">'
        f"<h1>Our docs</h1>\n{snippet}\n<p>after</p>"
    )
    host = Server(host_dir)  # another port: another origin
    watch.origins.add(host.url.rstrip("/"))
    try:
        docs = context.new_page()
        docs.goto(host.url)
        frame = docs.frame_locator("iframe[data-vramcalc]")
        frame.locator("html[data-state=live]").wait_for(state="attached", timeout=60_000)
        assert frame.locator("html").get_attribute("data-embed") == ""
        assert frame.locator("header .brand").is_hidden()  # minimal chrome
        assert frame.locator("[name=batch_size]").input_value() == "4"
        iframe = docs.locator("iframe[data-vramcalc]")
        docs.wait_for_function(
            "() => document.querySelector('iframe').style.height !== '720px'", timeout=10_000
        )  # the frame told its host its height
        # the content may still grow (a list under the verdict): the host follows each change
        for _ in range(100):
            height = iframe.evaluate("f => f.getBoundingClientRect().height")
            content = frame.locator("html").evaluate("h => h.getBoundingClientRect().height")
            if abs(height - content) <= 2:
                break
            docs.wait_for_timeout(100)
        assert abs(height - content) <= 2

        inner = docs.frames[1]
        before = inner.evaluate("performance.getEntriesByName('vramcalc:rendered').length")
        frame.locator("[name=context_length]").fill("16384")
        inner.wait_for_function(
            "n => performance.getEntriesByName('vramcalc:rendered').length > n", arg=before
        )
        settle(inner)
        assert_matches_python(inner, vramcalc)
        link = frame.locator("#open-full").get_attribute("href")
        assert "context_length=16384" in link and "embed" not in link
    finally:
        host.stop()


@pytest.mark.usefixtures("watch")
def test_accessible_and_responsive(page: Any, site_url: str) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    page.emulate_media(color_scheme="dark")
    page.goto(site_url)
    wait_live(page)
    # phone width: nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    # dark mode follows the system
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 18, 22)"
    # every visible control has a label
    unlabeled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
          .filter(el => el.offsetParent !== null && el.type !== 'hidden')
          .filter(el => !(el.labels?.length || el.getAttribute('aria-label')
                          || (el.tagName === 'BUTTON' && el.textContent.trim())))
          .map(el => el.name || el.id || el.outerHTML.slice(0, 60))"""
    )
    assert unlabeled == []
    # the keyboard reaches the inputs, and focus is visible
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to results"
    page.locator("[name=batch_size]").focus()
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.name")
    assert focused == "context_length"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    # a change typed with the keyboard recomputes
    page.keyboard.press("End")
    edit(page, lambda: page.keyboard.type("0"))  # 8192 -> 81920
    assert response_json(page)["request"]["context_length"] == 81920
    # the preset list filters on every word typed
    page.locator("#preset-filter").fill("qwen3 8")
    visible = page.locator('select[name="model.preset"] option:not([hidden])')
    assert visible.all_text_contents() == ["Qwen3 8B · 8.2 B"]  # not "Qwen3 14B · 14.8 B"
    edit(page, lambda: page.locator('select[name="model.preset"]').select_option("Qwen/Qwen3-8B"))
    assert response_json(page)["request"]["model"] == {"preset": "Qwen/Qwen3-8B"}


@pytest.mark.parametrize(
    ("n_bytes", "gib", "gb"),
    [
        (0, "0.00 GiB", "0.00 GB (0 bytes)"),
        (2**30, "1.00 GiB", "1.07 GB (1,073,741,824 bytes)"),
        (134_217_728, "0.13 GiB", "0.13 GB (134,217,728 bytes)"),  # 0.125 GiB: half away from zero
        (-134_217_728, "-0.13 GiB", "-0.13 GB (-134,217,728 bytes)"),
        (-1, "0.00 GiB", "0.00 GB (-1 bytes)"),
        # 0.015 GB: the double is 0.01499..., its shortest form 0.015, which is what is rounded
        (15_000_000, "0.01 GiB", "0.02 GB (15,000,000 bytes)"),
        (1_005_000_000, "0.94 GiB", "1.01 GB (1,005,000,000 bytes)"),  # 1.005: the same
        (1234 * 2**30, "1,234.00 GiB", "1,325.00 GB (1,324,997,410,816 bytes)"),
    ],
)
def test_formatters(n_bytes: int, gib: str, gb: str) -> None:
    """The tests' own formatter, checked by hand."""
    assert format_gib(n_bytes) == gib
    assert format_gb(n_bytes) == gb


def test_the_pages_formatter_matches(page: Any, site_url: str) -> None:
    """js/units.js and the tests' formatter agree, ties included."""
    page.goto(site_url)
    values = [0, 1, 2**30, 134217728, 3 * 2**30 // 8, 5368709, 10**12, 17_000_000_000, 2**40 + 1]
    values += [15_000_000, 1_005_000_000, 1234 * 2**30]
    shown = page.evaluate(
        "async (vs) => { const u = await import('./js/units.js');"
        " return vs.map(v => [u.gib(v), u.gb(v), u.gib(-v)]); }",
        values,
    )
    assert shown == [[format_gib(v), format_gb(v), format_gib(-v)] for v in values]


def test_python_failing_to_start_is_said_plainly(browser: Any, site_url: str) -> None:
    # no service worker: one registered by an earlier test on this origin would serve
    # worker.py from its cache, past the route that makes it fail
    context = browser.new_context(service_workers="block")
    page = context.new_page()
    page.route("**/worker.py", lambda route: route.abort())
    page.goto(site_url)
    page.wait_for_selector("html[data-state=error]", state="attached", timeout=60_000)
    assert page.locator("#banner").text_content().startswith("Python could not start")
    assert page.locator("[data-testid=total]").text_content().endswith(" GiB")  # prerendered
    page.locator("[name=batch_size]").fill("2")
    assert page.locator("[data-testid=total]").text_content() == "…"  # no stale figure
    assert page.locator("#summary").text_content().startswith("Python could not start")
    context.close()


def snapshot_variants(dist: Path) -> dict[str, tuple[int, bytes, str]]:
    """Snapshot files the page must not start from."""
    data = gzip.decompress((dist / build.SNAPSHOT).read_bytes())
    header, snapshot = data[: build.SNAPSHOT_HEADER], data[build.SNAPSHOT_HEADER :]
    build_id = slice(16, 48)  # in Pyodide's own header: magic, offset, length, padding, build id
    other_pyodide = bytearray(snapshot)
    other_pyodide[build_id] = bytes(32)
    return {  # (status, body, why the page says it did not use it)
        "missing": (404, b"Not found", "no snapshot (HTTP 404)"),
        "corrupt": (200, b"\x1f\x8b\x08\x00" + bytes(100), ""),
        "another build": (
            200,
            gzip.compress(build.snapshot_header("0" * 16) + snapshot),
            "the snapshot belongs to another build",
        ),
        "another Pyodide": (
            200,
            gzip.compress(header + bytes(other_pyodide)),
            "Snapshot build id mismatch",  # Pyodide's own check
        ),
    }


@pytest.mark.parametrize("variant", ["missing", "corrupt", "another build", "another Pyodide"])
def test_python_starts_without_a_usable_snapshot(
    browser: Any, site_url: str, dist: Path, vramcalc: Any, variant: str
) -> None:
    """interpreter.mjs starts Pyodide the usual way when it cannot use the snapshot; it says so."""
    status, body, why = snapshot_variants(dist)[variant]
    context = browser.new_context(service_workers="block")  # every fetch reaches the route
    said: list[str] = []
    context.on("console", lambda m: said.append(m.text))
    served: list[str] = []

    def snapshot(route: Any) -> None:
        served.append(route.request.url)
        route.fulfill(status=status, body=body, content_type="application/octet-stream")

    context.route("**/python/snapshot.bin*", snapshot)
    page = context.new_page()
    page.goto(site_url)
    wait_live(page)
    assert served, "the snapshot was never asked for"
    assert page.locator("html").get_attribute("data-boot") == "standard"
    reasons = [s for s in said if s.startswith("Python started without its snapshot: ")]
    assert len(reasons) == 1 and why in reasons[0], said
    edit(page, lambda: page.locator("[name=context_length]").fill("32768"))
    assert response_json(page)["request"]["context_length"] == 32768
    assert_matches_python(page, vramcalc)
    context.close()


def test_a_new_version_is_announced_and_old_caches_go(
    browser: Any, dist: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    shutil.copytree(dist, site)
    server = Server(site)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(server.url)
        wait_live(page)
        page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=60_000)
        caches = "async () => (await caches.keys()).filter(k => k.startsWith('vramcalc-'))"
        (old,) = page.evaluate(caches)

        # publish a new version, as a rebuild would
        css = site / "css" / "app.css"
        css.write_text(css.read_text() + "\n/* next version */\n")
        version, _ = build.write_service_worker(ROOT / "site", site)
        assert f"vramcalc-{version}" != old

        page.reload()
        wait_live(page)
        notice = page.locator('[data-notice="update"]')
        notice.wait_for(timeout=60_000)
        assert notice.text_content().startswith("A new version of vramcalc is ready.")
        with page.expect_navigation():
            notice.get_by_role("button", name="Reload").click()
        wait_live(page)
        page.wait_for_function(
            "v => navigator.serviceWorker.controller?.scriptURL.endsWith('/sw.js')"
            " && caches.keys().then(k => k.includes(v))",
            arg=f"vramcalc-{version}",
        )
        assert page.evaluate(caches) == [f"vramcalc-{version}"]  # the old cache is gone
        assert page.locator('[data-notice="update"]').count() == 0
    finally:
        context.close()
        server.stop()
