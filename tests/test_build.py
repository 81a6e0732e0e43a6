"""build.py: each step on small inputs in tmp_path, then one whole build."""

from __future__ import annotations

import base64
import gzip
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


def page(tmp_path: Path, text: str) -> Path:
    (tmp_path / "index.html").write_text(text)
    return tmp_path


def test_preload_modules_first_paint_first_then_in_script_order(tmp_path: Path) -> None:
    out = page(
        tmp_path,
        f'<head>{build.PRELOAD_MARKER}<script src="./js/boot.js"></script>'
        '<script type="module" src="./js/first.js"></script>'
        f'<script type="module" src="./{PYSCRIPT.dest}/core.js"></script>'
        '<script type="module" src="./js/main.js"></script></head>',
    )
    files = {
        "js/first.js": 'import { a } from "./a.js";\nimport * as b from "./render/b.js";\n',
        "js/a.js": "export const a = 1;\n",
        "js/render/b.js": 'import { a } from "../a.js";\nconst b = () => import("./z.js");\n',
        "js/main.js": 'import {\n  a,\n} from "./a.js";\nimport { c } from "./c.js";\n'
        '/** @type {import("./typedef.js").T} */\n',
        "js/c.js": "",
        "js/render/z.js": "",  # imported on demand: preloaded with the rest
        "js/boot.js": "",  # a classic script: not a module
        f"{PYSCRIPT.dest}/core.js": "",  # the page's own <script>
        f"{PYSCRIPT.dest}/core-abc.js": "",
        f"{PYSCRIPT.dest}/core.css": "",
    }
    for name, text in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    urls = build.preload_modules(out)
    first = ["./js/first.js", "./js/a.js", "./js/render/b.js"]
    # then in the order the scripts run: PyScript's chunks for its core, main.js and its imports
    rest = [f"./{PYSCRIPT.dest}/core-abc.js", "./js/main.js", "./js/c.js", "./js/render/z.js"]
    assert urls == first + rest
    html = (out / "index.html").read_text()
    links = [f'<link rel="modulepreload" href="{u}">' for u in first]
    links += [f'<link rel="modulepreload" href="{u}" fetchpriority="low">' for u in rest]
    assert html.startswith("<head>" + "\n".join(links) + "<script")

    (out / "js" / "c.js").unlink()
    page(tmp_path, html.replace("\n".join(links), build.PRELOAD_MARKER))
    missing = re.escape("js/c.js is imported but not in the site")
    with pytest.raises(build.BuildError, match=missing):
        build.preload_modules(out)
    page(tmp_path, "<head></head>")
    with pytest.raises(build.BuildError, match=re.escape("index.html lacks the marker")):
        build.preload_modules(out)


def test_write_page_data_puts_json_no_text_can_break_out_of(tmp_path: Path) -> None:
    out = page(tmp_path, f"<body>{build.PAGE_DATA}</body>")
    data = {"label": "</script><script>alert(1)</script> <!-- x", "n": [1, 2]}
    build.write_page_data(out, data)
    text = (out / "index.html").read_text()
    inner = re.fullmatch(r'<body><script [^>]*id="page-data">(.*)</script></body>', text, re.S)
    assert inner and "<" not in inner.group(1)
    assert json.loads(inner.group(1)) == data
    page(tmp_path, "<body></body>")
    with pytest.raises(build.BuildError, match=re.escape("index.html must have one empty")):
        build.write_page_data(out, data)


def test_page_data_fails_on_a_default_request_the_engine_rejects(tmp_path: Path) -> None:
    site = tmp_path / "site"
    shutil.copytree(ROOT / "site", site)
    defaults = json.loads((site / "defaults.json").read_text())
    defaults["requests"]["training"]["micro_batch_size"] = 0
    (site / "defaults.json").write_text(json.dumps(defaults))
    failing = r"the default training request fails: .*micro_batch_size"
    with pytest.raises(build.BuildError, match=failing):
        build.page_data(site, ROOT)


# --- the whole build -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build.build(tmp_path_factory.mktemp("build") / "dist")


class Controls(HTMLParser):
    """The request fields the page's form can set: controls named after them, and the boxes
    the page fills with one checkbox per choice."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("input", "select", "textarea") and a.get("name") and "data-ui" not in a:
            self.names.add(str(a["name"]))
        if a.get("data-options-checkboxes"):
            self.names.add(str(a["data-options-checkboxes"]))


def flatten(value: dict[str, Any], prefix: str = "") -> set[str]:
    """{"a": {"b": 1}, "c": 2} -> {"a.b", "c"}; a model's config is one field."""
    names: set[str] = set()
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and name != "model.config":
            names |= flatten(item, name + ".")
        else:
            names.add(name)
    return names


def page_data_of(html: str) -> Any:
    found = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html, re.S)
    assert found, "no page data"
    return json.loads(found.group(1))


def test_build_output(dist: Path) -> None:
    vramcalc = build.import_package(ROOT)
    defaults = json.loads((ROOT / "site" / "defaults.json").read_text())
    html = (dist / "index.html").read_text()
    assert 'src="./vendor/pyscript-0.7.31/core.js"' in html
    data = page_data_of(html)
    assert data["defaults"] == defaults
    assert data["catalog"] == json.loads(json.dumps(vramcalc.catalog()))
    for view, request in defaults["requests"].items():  # each view's answer, as Python gives it
        assert data["prerendered"][view]["response"] == vramcalc.estimate(request), view
    config = json.loads((dist / "pyscript.json").read_text())
    assert config["interpreter"] == "./interpreter.mjs"
    interpreter = (dist / "interpreter.mjs").read_text()
    assert '"./vendor/pyodide-314.0.7/pyodide.mjs"' in interpreter
    assert "./vendor/pyodide-314.0.7/" in interpreter and "vendor/pyodide/" not in interpreter
    # the files build.py writes are those interpreter.mjs asks for and sw.js keeps inflated
    assert f"./{build.STDLIB}?" in interpreter and f"./{build.SNAPSHOT}?" in interpreter
    assert f'"./{build.SNAPSHOT}"' in (dist / "sw.js").read_text()
    assert (dist / "vendor/pyodide-314.0.7/pyodide.asm.wasm").stat().st_size > 1_000_000
    assert not list(dist.rglob("*.map"))
    assert not (dist / "defaults.json").exists() and (dist / "sw.js").exists()
    assert '<link rel="modulepreload" href="./js/render/result.js">' in html  # the first paint's
    assert '<link rel="modulepreload" href="./js/main.js" fetchpriority="low">' in html

    parser = Controls()
    parser.feed(html)
    # every input the engine takes has a control named after it (mode and fit_gpus are the page's)
    taken = set()
    for request in defaults["requests"].values():
        for engine in vramcalc.catalog()["choices"]["engine"]:
            inference = request["mode"] == "inference"
            answer = vramcalc.estimate({**request, "engine": engine} if inference else request)
            if "error" not in answer:
                taken |= flatten(answer["request"])
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
            assert pyc_flags(archive.read(pyc)) == 1


def pyc_flags(data: bytes) -> int:
    """PEP 552 flags: bit 0 hash-based, bit 1 check_source: 1 = unchecked hash."""
    return int.from_bytes(data[4:8], "little")


def test_stdlib_is_bytecode_for_what_a_start_imports(dist: Path) -> None:
    assert not (dist / PYODIDE.dest / "python_stdlib.zip").exists()  # the page loads its own
    with zipfile.ZipFile(dist / build.STDLIB) as archive:
        names = set(archive.namelist())
        # imported by every start (Pyodide itself, PyScript, the worker, vramcalc): bytecode
        for module in ("json/__init__", "json/decoder", "asyncio/__init__", "copy", "dataclasses"):
            assert f"{module}.pyc" in names and f"{module}.py" not in names, module
            assert pyc_flags(archive.read(f"{module}.pyc")) == 1
        # never imported by a start: source
        for module in ("email/__init__", "sqlite3/__init__", "xml/dom/minidom"):
            assert f"{module}.py" in names and f"{module}.pyc" not in names, module
        with zipfile.ZipFile(dist / "vramcalc.zip") as package:  # the same Python's bytecode
            magic = package.read("vramcalc/__pycache__/__init__.cpython-314.pyc")[:4]
        assert archive.read("json/__init__.pyc")[:4] == magic


def test_pyscript_sources_are_read_from_its_chunk(tmp_path: Path) -> None:
    chunk = tmp_path / "core-abc.js"
    chunk.write_text(
        'x=1;wo(".",{pyscript:{"__init__.py":"import a\\n","a.py":"b = \\"\\u00e9\\"\\n"}});'
    )
    assert build.pyscript_sources(tmp_path) == {
        "pyscript/__init__.py": "import a\n",
        "pyscript/a.py": 'b = "\u00e9"\n',
    }
    chunk.write_text('wo(".",{pyscript:{"__init__.py":"","sub":{"b.py":""}}});')
    with pytest.raises(build.BuildError, match="PyScript's Python package not read: 'sub'"):
        build.pyscript_sources(tmp_path)
    chunk.write_text("wo();")
    with pytest.raises(build.BuildError, match="not one literal of PyScript's Python package"):
        build.pyscript_sources(tmp_path)


# Whether each .pyc of PyScript's package (unpacked into the home folder, as the page does)
# would be used for the source PyScript writes: a checked hash-based .pyc (flags 3) holding
# that source's hash, as the page's Python computes it.
_CHECK_PYSCRIPT_PY = """
import importlib.util, json
out = {}
for name, source in json.loads(%(sources)r).items():
    with open(importlib.util.cache_from_source(name), "rb") as f:
        pyc = f.read()
    flags = int.from_bytes(pyc[4:8], "little")
    out[name] = flags == 3 and pyc[8:16] == importlib.util.source_hash(source.encode())
json.dumps(out)
"""


def test_pyscript_package_is_bytecode_for_the_sources_pyscript_writes(dist: Path) -> None:
    sources = build.pyscript_sources(dist / PYSCRIPT.dest)
    assert len(sources) > 10 and "from polyscript import" in sources["pyscript/__init__.py"]
    usable = build.run_in_pyodide(
        dist / PYODIDE.dest,
        _CHECK_PYSCRIPT_PY % {"sources": json.dumps(sources)},
        what="checking PyScript's bytecode",
        stdlib=dist / build.STDLIB,
        archive=dist / build.PYSCRIPT_PACKAGE,
    )
    assert json.loads(usable) == dict.fromkeys(sources, True)


def test_write_stdlib(tmp_path: Path) -> None:
    original = tmp_path / "python_stdlib.zip"
    with zipfile.ZipFile(original, "w") as archive:
        for name in ("a.py", "pkg/", "pkg/__init__.py", "pkg/b.py"):
            archive.writestr(name, "" if name.endswith("/") else f"# {name}\n")
    names = build.write_stdlib(original, {"pkg/__init__.py": b"pyc"}, tmp_path / "out/a.zip")
    assert names == ["a.py", "pkg/", "pkg/__init__.pyc", "pkg/b.py"]
    with zipfile.ZipFile(tmp_path / "out/a.zip") as archive:
        assert archive.read("pkg/__init__.pyc") == b"pyc"
        assert archive.read("a.py") == b"# a.py\n"
    build.write_stdlib(original, {"pkg/__init__.py": b"pyc"}, tmp_path / "out/b.zip")
    assert (tmp_path / "out/a.zip").read_bytes() == (tmp_path / "out/b.zip").read_bytes()
    with pytest.raises(build.BuildError, match=re.escape("python_stdlib.zip lacks c.pyc")):
        build.write_stdlib(original, {"c.py": b"pyc"}, tmp_path / "out/c.zip")
    with pytest.raises(build.BuildError, match="no standard library module to compile"):
        build.write_stdlib(original, {}, tmp_path / "out/c.zip")


# Starts Pyodide from the build's snapshot under Node.js, with the private option the page uses
# (_loadSnapshot), and the package unpacked as PyScript does; says which modules were there
# before any code ran and what the default request gives.
_FROM_SNAPSHOT_JS = """
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { loadPyodide } from %(loader)s;
const data = gunzipSync(readFileSync(%(snapshot)s));
const py = await loadPyodide({ stdLibURL: %(stdlib)s, _loadSnapshot: data.subarray(%(header)d) });
const loaded = py.runPython("import sys; sorted(sys.modules)").toJs();
py.unpackArchive(new Uint8Array(readFileSync(%(package)s)), "zip", { extractDir: "/home/pyodide" });
const total = py.runPython(%(code)s).toJs({ dict_converter: Object.fromEntries }).total_bytes;
process.stdout.write(JSON.stringify({ loaded, total }));
"""


def test_pyodide_starts_from_the_snapshot(dist: Path) -> None:
    """The private options _makeSnapshot (the build) and _loadSnapshot (interpreter.mjs) still
    do what the page relies on: Python starts with vramcalc and a start's imports loaded."""
    defaults = json.loads((ROOT / "site" / "defaults.json").read_text())
    request = defaults["requests"]["inference"]
    code = f"import json, vramcalc; vramcalc.estimate(json.loads({json.dumps(request)!r}))"
    js = _FROM_SNAPSHOT_JS % {
        "loader": json.dumps((dist / PYODIDE.dest / "pyodide.mjs").as_uri()),
        "snapshot": json.dumps(str(dist / build.SNAPSHOT)),
        "stdlib": json.dumps(str(dist / build.STDLIB)),
        "package": json.dumps(str(dist / "vramcalc.zip")),
        "header": build.SNAPSHOT_HEADER,
        "code": json.dumps(code),
    }
    result = subprocess.run(["node", "--input-type=module", "-e", js], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    started = json.loads(result.stdout)
    for module in ("vramcalc", "vramcalc.hub", "vramcalc.engines.vllm", "asyncio", "inspect"):
        assert module in started["loaded"], module
    assert started["total"] == build.import_package(ROOT).estimate(request)["total_bytes"]


def test_snapshot_is_the_same_on_every_build(dist: Path, tmp_path: Path) -> None:
    copy = tmp_path / "dist"
    for name in (build.STDLIB, "vramcalc.zip"):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dist / name, copy / name)
    (copy / "python").mkdir(exist_ok=True)
    warm_up = build.warm_up_code(ROOT / "site", ROOT)
    key = build.make_snapshot(dist / PYODIDE.dest, copy, warm_up)
    assert (copy / build.SNAPSHOT).read_bytes() == (dist / build.SNAPSHOT).read_bytes()
    assert f'const KEY = "{key}";' in (dist / "interpreter.mjs").read_text()
    data = gzip.decompress((dist / build.SNAPSHOT).read_bytes())
    assert data[: build.SNAPSHOT_HEADER] == build.snapshot_header(key)
    assert data[build.SNAPSHOT_HEADER : build.SNAPSHOT_HEADER + 4] == b"\x00snp"  # Pyodide's magic
    # the key follows what the snapshot is made of
    (copy / "vramcalc.zip").write_bytes(b"another package")
    assert build.snapshot_key(dist / PYODIDE.dest, copy, warm_up) != key


def test_write_snapshot_key_needs_its_marker(tmp_path: Path) -> None:
    (tmp_path / "interpreter.mjs").write_text('const KEY = "__SNAPSHOT_KEY__";')
    build.write_snapshot_key(tmp_path, "0123456789abcdef")
    assert (tmp_path / "interpreter.mjs").read_text() == 'const KEY = "0123456789abcdef";'
    with pytest.raises(build.BuildError, match=re.escape("interpreter.mjs lacks the marker")):
        build.write_snapshot_key(tmp_path, "0123456789abcdef")


def test_compile_bytecode_fails_loudly_on_bad_source(dist: Path) -> None:
    failed = r"(?s)compiling Python sources in Pyodide failed:.*SyntaxError"
    with pytest.raises(build.BuildError, match=failed):
        build.compile_bytecode(
            {"pkg/bad.py": "def (:\n"}, dist / PYODIDE.dest, stdlib=dist / build.STDLIB
        )


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
    site = ROOT / "site"
    paths = [*site.rglob("*.js"), *site.rglob("*.mjs")]  # the page's, the worker's, sw.js
    assert len(paths) > 10 and site / "interpreter.mjs" in paths
    for path in paths:
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
    # the Hub's resolve/ URL answers from huggingface.co or redirects to a *.hf.co host
    assert directives["connect-src"] == "'self' https://huggingface.co https://*.hf.co"
    assert "'unsafe-inline'" not in csp
    assert directives["style-src"] == "'self'"
