"""Browser tests: one built site and one server per session, Debian's Chromium driven by Playwright.

Every test's browser context is watched: a console error, an uncaught page error, or a request
to any origin but the site's (the Hugging Face Hub excepted where a test routes it) fails it.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import CHROMIUM, CHROMIUM_ARGS, ROOT, Server, Watch, build


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
    package = build.import_package(ROOT)
    importlib.import_module("vramcalc.hub")
    return package


@pytest.fixture
def defaults() -> dict[str, Any]:
    return json.loads((ROOT / "site" / "defaults.json").read_text())
