"""Browser tests: one built site and one server per session, Debian's Chromium driven by Playwright.

Every test's browser context is watched: a console error, an uncaught page error, or a request
to any origin but the site's (the Hugging Face Hub excepted where a test routes it) fails it.
"""

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if Path(CHROMIUM).exists():
        return
    reason = (
        f"Chromium not found at {CHROMIUM}: install Debian's chromium package "
        "or set VRAMCALC_CHROMIUM to a Chromium binary"
    )
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS],
    }


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


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once for the whole session."""
    return build.build(tmp_path_factory.mktemp("site") / "dist")


@pytest.fixture(scope="session")
def server(dist: Path) -> Iterator[Server]:
    srv = Server(dist)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def site_url(server: Server) -> str:
    return server.url


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


@pytest.fixture
def watch(context: Any, site_url: str) -> Iterator[Watch]:
    """Fails the test on console errors, page errors and requests to other origins."""
    origin = site_url.rstrip("/")
    w = Watch(origins={origin})
    context.on("console", w.console)
    context.on("weberror", lambda e: w.errors.append(f"page error: {e.error}"))
    context.on("request", lambda r: w.request(r.url))
    yield w
    assert w.errors == [], "\n".join(w.errors)
    assert w.foreign == [], f"requests to other origins: {w.foreign}"


@pytest.fixture
def vramcalc() -> Any:
    """The package itself, in CPython: what the page must agree with."""
    return build.import_package(ROOT)


@pytest.fixture
def defaults() -> dict[str, Any]:
    return json.loads((ROOT / "site" / "defaults.json").read_text())


# --- helpers the tests share --------------------------------------------------------------


def wait_live(page: Any) -> None:
    page.wait_for_selector("html[data-state=live]", state="attached", timeout=LIVE_TIMEOUT_MS)


def response_json(page: Any) -> dict[str, Any]:
    """The response the page rendered, as its "Response JSON" panel shows it."""
    if not page.locator("#raw").evaluate("d => d.open"):
        page.locator("#raw summary").click()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=response-json]').textContent"
    )
    return json.loads(page.locator("[data-testid=response-json]").text_content())


def settle(page: Any) -> None:
    """Wait until no computation is queued or running and results are on screen."""
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
