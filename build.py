#!/usr/bin/env python3
"""Build the vramcalc page into dist/, or build it and serve it on localhost.

    python build.py                  # build into dist/
    python build.py serve [--port N] # build, then serve dist/ on http://127.0.0.1:N/

Steps: fetch the pinned browser runtime (Pyodide, PyScript) with `npm pack` and check each
tarball's sha512; copy site/ and a zip of the vramcalc package; compute each view's default
answer here in CPython and put it, with the catalog the form needs, into the page as JSON (the
page's own JS draws it at once); write the service worker with its precache list.
Sources are never modified. The site names the runtime as `vendor/pyodide/` and
`vendor/pyscript/`; the build points those names at versioned folders
(`vendor/pyodide-<version>/`), whose contents never change, so browsers may cache them for good.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import gzip
import hashlib
import http.server
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent
SITE = ROOT / "site"
CACHE = ROOT / ".cache" / "npm"
DIST = ROOT / "dist"


@dataclass(frozen=True, kw_only=True, slots=True)
class Runtime:
    """One npm package of the browser runtime, pinned, and the files the page needs from it."""

    name: str  # npm package name
    version: str
    integrity: str  # sha512 SRI string, from: npm view <name>@<version> dist.integrity
    alias: str  # how site/ names its folder: vendor/<alias>/
    files: tuple[str, ...]  # exact paths inside the tarball's package/ folder
    prefixes: tuple[str, ...] = ()  # file-name prefixes inside `folder`, for content-hashed chunks
    folder: str = ""  # where `prefixes` apply, inside package/

    @property
    def tarball(self) -> str:
        """The file name `npm pack` writes: "@pyscript/core" 0.7.31 -> pyscript-core-0.7.31.tgz."""
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"

    @property
    def dest(self) -> str:
        """The versioned folder in dist/."""
        return f"vendor/{self.alias}-{self.version}"


# The one place the browser runtime is pinned.
RUNTIME = (
    Runtime(
        name="pyodide",
        version="314.0.7",
        integrity="sha512-0YvXxEhfEdpLfb/XkM2BFAeMROq0iMUX2bzzH9pOttyMcWkwq+HbE5uyuGD82LN7y2q+SNvi/6V5JEsOlD2R1A==",
        alias="pyodide",
        # pyodide-lock.json is fetched at start-up even when no package is loaded
        files=(
            "pyodide.mjs",
            "pyodide.asm.mjs",
            "pyodide.asm.wasm",
            "python_stdlib.zip",
            "pyodide-lock.json",
        ),
    ),
    Runtime(
        name="@pyscript/core",
        version="0.7.31",
        integrity="sha512-GqM1aonc1N4RTkNZ1zJ8jJk8+i2cqeztZslPsAiQtn+wHHkUX9Z1FgIg4HjCvhBylB68UKmbTVTzOobpgPIMVQ==",
        alias="pyscript",
        files=(),
        folder="dist",
        # core plus the plugin chunks it imports on every page (their names carry content hashes)
        prefixes=(
            "core.js",
            "core-",
            "error-",
            "deprecations-manager-",
            "donkey-",
            "py-editor-",
            "py-game-",
            "py-terminal-",
        ),
    ),
)

# Files of site/ that name the runtime folders; the build rewrites those names.
RUNTIME_REFERENCES = ("index.html", "interpreter.mjs")
# The page's standard library (interpreter.mjs names it): Pyodide's, with bytecode for the
# modules a start imports.
STDLIB = "python/stdlib.zip"
# Pyodide's memory snapshot once a start's imports are done (interpreter.mjs loads it): gzip of
# a header naming the build it belongs to, padded to SNAPSHOT_HEADER bytes (Pyodide reads the
# snapshot through a Uint32Array: its offset must stay a multiple of 4), then the snapshot.
SNAPSHOT = "python/snapshot.bin"
SNAPSHOT_HEADER = 128
# In interpreter.mjs: where the build writes the key of the snapshot's build.
SNAPSHOT_KEY = "__SNAPSHOT_KEY__"
# PyScript's own Python package as bytecode (see pyscript_sources).
PYSCRIPT_PACKAGE = "python/pyscript.zip"
# Standard-library modules PyScript 0.7.31's own Python package imports in the worker (its
# pyscript/__init__.py, context.py, display.py, events.py and util.py, in dist/core-*.js).
PYSCRIPT_STDLIB = ("asyncio", "base64", "collections", "functools", "html", "inspect", "io", "json")
# Files of site/ that are build inputs, not part of the page.
SITE_INPUTS = ("defaults.json", "sw.js")
PRELOAD_MARKER = "<!-- modulepreload -->"  # in index.html: where the build lists the modules
PAGE_DATA = '<script type="application/json" id="page-data">{}</script>'  # in index.html
MIME_TYPES = {".wasm": "application/wasm", ".mjs": "text/javascript", ".js": "text/javascript"}


class BuildError(Exception):
    """Something the build needs is missing or wrong."""


# --- the runtime ---------------------------------------------------------------------------


def npm_pack(runtime: Runtime, cache: Path) -> Path:
    """Download the pinned tarball into `cache` with `npm pack`, unless it is there already."""
    path = cache / runtime.tarball
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        npm = shutil.which("npm")
        if npm is None:
            raise BuildError("npm not found: it downloads the pinned runtime (install Node.js)")
        spec = f"{runtime.name}@{runtime.version}"
        subprocess.run(
            [npm, "pack", spec, "--pack-destination", str(cache), "--silent"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if not path.exists():
            raise BuildError(f"npm pack {spec} did not write {path}")
    return path


def check_integrity(path: Path, integrity: str) -> None:
    """Fail unless the file's sha512 matches the pinned SRI string."""
    digest = hashlib.sha512(path.read_bytes()).digest()
    actual = "sha512-" + base64.b64encode(digest).decode()
    if actual != integrity:
        raise BuildError(f"{path.name}: sha512 is {actual}, pinned {integrity}")


def wanted_members(runtime: Runtime, names: list[str]) -> dict[str, str]:
    """Map tarball member names to paths inside the runtime's dest folder."""
    chosen: dict[str, str] = {}
    for name in names:
        inner = name.removeprefix("package/")
        if inner in runtime.files:
            chosen[name] = inner
        folder, _, leaf = inner.rpartition("/")
        if (
            folder == runtime.folder
            and leaf.startswith(runtime.prefixes)
            and leaf.endswith((".js", ".css"))
        ):
            chosen[name] = leaf
    missing = set(runtime.files) - set(chosen.values())
    if missing:
        raise BuildError(f"{runtime.tarball} lacks {', '.join(sorted(missing))}")
    for prefix in runtime.prefixes:
        if not any(leaf.startswith(prefix) for leaf in chosen.values()):
            raise BuildError(f"{runtime.tarball} has no {runtime.folder}/{prefix}*")
    return chosen


def extract_runtime(runtime: Runtime, tarball: Path, out: Path) -> list[Path]:
    """Extract only the files the page needs into out/<dest>/."""
    dest = out / runtime.dest
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    with tarfile.open(tarball, "r:gz") as archive:
        for member, target in wanted_members(runtime, archive.getnames()).items():
            source = archive.extractfile(member)
            if source is None:
                raise BuildError(f"{tarball.name}: {member} is not a file")
            path = dest / target
            path.write_bytes(source.read())
            written.append(path)
    return written


# --- the page sources ----------------------------------------------------------------------


def copy_site(site: Path, out: Path) -> None:
    """Copy the page sources, pointing runtime names at the versioned folders."""
    if not (site / "index.html").exists():
        raise BuildError(f"{site / 'index.html'} not found")
    for path in sorted(site.rglob("*")):
        rel = path.relative_to(site)
        if path.is_dir() or rel.as_posix() in SITE_INPUTS or "__pycache__" in rel.parts:
            continue
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel.as_posix() in RUNTIME_REFERENCES:
            target.write_text(point_at_runtime(path.read_text(), rel.as_posix()))
        else:
            shutil.copyfile(path, target)
    (out / ".nojekyll").write_text("")


def point_at_runtime(text: str, where: str) -> str:
    """Replace vendor/<alias>/ by the pinned, versioned folder; fail if none is named."""
    names = [r for r in RUNTIME if f"vendor/{r.alias}/" in text]
    if not names:
        raise BuildError(f"{where} names no runtime folder (vendor/<name>/)")
    for runtime in names:
        text = text.replace(f"vendor/{runtime.alias}/", runtime.dest + "/")
    return text


def preload_modules(out: Path) -> list[str]:
    """Let the browser fetch every module the page imports in parallel with the HTML, not one
    import after another: replace PRELOAD_MARKER by links to the modules each module script
    imports, in the order the scripts run (PyScript's core: its chunks). What the first one,
    which holds the first paint, needs comes first; the rest at low priority, after it."""
    (pyscript,) = (r for r in RUNTIME if r.alias == "pyscript")
    page = out / "index.html"
    text = page.read_text()
    if PRELOAD_MARKER not in text:
        raise BuildError(f"index.html lacks the marker {PRELOAD_MARKER}")
    chunks = sorted(
        f"{pyscript.dest}/{p.name}"
        for p in (out / pyscript.dest).glob("*.js")
        if p.name != "core.js"  # the page's own <script>
    )
    entries = [src.removeprefix("./") for src in _MODULE_SCRIPT.findall(text)]
    order: list[str] = []
    for entry in entries:
        found = chunks if entry == f"{pyscript.dest}/core.js" else _import_order(out, [entry])
        order += [path for path in found if path not in order]
    classic = {src.removeprefix("./") for src in _CLASSIC_SCRIPT.findall(text)}
    order += sorted(  # modules imported on demand only
        path
        for path in (p.relative_to(out).as_posix() for p in (out / "js").rglob("*.js"))
        if path not in order and path not in classic
    )
    first = _import_order(out, entries[:1])
    links = [
        f'<link rel="modulepreload" href="./{path}"'
        + ("" if path in first else ' fetchpriority="low"')
        + ">"
        for path in order
    ]
    page.write_text(text.replace(PRELOAD_MARKER, "\n".join(links)))
    return [f"./{path}" for path in order]


_MODULE_SCRIPT = re.compile(r'<script type="module" src="([^"]+)"')
_CLASSIC_SCRIPT = re.compile(r'<script src="([^"]+)"')  # no type: not a module
# a static import: `import ... "./x.js"` at the start of a line
_STATIC_IMPORT = re.compile(r'^import\b[^"(]*"(\.[^"]+)"', re.M)


def _import_order(out: Path, entries: list[str]) -> list[str]:
    """Each of `entries` in turn with every module it imports statically, breadth first (paths
    inside out/): what the first entry needs to run comes first."""
    order: list[str] = []
    for entry in entries:
        queue = [entry]
        while queue:
            path = queue.pop(0)
            if path in order:
                continue
            file = out / path
            if not file.is_file():
                raise BuildError(f"{path} is imported but not in the site")
            order.append(path)
            for found in _STATIC_IMPORT.finditer(file.read_text()):
                target = (file.parent / found.group(1)).resolve()
                queue.append(target.relative_to(out.resolve()).as_posix())
    return order


def write_pyscript_config(out: Path) -> None:
    """Write the worker's PyScript config: the local interpreter and the package zip."""
    config = {
        # PyScript imports this module and calls its loadPyodide() (see site/interpreter.mjs)
        "interpreter": "./interpreter.mjs",
        "sync_main_only": True,  # the worker never touches the DOM, so no SharedArrayBuffer
        # archives unpacked into the worker's home folder
        "files": {"./vramcalc.zip": "./*", f"./{PYSCRIPT_PACKAGE}": "./*"},
    }
    (out / "pyscript.json").write_text(json.dumps(config, indent=2) + "\n")


# Runs Python in the page's own Pyodide under Node.js (the build needs Node for npm anyway).
# stdin: a JSON job {"code", "stdlib", "archive", "snapshot"}: `code` runs after `archive` (a
# zip) is unpacked into the home folder, as PyScript's "files" does; its last expression, a
# string, is written to stdout. With "snapshot", the run is made deterministic (a fixed clock
# and entropy: Emscripten reads both from Node here) and ends by writing Pyodide's memory
# snapshot to that path. PYTHONHASHSEED=0 keeps sets of strings in one order (bytecode too).
_PYODIDE_JS = """
import nodeCrypto, { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { loadPyodide } from %(loader)s;
const job = JSON.parse(readFileSync(0, "utf8"));
if (job.snapshot) {
  let tick = 0;
  let block = 0;
  Date.now = () => 1767225600000 + tick++;
  performance.now = () => tick++;
  nodeCrypto.randomFillSync = (view) => {
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    for (let i = 0; i < bytes.length; i += 32) {
      const digest = createHash("sha256").update(`vramcalc ${block++}`).digest();
      bytes.set(digest.subarray(0, Math.min(32, bytes.length - i)), i);
    }
    return view;
  };
}
const py = await loadPyodide({
  stdLibURL: job.stdlib ?? undefined,
  env: { PYTHONHASHSEED: "0" },
  _makeSnapshot: Boolean(job.snapshot),
  stdout: () => {},
  stderr: (t) => process.stderr.write(t + "\\n"),
});
if (job.archive) {
  const data = new Uint8Array(readFileSync(job.archive));
  py.unpackArchive(data, "zip", { extractDir: "/home/pyodide" });
}
let result;
try {
  result = py.runPython(job.code);
} catch (error) {
  process.stderr.write(String(error?.message ?? error));  // the Python traceback, not the JS
  process.exit(1);
}
if (job.snapshot) writeFileSync(job.snapshot, py.makeMemorySnapshot());
process.stdout.write(String(result ?? ""));
"""


def run_in_pyodide(
    pyodide_dir: Path,
    code: str,
    *,
    what: str,
    stdlib: Path | None = None,
    archive: Path | None = None,
    snapshot: Path | None = None,
) -> str:
    """Run `code` in the Pyodide of `pyodide_dir` under Node.js; its last expression (a str)."""
    node = shutil.which("node")
    if node is None:
        raise BuildError(f"node (Node.js) is needed for {what}")
    job = {
        "code": code,
        "stdlib": str(stdlib) if stdlib else None,
        "archive": str(archive) if archive else None,
        "snapshot": str(snapshot) if snapshot else None,
    }
    loader = json.dumps((pyodide_dir / "pyodide.mjs").resolve().as_uri())
    result = subprocess.run(
        [node, "--input-type=module", "-e", _PYODIDE_JS % {"loader": loader}],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BuildError(f"{what} in Pyodide failed:\n{result.stderr[-2000:]}")
    return result.stdout


# Compiles Python sources with the page's own Python, so the browser imports bytecode instead
# of compiling them on every page load. The .pyc files are hash-based (PEP 552), whatever the
# unpacked sources' dates: unchecked (used as they are) or checked (used only while the source
# beside them has the hash they were compiled from).
_COMPILE_PY = """
import base64, importlib.util, json, os, py_compile
out = {}
for name, text in json.loads(%(sources)r).items():
    os.makedirs(os.path.dirname(name) or ".", exist_ok=True)
    with open(name, "w", encoding="utf-8") as f:
        f.write(text)
    pyc = importlib.util.cache_from_source(name)
    py_compile.compile(name, cfile=pyc, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.%(mode)s)
    with open(pyc, "rb") as f:
        out[pyc] = base64.b64encode(f.read()).decode()
json.dumps(out)
"""


def compile_bytecode(
    sources: dict[str, str], pyodide_dir: Path, *, checked: bool = False,
    stdlib: Path | None = None,
) -> dict[str, bytes]:
    """{archive name of a .py: source} -> {archive name of its .pyc: bytecode}, compiled by
    the Pyodide in `pyodide_dir` (with the standard library `stdlib`, or its own)."""
    mode = "CHECKED_HASH" if checked else "UNCHECKED_HASH"
    code = _COMPILE_PY % {"sources": json.dumps(sources), "mode": mode}
    out = run_in_pyodide(pyodide_dir, code, what="compiling Python sources", stdlib=stdlib)
    return {name: base64.b64decode(data) for name, data in json.loads(out).items()}


def _write_zip(dest: Path, entries: dict[str, bytes]) -> list[str]:
    """A zip of `entries`, reproducibly: sorted names, fixed dates, deflated."""
    names = sorted(entries)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o40755 << 16 | 0x10) if name.endswith("/") else 0o644 << 16
            archive.writestr(info, entries[name])
    return names


def zip_package(package: Path, dest: Path, pyodide_dir: Path | None = None) -> list[str]:
    """Zip the package's modules and data files, reproducibly (fixed dates, sorted names);
    with `pyodide_dir`, the modules' bytecode for that Pyodide too."""
    files = sorted(
        [*package.rglob("*.py"), *(package / "data").glob("*.json")],
        key=lambda p: p.as_posix(),
    )
    files = [p for p in files if "__pycache__" not in p.parts]
    if not any(p.name == "__init__.py" for p in files):
        raise BuildError(f"{package} has no __init__.py")
    entries = {path.relative_to(package.parent).as_posix(): path.read_bytes() for path in files}
    if pyodide_dir is not None:
        sources = {name: data.decode("utf-8") for name, data in entries.items()
                   if name.endswith(".py")}
        entries.update(compile_bytecode(sources, pyodide_dir))
    return _write_zip(dest, entries)


# --- PyScript's Python package --------------------------------------------------------------


def pyscript_sources(pyscript_dir: Path) -> dict[str, str]:
    """PyScript's own Python package, {"pyscript/x.py": source}, as its core chunk writes it
    into the worker's home folder on every start (`wo(".",{pyscript:{"x.py":"..."}})`, a
    literal of JSON strings), before it imports it."""
    (chunk,) = pyscript_dir.glob("core-*.js")
    text = chunk.read_text()
    start = text.find("{pyscript:{")
    if start == -1 or text.find("{pyscript:{", start + 1) != -1:
        raise BuildError(f"{chunk.name}: not one literal of PyScript's Python package")
    decoder, i, sources = json.JSONDecoder(), start + len("{pyscript:{"), {}
    try:
        while text[i] != "}":
            name, i = decoder.raw_decode(text, i)
            source, i = decoder.raw_decode(text, i + 1)  # after the ":"
            if not (isinstance(name, str) and name.endswith(".py") and isinstance(source, str)):
                raise ValueError(f"{name!r} is not a module")
            sources[f"pyscript/{name}"] = source
            i += text[i] == ","
    except ValueError as exc:
        raise BuildError(f"{chunk.name}: PyScript's Python package not read: {exc}") from exc
    if "pyscript/__init__.py" not in sources:
        raise BuildError(f"{chunk.name}: PyScript's Python package has no __init__.py")
    return sources


def zip_pyscript_bytecode(pyscript_dir: Path, pyodide_dir: Path, dest: Path) -> list[str]:
    """PyScript's Python package as checked-hash bytecode (pyscript/__pycache__/*.pyc), for
    the "files" of pyscript.json to unpack beside the sources PyScript writes: importing it
    then compiles nothing, and a source that differs is compiled as usual."""
    compiled = compile_bytecode(pyscript_sources(pyscript_dir), pyodide_dir, checked=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return _write_zip(dest, compiled)


# --- the standard library ------------------------------------------------------------------

# What a page load makes Python import: PyScript's own imports, site/worker.py's, and the
# modules the engine imports on demand for each view's default request (every engine's),
# and fit_changes' levers (read once, for the list under a verdict that does not fit).
_WARM_UP_PY = """
import json
for name in %(pyscript)r:
    __import__(name)
exec(compile(%(worker)r, "worker.py", "exec"), {"__name__": "vramcalc_page_worker"})
import vramcalc
for request in json.loads(%(requests)r):
    vramcalc.estimate(request)
    vramcalc.fit_changes(request)  # every path a list takes runs once: warm in the snapshot
"""


def warm_up_code(site: Path, root: Path) -> str:
    """Python that imports what a page load imports (run in a namespace of its own)."""
    vramcalc = import_package(root)
    defaults = json.loads((site / "defaults.json").read_text())
    requests = list(defaults["requests"].values())
    engines = vramcalc.catalog()["choices"]["engine"]
    requests += [{**r, "engine": e} for r in requests if r["mode"] == "inference" for e in engines]
    code = _WARM_UP_PY % {
        "pyscript": PYSCRIPT_STDLIB,
        "worker": (site / "worker.py").read_text(),
        "requests": json.dumps(requests),
    }
    return f"exec(compile({code!r}, '<vramcalc warm-up>', 'exec'), {{}})\n"


# The standard library's modules imported by the end of the warm-up, compiled; `stdlib` is the
# zip on sys.path (/lib/python314.zip): its modules' names are paths inside it.
_COMPILE_STDLIB_PY = """
import base64, json, os, py_compile, sys, zipfile
stdlib = next(p for p in sys.path if p.endswith(".zip"))
used = sorted({
    m.__spec__.origin[len(stdlib) + 1:] for m in list(sys.modules.values())
    if getattr(m, "__spec__", None) and (m.__spec__.origin or "").startswith(stdlib + "/")
})
out = {}
with zipfile.ZipFile(stdlib) as archive:
    for name in used:
        path = "/tmp/stdlib/" + name
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(archive.read(name))
        py_compile.compile(path, cfile=path + "c", dfile=f"{stdlib}/{name}", doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        with open(path + "c", "rb") as f:
            out[name] = base64.b64encode(f.read()).decode()
json.dumps(out)
"""


def compile_stdlib(pyodide_dir: Path, package_zip: Path, warm_up: str) -> dict[str, bytes]:
    """{name in the standard library zip of a module a page load imports: its bytecode},
    compiled by the page's Pyodide after running `warm_up` with the package unpacked."""
    out = run_in_pyodide(
        pyodide_dir, warm_up + _COMPILE_STDLIB_PY, what="compiling the standard library",
        archive=package_zip,
    )
    return {name: base64.b64decode(data) for name, data in json.loads(out).items()}


def write_stdlib(original: Path, compiled: dict[str, bytes], dest: Path) -> list[str]:
    """The page's standard library: `original`, with each module of `compiled` as bytecode
    (x.pyc in place of x.py: zipimport finds a module there) and the rest as source."""
    if not compiled:
        raise BuildError("no standard library module to compile: the warm-up imported none")
    entries = {}
    with zipfile.ZipFile(original) as archive:
        for info in archive.infolist():
            if info.filename in compiled:
                entries[info.filename[:-3] + ".pyc"] = compiled[info.filename]
            else:
                entries[info.filename] = archive.read(info)
    missing = {name[:-3] + ".pyc" for name in compiled} - set(entries)
    if missing:
        raise BuildError(f"{original.name} lacks {', '.join(sorted(missing))}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    return _write_zip(dest, entries)


# --- the memory snapshot -------------------------------------------------------------------


def snapshot_key(pyodide_dir: Path, out: Path, warm_up: str) -> str:
    """What a snapshot depends on: the runtime, the standard library (zipimport keeps its
    offsets in memory), the package and what the warm-up ran; a short hash of them."""
    digest = hashlib.sha256()
    for path in (pyodide_dir / "pyodide.asm.wasm", pyodide_dir / "pyodide.asm.mjs",
                 out / STDLIB, out / "vramcalc.zip"):
        digest.update(path.read_bytes())
    digest.update(warm_up.encode())
    return digest.hexdigest()[:16]


def snapshot_header(key: str) -> bytes:
    """The first SNAPSHOT_HEADER bytes of the (decompressed) snapshot file."""
    return f"vramcalc-snapshot {key}\n".encode().ljust(SNAPSHOT_HEADER, b" ")


def make_snapshot(pyodide_dir: Path, out: Path, warm_up: str) -> str:
    """Write out/SNAPSHOT: Pyodide's memory after the warm-up (the page's standard library,
    vramcalc unpacked and imported), the same bytes on every build; returns its key."""
    key = snapshot_key(pyodide_dir, out, warm_up)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "snapshot"
        run_in_pyodide(
            pyodide_dir, warm_up + "import gc; gc.collect(); ''", what="making the snapshot",
            stdlib=out / STDLIB, archive=out / "vramcalc.zip", snapshot=raw,
        )
        data = snapshot_header(key) + raw.read_bytes()
    (out / SNAPSHOT).write_bytes(gzip.compress(data, compresslevel=6, mtime=0))
    return key


def write_snapshot_key(out: Path, key: str) -> None:
    """Tell interpreter.mjs which snapshot (and standard library) belongs to this build."""
    path = out / "interpreter.mjs"
    text = path.read_text()
    if SNAPSHOT_KEY not in text:
        raise BuildError(f"interpreter.mjs lacks the marker {SNAPSHOT_KEY}")
    path.write_text(text.replace(SNAPSHOT_KEY, key))


# --- the page data --------------------------------------------------------------------------


def load_module(name: str, path: Path) -> ModuleType:
    """Import a Python file as a module (the page's worker code, run here in CPython)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BuildError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def import_package(root: Path) -> ModuleType:
    """Import vramcalc from `root` (the checkout), not from wherever else it may be installed."""
    sys.path.insert(0, str(root))
    try:
        import vramcalc

        if Path(vramcalc.__file__).resolve().parent != (root / "vramcalc").resolve():
            raise BuildError(f"imported vramcalc from {vramcalc.__file__}, not {root}")
        return vramcalc
    finally:
        sys.path.remove(str(root))


def page_data(site: Path, root: Path) -> dict[str, Any]:
    """What the page draws before Python is live: site/defaults.json, vramcalc.catalog() (the
    form's lists and the engine's defaults), and each view's default answer, computed here by
    the page's own worker.py, with the same call the page makes."""
    vramcalc = import_package(root)
    worker = load_module("vramcalc_page_worker", site / "worker.py")
    defaults = json.loads((site / "defaults.json").read_text())
    prerendered = {}
    for view, request in defaults["requests"].items():
        axis = defaults["axes"][request["mode"]][0]
        series = {"field": axis, "values": defaults["series"][axis]}
        result = json.loads(worker.compute(json.dumps(request), json.dumps(series)))
        problems = result["response"].get("error", {}).get("problems")
        if problems:
            raise BuildError(f"the default {view} request fails: {problems}")
        prerendered[view] = result
    return {"defaults": defaults, "catalog": vramcalc.catalog(), "prerendered": prerendered}


def write_page_data(out: Path, data: dict[str, Any]) -> None:
    """Fill index.html's empty `<script type="application/json" id="page-data">` with `data`
    ("<" escaped, so no text in it can close the script)."""
    page = out / "index.html"
    text = page.read_text()
    if text.count(PAGE_DATA) != 1:
        raise BuildError(f"index.html must have one empty {PAGE_DATA}")
    payload = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
    page.write_text(text.replace(PAGE_DATA, PAGE_DATA.replace("{}", payload)))


# --- the service worker --------------------------------------------------------------------


def precache_list(out: Path) -> list[str]:
    """Every file of the page, as URLs relative to the service worker (sw.js itself excluded)."""
    return sorted(
        "./" + p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and p.name not in ("sw.js", ".nojekyll")
    )


def content_hash(out: Path, urls: list[str]) -> str:
    """A short hash of every precached file's name and bytes: the cache's version."""
    digest = hashlib.sha256()
    for url in urls:
        digest.update(url.encode() + b"\0" + (out / url[2:]).read_bytes())
    return digest.hexdigest()[:16]


def write_service_worker(site: Path, out: Path) -> tuple[str, list[str]]:
    """Write dist/sw.js from site/sw.js with the precache list and its content hash inlined."""
    urls = precache_list(out)
    version = content_hash(out, urls)
    template = (site / "sw.js").read_text()
    for marker in ('"__VERSION__"', '"__PRECACHE__"'):
        if marker not in template:
            raise BuildError(f"site/sw.js lacks the marker {marker}")
    text = template.replace('"__VERSION__"', json.dumps(version))
    text = text.replace('"__PRECACHE__"', json.dumps(urls, indent=2))
    (out / "sw.js").write_text(text)
    return version, urls


# --- the whole build, and serving it -------------------------------------------------------


def build(out: Path = DIST, *, site: Path = SITE, root: Path = ROOT, cache: Path = CACHE) -> Path:
    """Assemble the page into `out` (emptied first)."""
    if out.resolve() in (root.resolve(), site.resolve()):
        raise BuildError(f"refusing to build into {out}")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for runtime in RUNTIME:
        tarball = npm_pack(runtime, cache)
        check_integrity(tarball, runtime.integrity)
        extract_runtime(runtime, tarball, out)
    copy_site(site, out)
    preload_modules(out)
    write_pyscript_config(out)
    pyodide = out / RUNTIME[0].dest
    zip_package(root / "vramcalc", out / "vramcalc.zip", pyodide)
    warm_up = warm_up_code(site, root)
    compiled = compile_stdlib(pyodide, out / "vramcalc.zip", warm_up)
    write_stdlib(pyodide / "python_stdlib.zip", compiled, out / STDLIB)
    zip_pyscript_bytecode(out / RUNTIME[1].dest, pyodide, out / PYSCRIPT_PACKAGE)
    (pyodide / "python_stdlib.zip").unlink()  # the page loads its own (interpreter.mjs)
    write_snapshot_key(out, make_snapshot(pyodide, out, warm_up))
    write_page_data(out, page_data(site, root))
    write_service_worker(site, out)
    return out


class Handler(http.server.SimpleHTTPRequestHandler):
    """Static files with the MIME types Pyodide needs; only failed requests are logged."""

    extensions_map = {  # noqa: RUF012 (typeshed declares the base class's as an instance variable)
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        **MIME_TYPES,
    }

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if str(code).startswith(("4", "5")):
            super().log_request(code, size)


def serve(out: Path, port: int) -> None:
    """Serve `out` on http://127.0.0.1:<port>/ until interrupted."""
    handler = functools.partial(Handler, directory=str(out))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"serving {out} on http://127.0.0.1:{server.server_address[1]}/", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", choices=("build", "serve"), default="build")
    parser.add_argument("--out", type=Path, default=DIST, help="output folder (default: dist/)")
    parser.add_argument("--port", type=int, default=8000, help="port for serve (default: 8000)")
    args = parser.parse_args(argv)
    try:
        out = build(args.out)
    except (BuildError, subprocess.CalledProcessError) as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    print(f"built {out}")
    if args.command == "serve":
        serve(out, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
