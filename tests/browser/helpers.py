"""What the browser tests share: the site's server, and waiting for and reading the page."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import shutil
import sys
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import build  # noqa: E402

CHROMIUM = os.environ.get("VRAMCALC_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
LIVE_TIMEOUT_MS = 60_000


class Server:
    """A built site on 127.0.0.1 in a thread, with the build's MIME types."""

    def __init__(self, root: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(build.Handler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def copyfile(self, source: Any, outputfile: Any) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a browser went away
            super().copyfile(source, outputfile)


@dataclass
class Watch:
    """What a context did that a test should not see."""

    origins: set[str]
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    allowed: set[str] = field(default_factory=set)  # origins a test routes on purpose

    def request(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if parts.scheme in ("blob", "data") or origin in self.origins | self.allowed:
            return
        self.foreign.append(url)

    def console(self, message: Any) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        if any(url.startswith(origin + "/") for origin in self.allowed):
            return  # the browser's own note on a routed Hub answer the test chose to fail
        self.errors.append(f"console: {message.text} ({url})")


def _fixed2(value: float) -> str:
    """Two decimals, as Chromium's Intl.NumberFormat rounds the same double: half away from
    zero, on the double's shortest decimal form (0.015, not 0.01499...); no "-0.00"."""
    rounded = Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{abs(rounded) if rounded == 0 else rounded:,.2f}"


def format_gib(n_bytes: int) -> str:
    """The page's headline figure, computed independently of js/units.js (the tests' oracle)."""
    return f"{_fixed2(n_bytes / 2**30)} GiB"


def format_gb(n_bytes: int) -> str:
    """The decimal figure the page shows on hover."""
    return f"{_fixed2(n_bytes / 10**9)} GB ({n_bytes:,} bytes)"


def page_data(html: str) -> Any:
    """The JSON the build put into the page: defaults, catalog, each view's default answer."""
    start = html.index('<script type="application/json" id="page-data">')
    start = html.index(">", start) + 1
    return json.loads(html[start : html.index("</script>", start)])


def wait_live(page: Any) -> None:
    page.wait_for_selector("html[data-state=live]", state="attached", timeout=LIVE_TIMEOUT_MS)


def raw_json(page: Any, which: str) -> dict[str, Any]:
    """The request the page sent or the response it rendered, from its "Request and response
    JSON" panel."""
    if not page.locator("#raw").evaluate("d => d.open"):
        page.locator("#raw summary").click()
    selector = f"[data-testid={which}-json]"
    page.wait_for_function("s => document.querySelector(s).textContent", arg=selector)
    return json.loads(page.locator(selector).text_content())


def response_json(page: Any) -> dict[str, Any]:
    return raw_json(page, "response")


def request_json(page: Any) -> dict[str, Any]:
    return raw_json(page, "request")


def settle(page: Any) -> None:
    """Wait until no computation is queued or running and results are on screen."""
    page.wait_for_function("() => !('busy' in document.documentElement.dataset)")
    page.wait_for_function(
        "() => new Promise(r => requestAnimationFrame(() => setTimeout(() => r(true), 50)))"
    )


def update_count(page: Any) -> int:
    return page.evaluate("performance.getEntriesByName('vramcalc:rendered').length")


def edit(page: Any, action: Callable[[], None]) -> None:
    """Do `action` (an input change) on a live page and wait for the results it causes."""
    before = update_count(page)
    action()
    page.wait_for_function(
        "n => performance.getEntriesByName('vramcalc:rendered').length > n", arg=before
    )
    settle(page)


def shown_total(page: Any) -> str:
    return page.locator("[data-testid=total]").text_content()


def assert_matches_python(page: Any, vramcalc: Any) -> dict[str, Any]:
    """The page's response equals CPython's for the request it sent, and its total is shown."""
    response = response_json(page)
    assert "error" not in response
    assert response == vramcalc.estimate(request_json(page))
    assert shown_total(page) == format_gib(response["total_bytes"])
    assert page.locator("[data-testid=total]").get_attribute("title") == format_gb(
        response["total_bytes"]
    )
    rows = page.locator("#gpu-rows tr")
    assert rows.count() == len(response["fit"]["gpus"])
    for i, gpu in enumerate(response["fit"]["gpus"]):
        assert rows.nth(i).get_attribute("data-gpu") == gpu["gpu"]
        assert rows.nth(i).locator("td.fit").text_content() == ("✓ fits" if gpu["fits"] else "✗ no")
    assert page.locator("#chart svg circle").count() >= 2
    assert page.locator("#math-rows tr").count() == len(response["components"])
    return response
