"""build.py: each step on small inputs in tmp_path, then one whole build."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import urllib.request
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import build  # noqa: E402

PYSCRIPT = next(r for r in build.RUNTIME if r.alias == "pyscript")
PYODIDE = next(r for r in build.RUNTIME if r.alias == "pyodide")


def sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def tarball(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


# --- the runtime -----------------------------------------------------------------------------


def test_check_integrity(tmp_path: Path) -> None:
    path = tmp_path / "x.tgz"
    path.write_bytes(b"pinned bytes")
    build.check_integrity(path, sri(b"pinned bytes"))
    with pytest.raises(build.BuildError, match=r"x\.tgz: sha512 is sha512-.*, pinned sha512-"):
        build.check_integrity(path, sri(b"other bytes"))


def test_tarball_names() -> None:
    assert PYSCRIPT.tarball == "pyscript-core-0.7.31.tgz"
    assert PYODIDE.tarball == "pyodide-314.0.7.tgz"
    assert PYODIDE.dest == "vendor/pyodide-314.0.7"


def test_extract_takes_only_what_the_page_needs(tmp_path: Path) -> None:
    files = {
        "dist/core.js": b"core",
        "dist/core-abc.js": b"chunk",
        "dist/core-abc.js.map": b"map",
        "dist/error-1.js": b"e",
        "dist/deprecations-manager-1.js": b"d",
        "dist/donkey-1.js": b"d",
        "dist/py-editor-1.js": b"p",
        "dist/py-game-1.js": b"p",
        "dist/py-terminal-1.js": b"p",
        "dist/codemirror-1.js": b"big",
        "dist/xterm.css": b"big",
        "src/core.js": b"source",
        "package.json": b"{}",
    }
    written = build.extract_runtime(PYSCRIPT, tarball(tmp_path / "p.tgz", files), tmp_path / "out")
    names = sorted(p.name for p in written)
    assert names == [
        "core-abc.js",
        "core.js",
        "deprecations-manager-1.js",
        "donkey-1.js",
        "error-1.js",
        "py-editor-1.js",
        "py-game-1.js",
        "py-terminal-1.js",
    ]
    assert (tmp_path / "out" / PYSCRIPT.dest / "core.js").read_bytes() == b"core"


def test_extract_fails_on_a_missing_file(tmp_path: Path) -> None:
    files = {name: b"x" for name in PYODIDE.files if name != "pyodide-lock.json"}
    with pytest.raises(
        build.BuildError, match=re.escape("pyodide-314.0.7.tgz lacks pyodide-lock.json")
    ):
        build.extract_runtime(PYODIDE, tarball(tmp_path / "p.tgz", files), tmp_path / "out")


def test_extract_fails_on_a_missing_chunk(tmp_path: Path) -> None:
    files = {"dist/core.js": b"c", "dist/core-1.js": b"c"}
    with pytest.raises(build.BuildError, match=r"has no dist/error-\*"):
        build.extract_runtime(PYSCRIPT, tarball(tmp_path / "p.tgz", files), tmp_path / "out")


def test_npm_pack_uses_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / PYODIDE.tarball).write_bytes(b"cached")

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("npm was called although the tarball is cached")

    monkeypatch.setattr(subprocess, "run", no_network)
    assert build.npm_pack(PYODIDE, tmp_path) == tmp_path / PYODIDE.tarball


def test_npm_pack_fails_without_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(build.BuildError, match="npm not found"):
        build.npm_pack(PYODIDE, tmp_path)


# --- the page sources ------------------------------------------------------------------------


def test_point_at_runtime() -> None:
    text = '<script src="./vendor/pyscript/core.js"></script>'
    assert (
        build.point_at_runtime(text, "x")
        == '<script src="./vendor/pyscript-0.7.31/core.js"></script>'
    )
    with pytest.raises(build.BuildError, match=re.escape("index.html names no runtime folder")):
        build.point_at_runtime("<p>", "index.html")


def test_zip_package_is_reproducible_and_minimal(tmp_path: Path) -> None:
    package = tmp_path / "vramcalc"
    (package / "data").mkdir(parents=True)
    (package / "__pycache__").mkdir()
    (package / "__init__.py").write_text("x = 1\n")
    (package / "kv.py").write_text("y = 2\n")
    (package / "data" / "gpus.json").write_text("[]")
    (package / "data" / "notes.md").write_text("no")
    (package / "py.typed").write_text("")
    (package / "__pycache__" / "kv.cpython-311.pyc").write_bytes(b"\0")
    names = build.zip_package(package, tmp_path / "a.zip")
    assert names == ["vramcalc/__init__.py", "vramcalc/data/gpus.json", "vramcalc/kv.py"]
    build.zip_package(package, tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_zip_package_fails_without_the_package(tmp_path: Path) -> None:
    (tmp_path / "vramcalc").mkdir()
    with pytest.raises(build.BuildError, match=re.escape("has no __init__.py")):
        build.zip_package(tmp_path / "vramcalc", tmp_path / "a.zip")


CATALOG = {
    "presets": [
        {"id": "a-1b", "name": "A 1B", "family": "A", "parameters": 1_200_000_000},
        {"id": "b-7b", "name": "B <7B>", "family": "B"},
    ],
    "gpus": [{"id": "g24", "name": "G 24", "memory_bytes": 24 * 2**30}],
    "weight_formats": [{"id": "bf16", "label": "BF16", "kind": "dense"}],
    "kv_cache_dtypes": [{"id": "fp8", "label": "FP8", "engines": ["vllm", "x"]}],
    "frameworks": [{"id": "hf", "name": "HF Trainer"}],
    "choices": {
        "engine": ["transformers", "vllm"],
        "llama_cpp.cache_type": ["f16", "q8_0"],
        "training": {"lora_target_modules": ["q", "v"], "attention": ["sdpa", "flash"]},
    },
}


def fill(template: str, values: dict[str, dict[str, Any]], **explicit: dict[str, Any]) -> str:
    filler = build.PageFiller(
        values=values,
        catalog=CATALOG,
        figures={"total": "1.00 GiB", "title": "1.07 GB"},
        page_data={"x": "</script><b>"},
        available={"engine": {"transformers"}},
        explicit=explicit,
    )
    filler.feed(template)
    filler.close()
    return "".join(filler.out)


def test_page_filler_fills_values_options_and_figures() -> None:
    template = """<!doctype html><html><body><form>
<select name="model.preset" data-options></select>
<select name="gpu" data-options><option value="">None</option></select>
<select name="kv_cache_dtype" data-options></select>
<fieldset data-group="inference"><input type="number" name="batch_size" value="9">
<select name="engine" data-options></select>
<select name="llama_cpp.cache_type_k" data-options></select>
<div data-field="vllm.block_size"><input type="number" name="vllm.block_size"><p>gone</p></div>
<fieldset data-when="engine=vllm"><div><input name="x"></div><p>gone too</p></fieldset>
<fieldset data-when="engine=transformers"><p>kept</p></fieldset>
<input type="checkbox" name="vllm.enforce_eager" checked>
<input type="number" name="overheads.cuda_context_bytes" data-auto data-scale="1048576"></fieldset>
<fieldset data-group="training"><input type="number" name="batch_size">
<select name="attention" data-options data-auto><option value="">Default</option></select>
<select name="framework" data-options></select>
<div data-options-checkboxes="lora.target_modules"></div>
<input type="number" name="cuda" data-scale="1048576"></fieldset>
<input type="search" data-ui name="filter">
</form><output data-prerender="total" data-prerender-title="title">…</output>
<script type="application/json" id="page-data">{}</script></body></html>"""
    out = fill(
        template,
        {
            "common": {"model.preset": "b-7b", "gpu": None, "kv_cache_dtype": "fp8"},
            "inference": {
                "batch_size": 4,
                "engine": "vllm",
                "vllm.enforce_eager": False,
                "llama_cpp.cache_type_k": "q8_0",
                "overheads.cuda_context_bytes": 512 * 2**20,
            },
            "training": {
                "batch_size": 2,
                "lora.target_modules": ["v"],
                "cuda": 512 * 2**20,
                "attention": "sdpa",
                "framework": "hf",
            },
        },
        training={"attention": "flash"},
    )
    assert '<optgroup label="A"><option value="a-1b">A 1B · 1.2 B</option></optgroup>' in out
    assert '<option value="b-7b" selected>B &lt;7B&gt;</option>' in out
    assert '<option value="fp8" data-engines="vllm x" selected>FP8</option>' in out
    assert '<option value="" selected>None</option><option value="g24">G 24</option>' in out
    assert '<input type="number" name="batch_size" value="4">' in out
    assert '<input type="number" name="batch_size" value="2">' in out
    assert '<option value="vllm" selected>vllm</option>' in out
    assert '<option value="f16">f16</option><option value="q8_0" selected>q8_0</option>' in out
    assert "gone" not in out and 'name="x"' not in out and "vllm.block_size" not in out
    assert '<fieldset data-when="engine=transformers"><p>kept</p></fieldset>' in out
    assert '<input type="checkbox" name="vllm.enforce_eager">' in out
    # left to the engine, unless the page's own default request sets it
    assert 'name="overheads.cuda_context_bytes" data-auto data-scale="1048576">' in out
    assert '<option value="sdpa">sdpa</option><option value="flash" selected>flash</option>' in out
    assert '<option value="hf" selected>HF Trainer</option>' in out
    assert 'value="v" data-type="list" checked> v</label>' in out
    assert 'value="q" data-type="list"> q</label>' in out
    assert 'name="cuda" data-scale="1048576" value="512"' in out
    assert '<output title="1.07 GB">1.00 GiB</output>' in out.replace(' data-prerender="total"', "")
    assert '{"x":"<\\/script><b>"}</script>' in out


def test_page_filler_fails_on_a_control_without_a_default() -> None:
    with pytest.raises(build.BuildError, match="no default for the control 'batch_size'"):
        fill('<input type="number" name="batch_size">', {"common": {}})
    with pytest.raises(
        build.BuildError, match=re.escape("catalog() has no list for the select 'method' (common)")
    ):
        fill('<select name="method" data-options></select>', {"common": {"method": "full"}})


def test_flatten() -> None:
    request = {
        "mode": "training",
        "model": {"config": {"a": 1}},
        "lora": {"rank": 8, "target_modules": ["q"]},
    }
    assert build.flatten(request) == {
        "mode": "training",
        "model.config": {"a": 1},
        "lora.rank": 8,
        "lora.target_modules": ["q"],
    }


@pytest.mark.parametrize(
    ("n_bytes", "gib", "gb"),
    [
        (0, "0.00 GiB", "0.00 GB (0 bytes)"),
        (2**30, "1.00 GiB", "1.07 GB (1,073,741,824 bytes)"),
        (134_217_728, "0.13 GiB", "0.13 GB (134,217,728 bytes)"),  # 0.125 GiB: half away from zero
        (-134_217_728, "-0.13 GiB", "-0.13 GB (-134,217,728 bytes)"),
        (-1, "0.00 GiB", "0.00 GB (-1 bytes)"),
        (15_000_000, "0.01 GiB", "0.01 GB (15,000,000 bytes)"),  # 0.015 is 0.01499... as a double
        (1234 * 2**30, "1,234.00 GiB", "1,325.00 GB (1,324,997,410,816 bytes)"),
    ],
)
def test_formatters(n_bytes: int, gib: str, gb: str) -> None:
    assert build.format_gib(n_bytes) == gib
    assert build.format_gb(n_bytes) == gb


# --- the whole build -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build.build(tmp_path_factory.mktemp("build") / "dist")


class Controls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.empty_selects: list[str] = []
        self._select: str | None = None
        self._options = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("input", "select", "textarea") and a.get("name") and "data-ui" not in a:
            self.names.add(str(a["name"]))
        if tag == "select":
            self._select, self._options = a.get("name"), 0
        if tag == "option":
            self._options += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._options == 0:
            self.empty_selects.append(str(self._select))


def test_build_output(dist: Path) -> None:
    vramcalc = build.import_package(ROOT)
    defaults = json.loads((ROOT / "site" / "defaults.json").read_text())
    html = (dist / "index.html").read_text()
    expected = vramcalc.estimate(defaults["requests"][defaults["view"]])
    assert f">{build.format_gib(expected['total_bytes'])}</output>" in html
    assert 'src="./vendor/pyscript-0.7.31/core.js"' in html
    data = json.loads(
        re.search(
            r'<script type="application/json" id="page-data">(.*?)</script>', html, re.S
        ).group(1)
    )
    assert data["prerendered"]["inference"]["response"] == expected
    config = json.loads((dist / "pyscript.json").read_text())
    assert config["interpreter"] == "./vendor/pyodide-314.0.7/pyodide.mjs"
    assert (dist / "vendor/pyodide-314.0.7/pyodide.asm.wasm").stat().st_size > 1_000_000
    assert not list(dist.rglob("*.map"))
    assert not (dist / "defaults.json").exists() and (dist / "sw.js").exists()

    parser = Controls()
    parser.feed(html)
    assert parser.empty_selects == []  # every list filled from catalog()
    # every input the engine takes has a control named after it (mode and fit_gpus are the page's)
    taken = set()
    for request in defaults["requests"].values():
        for engine in vramcalc.catalog()["choices"]["engine"]:
            inference = request["mode"] == "inference"
            answer = vramcalc.estimate({**request, "engine": engine} if inference else request)
            if "error" not in answer:
                taken |= set(build.flatten(answer["request"]))
    assert taken - parser.names - {"mode", "fit_gpus"} == set()


def test_package_zip_carries_bytecode_for_the_pages_python(dist: Path) -> None:
    with zipfile.ZipFile(dist / "vramcalc.zip") as archive:
        names = set(archive.namelist())
        sources = {n for n in names if n.endswith(".py")}
        assert "vramcalc/__init__.py" in sources
        for source in sources:
            folder, module = source.rsplit("/", 1)
            pyc = f"{folder}/__pycache__/{module[:-3]}.cpython-314.pyc"
            assert pyc in names, pyc
            header = archive.read(pyc)[:8]
            # PEP 552 flags: bit 0 hash-based, bit 1 check_source: 1 = unchecked hash
            assert int.from_bytes(header[4:8], "little") == 1


def test_compile_bytecode_fails_loudly_on_bad_source(dist: Path) -> None:
    with pytest.raises(build.BuildError, match="compiling the package in Pyodide failed"):
        build.compile_bytecode({"pkg/bad.py": "def (:\n"}, dist / "vendor" / "pyodide-314.0.7")


def test_service_worker_lists_every_file_and_hashes_them(dist: Path, tmp_path: Path) -> None:
    text = (dist / "sw.js").read_text()
    listed = json.loads(re.search(r"const PRECACHE = (\[.*?\]);", text, re.S).group(1))
    version = re.search(r'const VERSION = "([0-9a-f]{16})";', text).group(1)
    assert "./index.html" in listed and "./vramcalc.zip" in listed and "./sw.js" not in listed
    assert version == build.content_hash(dist, listed)
    copy = tmp_path / "copy"
    shutil.copytree(dist, copy)
    (copy / "css" / "app.css").write_text("changed")
    assert build.content_hash(copy, listed) != version  # any change makes a new cache


def test_service_worker_template_must_have_its_markers(tmp_path: Path) -> None:
    (tmp_path / "sw.js").write_text('const VERSION = "__VERSION__";')
    (tmp_path / "out").mkdir()
    with pytest.raises(
        build.BuildError, match=re.escape('site/sw.js lacks the marker "__PRECACHE__"')
    ):
        build.write_service_worker(tmp_path, tmp_path / "out")


def test_build_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(build.BuildError, match=re.escape("index.html not found")):
        build.build(tmp_path / "out", site=tmp_path / "nothing")
    with pytest.raises(build.BuildError, match=re.escape("refusing to build into")):
        build.build(ROOT)
    assert build.main(["--out", str(ROOT)]) == 1  # the command line says so and exits 1


def test_serves_wasm_as_wasm(dist: Path) -> None:
    handler = lambda *a: build.Handler(*a, directory=str(dist))  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}/vendor/pyodide-314.0.7/"
        for name, mime in [
            ("pyodide.asm.wasm", "application/wasm"),
            ("pyodide.mjs", "text/javascript"),
        ]:
            with urllib.request.urlopen(base + name) as response:
                assert response.headers["Content-Type"] == mime
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_page_sources_never_use_innerhtml() -> None:
    for path in (ROOT / "site" / "js").glob("*.js"):
        text = path.read_text()
        for banned in (
            ".innerHTML",
            ".outerHTML",
            "insertAdjacentHTML(",
            "document.write(",
            "eval(",
            "Function(",
        ):
            assert banned not in text, f"{path.name} uses {banned}"


def test_content_security_policy() -> None:
    html = (ROOT / "site" / "index.html").read_text()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html).group(1)
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["connect-src"] == "'self' " + " ".join(build.HUB_ORIGINS)
    assert "'unsafe-inline'" not in csp
    assert directives["style-src"] == "'self'"
