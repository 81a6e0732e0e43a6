#!/usr/bin/env python3
"""Build the vramcalc page into dist/, or build it and serve it on localhost.

    python build.py                  # build into dist/
    python build.py serve [--port N] # build, then serve dist/ on http://127.0.0.1:N/

Steps: fetch the pinned browser runtime (Pyodide, PyScript) with `npm pack` and check each
tarball's sha512; copy site/ and a zip of the vramcalc package; prerender the default view
by running the package here in CPython; write the service worker with its precache list.
Sources are never modified. The site names the runtime as `vendor/pyodide/` and
`vendor/pyscript/`; the build points those names at versioned folders
(`vendor/pyodide-<version>/`), whose contents never change, so browsers may cache them for good.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import hashlib
import html
import http.server
import importlib.util
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent
SITE = ROOT / "site"
PACKAGE = ROOT / "vramcalc"
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
RUNTIME_REFERENCES = ("index.html",)
# Files of site/ that are build inputs, not part of the page.
SITE_INPUTS = ("defaults.json", "sw.js")
# The Hub origins the page may fetch config.json from (resolve/ answers from huggingface.co,
# or redirects to /api/resolve-cache/ on the same host; LFS files go to *.hf.co).
HUB_ORIGINS = ("https://huggingface.co", "https://*.hf.co")
VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
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


def preload_runtime(out: Path) -> list[str]:
    """Let the browser fetch PyScript's chunks in parallel with core.js, not one import after
    another: replace the `<!-- modulepreload: pyscript chunks -->` marker by their links."""
    (pyscript,) = (r for r in RUNTIME if r.alias == "pyscript")
    marker = "<!-- modulepreload: pyscript chunks -->"
    page = out / "index.html"
    text = page.read_text()
    if marker not in text:
        raise BuildError(f"index.html lacks the marker {marker}")
    chunks = sorted(
        f"./{pyscript.dest}/{p.name}"
        for p in (out / pyscript.dest).glob("*.js")
        if p.name != "core.js"  # the page's own <script>
    )
    links = "\n".join(f'<link rel="modulepreload" href="{c}">' for c in chunks)
    page.write_text(text.replace(marker, links))
    return chunks


def write_pyscript_config(out: Path) -> None:
    """Write the worker's PyScript config: the local interpreter and the package zip."""
    (pyodide,) = (r for r in RUNTIME if r.name == "pyodide")
    config = {
        "interpreter": f"./{pyodide.dest}/pyodide.mjs",
        "sync_main_only": True,  # the worker never touches the DOM, so no SharedArrayBuffer
        "files": {"./vramcalc.zip": "./*"},
    }
    (out / "pyscript.json").write_text(json.dumps(config, indent=2) + "\n")


# Compiles the package with the page's own Python (Pyodide in Node.js), so the browser
# imports bytecode instead of compiling ~100 ms of source on every page load. The .pyc files
# are unchecked-hash (PEP 552): used as they are, whatever the unpacked sources' dates.
_COMPILE_JS = """
import { loadPyodide } from %(loader)s;
const py = await loadPyodide({ stdout: () => {}, stderr: (t) => process.stderr.write(t + "\\n") });
const sources = JSON.parse(await new Promise((ok) => {
  let text = "";
  process.stdin.on("data", (d) => (text += d));
  process.stdin.on("end", () => ok(text));
}));
py.globals.set("sources", py.toPy(sources));
process.stdout.write(py.runPython(`
import base64, importlib.util, json, os, py_compile, sys
out = {}
for name, text in sources.items():
    os.makedirs(os.path.dirname(name) or ".", exist_ok=True)
    with open(name, "w", encoding="utf-8") as f:
        f.write(text)
    pyc = importlib.util.cache_from_source(name)
    py_compile.compile(name, cfile=pyc, doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    with open(pyc, "rb") as f:
        out[pyc] = base64.b64encode(f.read()).decode()
json.dumps(out)
`));
"""


def compile_bytecode(sources: dict[str, str], pyodide_dir: Path) -> dict[str, bytes]:
    """{archive name of a .py: source} -> {archive name of its .pyc: bytecode}, compiled by
    the Pyodide in `pyodide_dir` (needs Node.js, which the build needs for npm anyway)."""
    node = shutil.which("node")
    if node is None:
        raise BuildError("node (Node.js) is needed to compile the package for the page")
    loader = json.dumps((pyodide_dir / "pyodide.mjs").resolve().as_uri())
    result = subprocess.run(
        [node, "--input-type=module", "-e", _COMPILE_JS % {"loader": loader}],
        input=json.dumps(sources), capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise BuildError(f"compiling the package in Pyodide failed:\n{result.stderr[-2000:]}")
    return {name: base64.b64decode(data) for name, data in json.loads(result.stdout).items()}


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
    names = []
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, entries[name])
            names.append(name)
    return names


# --- prerendering --------------------------------------------------------------------------


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


def flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; the keys are the form controls' names."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and name != "model.config":
            flat.update(flatten(item, name + "."))
        else:
            flat[name] = item
    return flat


def _fixed2(value: float) -> str:
    """Two decimals, as JavaScript's Intl.NumberFormat rounds the same double (half away from
    zero, on its exact binary value; no "-0.00")."""
    rounded = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{abs(rounded) if rounded == 0 else rounded:,.2f}"


def format_gib(n_bytes: int) -> str:
    """The page's headline figure; js/units.js formats it the same way (a test compares)."""
    return f"{_fixed2(n_bytes / 2**30)} GiB"


def format_gb(n_bytes: int) -> str:
    """The decimal figure shown on hover, as js/units.js does."""
    return f"{_fixed2(n_bytes / 10**9)} GB ({n_bytes:,} bytes)"


Option = tuple[str, str, str, dict[str, str]]  # value, label, group, extra attributes

# catalog()["choices"] keys that differ from the request field a select sets
CHOICE_KEYS = {
    "llama_cpp.cache_type_k": "llama_cpp.cache_type",
    "llama_cpp.cache_type_v": "llama_cpp.cache_type",
    "lora.target_modules": "lora_target_modules",
    "qlora.quant_type": "qlora_quant_type",
}


def select_options(name: str, catalog: dict[str, Any], group: str = "common") -> list[Option]:
    """The options of a select list, all read from vramcalc.catalog(); `group` is the form's
    fieldset ("training" fields have their own choices)."""
    if name == "model.preset":
        return [(p["id"], _preset_label(p), p.get("family", ""), {}) for p in catalog["presets"]]
    if name == "gpu":
        return [(g["id"], g["name"], g.get("vendor", "").upper(), {}) for g in catalog["gpus"]]
    if name == "weight_format":
        return [
            (f["id"], f.get("label", f["id"]), f.get("kind", ""), {})
            for f in catalog["weight_formats"]
        ]
    if name == "kv_cache_dtype":  # each dtype names the engines that offer it
        return [
            (f["id"], f.get("label", f["id"]), "", {"data-engines": " ".join(f.get("engines", []))})
            for f in catalog["kv_cache_dtypes"]
        ]
    if name == "framework":
        return [(f["id"], f.get("name", f["id"]), "", {}) for f in catalog["frameworks"]]
    choices = catalog.get("choices", {})
    if group == "training":
        choices = choices.get("training", {})
    values = choices.get(CHOICE_KEYS.get(name, name))
    if values is None:
        raise BuildError(f"catalog() has no list for the select {name!r} ({group})")
    return [(str(v), str(v), "", {}) for v in values]


def _preset_label(preset: dict[str, Any]) -> str:
    label = str(preset["name"])
    if preset.get("parameters"):
        label += f" · {preset['parameters'] / 1e9:.1f} B"
    return label


class PageFiller(HTMLParser):
    """Re-emit index.html with the form filled in, select lists and prerendered figures added.

    - `<select name=N data-options>`: options from catalog(), the default selected;
    - controls named after request fields get the default value of their group
      (`<fieldset data-group=G>`; others take the "common" group); `data-auto` controls
      stay empty, meaning "the engine's default";
    - `data-prerender=K` elements get the text of `figures[K]`, and `data-prerender-title`
      their title; `<script id=page-data>` gets the page data as JSON.
    """

    def __init__(
        self,
        *,
        values: dict[str, dict[str, Any]],
        catalog: dict[str, Any],
        figures: dict[str, str],
        page_data: dict[str, Any],
        available: dict[str, set[str]] | None = None,
        explicit: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(convert_charrefs=False)
        self.values = values
        self.catalog = catalog
        self.figures = figures
        self.page_data = page_data
        self.available = available or {}
        self.explicit = explicit or {}  # what the page's default requests set themselves
        self.omitted: list[str] = []  # what the engine does not offer (yet), left out
        self.dropping: tuple[str, int] | None = None  # (tag, depth) of a subtree left out
        self.out: list[str] = []
        self.groups: list[str] = []  # open fieldsets' groups ("" for those without one)
        self.skipping: str | None = None  # end tag whose content is being replaced
        self.select: str | None = None  # value to select in the open <select>
        self.listed: str | None = None  # the open <select> whose options come from catalog()

    # helpers

    def group(self) -> str:
        return next((g for g in reversed(self.groups) if g), "common")

    def value(self, name: str) -> Any:
        for group in (self.group(), "common"):
            if name in self.values.get(group, {}):
                return self.values[group][name]
        raise BuildError(f"no default for the control {name!r} (group {self.group()!r})")

    def known(self, name: str) -> bool:
        return any(name in self.values.get(g, {}) for g in (self.group(), "common"))

    def offered(self, attrs: dict[str, str | None]) -> bool:
        """Whether the engine offers what an element is for: `data-field` names a request
        field it knows; `data-when="engine=vllm"` a choice it accepts."""
        field = attrs.get("data-field")
        if field and not self.known(field):
            self.omitted.append(field)
            return False
        when = attrs.get("data-when")
        if when:
            key, _, value = when.partition("=")
            if value not in self.available.get(key, set()):
                self.omitted.append(when)
                return False
        return True

    def dropped(self, tag: str, start: bool) -> bool:
        """Track a subtree being left out; True while inside it."""
        if self.dropping is None:
            return False
        name, depth = self.dropping
        if tag == name:
            depth += 1 if start else -1
            self.dropping = None if depth == 0 else (name, depth)
        return True

    @staticmethod
    def tag(tag: str, attrs: list[tuple[str, str | None]], close: bool = False) -> str:
        parts = [tag]
        for key, val in attrs:
            parts.append(key if val is None else f'{key}="{html.escape(val, quote=True)}"')
        return "<" + " ".join(parts) + (" />" if close else ">")

    # parser callbacks

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skipping or self.dropped(tag, start=tag not in VOID):
            return
        attrs = list(attrs)
        a = dict(attrs)
        if not self.offered(a):
            if tag not in VOID:
                self.dropping = (tag, 1)
            return
        if tag == "fieldset":
            self.groups.append(a.get("data-group") or "")
        name = a.get("name")
        changed = False
        auto = "data-auto" in a  # empty means the engine's default, unless the page sets one
        set_here = not auto or name in self.explicit.get(self.group(), {})
        if tag in ("input", "select") and name and "data-ui" not in a and set_here:
            default = self.explicit[self.group()][name] if auto else self.value(name)
            if tag == "select":
                self.select = "" if default is None else str(default)
            elif a.get("type") == "checkbox":
                attrs = [(k, v) for k, v in attrs if k != "checked"]
                on = default if isinstance(default, bool) else a.get("value") in (default or [])
                if on:
                    attrs.append(("checked", None))
                changed = True
            elif tag == "input":
                attrs = [(k, v) for k, v in attrs if k != "value"]
                attrs.append(("value", "" if default is None else _form_value(default, a)))
                changed = True
        if tag == "option" and self.select is not None:
            attrs = [(k, v) for k, v in attrs if k != "selected"]
            if a.get("value") == self.select:
                attrs.append(("selected", None))
            changed = True
        title = a.get("data-prerender-title")
        if title:
            attrs = [(k, v) for k, v in attrs if k not in ("title", "data-prerender-title")]
            attrs.append(("title", self.figures[title]))
            changed = True
        self.out.append(self.tag(tag, attrs) if changed else self.get_starttag_text() or "")
        if tag == "select" and "data-options" in a and name:
            self.listed = name  # its options go after the template's own, at </select>
        listed = a.get("data-options-checkboxes")
        if listed:
            self.out.append(self.checkboxes(listed))
        key = a.get("data-prerender")
        if key:
            self.out.append(html.escape(self.figures[key]))
            self.skipping = tag
        if tag == "script" and a.get("id") == "page-data":
            text = json.dumps(self.page_data, separators=(",", ":"), sort_keys=True)
            self.out.append(text.replace("</", "<\\/"))
            self.skipping = tag

    def options(self, name: str) -> str:
        parts, group = [], None
        for value, label, grp, extra in select_options(name, self.catalog, self.group()):
            if grp != group:
                if group:
                    parts.append("</optgroup>")
                if grp:
                    parts.append(f'<optgroup label="{html.escape(grp)}">')
                group = grp
            attrs: list[tuple[str, str | None]] = [("value", value), *extra.items()]
            if value == self.select:
                attrs.append(("selected", None))
            parts.append(self.tag("option", attrs) + f"{html.escape(label)}</option>")
        if group:
            parts.append("</optgroup>")
        return "".join(parts)

    def checkboxes(self, name: str) -> str:
        chosen = self.value(name) or []
        parts = []
        for value, label, _, _ in select_options(name, self.catalog, self.group()):
            attrs: list[tuple[str, str | None]] = [
                ("type", "checkbox"),
                ("name", name),
                ("value", value),
                ("data-type", "list"),
            ]
            if value in chosen:
                attrs.append(("checked", None))
            parts.append(f"<label>{self.tag('input', attrs)} {html.escape(label)}</label>")
        return "".join(parts)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self.dropped(tag, start=False):
            return
        if self.skipping:
            if tag != self.skipping:
                return
            self.skipping = None
        if tag == "fieldset":
            self.groups.pop()
        if tag == "select":
            if self.listed:
                self.out.append(self.options(self.listed))
            self.select = self.listed = None
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if not (self.skipping or self.dropping):
            self.out.append(data)

    def handle_entityref(self, name: str) -> None:
        if not (self.skipping or self.dropping):
            self.out.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        if not (self.skipping or self.dropping):
            self.out.append(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        if not self.dropping:
            self.out.append(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.out.append(f"<!{decl}>")


def _form_value(value: Any, attrs: dict[str, str | None]) -> str:
    """A request value as the control shows it (bytes shown in MiB where data-scale says so)."""
    scale = attrs.get("data-scale")
    if scale and isinstance(value, (int, float)):
        value = value / float(scale)
        if float(value).is_integer():
            value = int(value)
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def field_defaults(
    vramcalc: ModuleType,
    catalog: dict[str, Any],
    request: dict[str, Any],
    varied: str,
    options: list[str],
) -> dict[str, Any]:
    """Every field a mode's inputs may set, with the value the form starts from: the default
    request's own, then those its variants add (another engine's options, say), then the
    catalog's defaults."""
    values = flatten(catalog["defaults"].get(request["mode"], {}))
    for option in options:
        answer = vramcalc.estimate({**request, varied: option})
        if "error" not in answer:
            values.update(flatten(answer["request"]))
    values.update(flatten(request))
    return values


def prerender(site: Path, out: Path, root: Path) -> dict[str, Any]:
    """Compute the default view of every page mode in CPython and write dist/index.html.

    A mode the engine does not offer yet (it answers with a problem on `mode`) keeps that
    answer, which the page shows; its inputs are left out, as are inputs for request fields
    and choices the engine does not know.
    """
    vramcalc = import_package(root)
    worker = load_module("vramcalc_page_worker", site / "worker.py")
    defaults = json.loads((site / "defaults.json").read_text())
    catalog = vramcalc.catalog()
    prerendered, modes = {}, set()
    for view, request in defaults["requests"].items():
        axis = defaults["axes"][request["mode"]][0]
        result = worker.compute_dict(request, {"field": axis, "values": defaults["series"][axis]})
        problems = result["response"].get("error", {}).get("problems", [])
        if problems and (view == defaults["view"] or [p["field"] for p in problems] != ["mode"]):
            raise BuildError(f"the default {view} request fails: {problems}")
        if not problems:
            modes.add(request["mode"])
        prerendered[view] = result
    first = prerendered[defaults["view"]]["response"]
    trained = prerendered[defaults["training_defaults_from"]]["response"]
    choices = catalog.get("choices", {})
    values = {
        "common": {
            **flatten(first["request"]),
            **flatten(defaults["manual_config"], "model.config."),
            "model.name": None,
            "model.config": None,
        },
        "inference": field_defaults(
            vramcalc, catalog, first["request"], "engine", choices.get("engine", [])
        ),
        "training": {}
        if "error" in trained
        else field_defaults(
            vramcalc,
            catalog,
            trained["request"],
            "method",
            choices.get("training", {}).get("method", []),
        ),
    }
    available = {key: {str(v) for v in vs} for key, vs in choices.items() if isinstance(vs, list)}
    available["method"] = {str(v) for v in choices.get("training", {}).get("method", [])}
    available["mode"] = modes
    figures = {
        "total": format_gib(first["total_bytes"]),
        "total-title": format_gb(first["total_bytes"]),
    }
    page_data = {"defaults": defaults, "prerendered": prerendered}
    requests = defaults["requests"]
    explicit = {
        "common": flatten(requests[defaults["view"]]),
        "inference": flatten(requests[defaults["view"]]),
        "training": flatten(requests[defaults["training_defaults_from"]]),
    }
    filler = PageFiller(
        values=values,
        catalog=catalog,
        figures=figures,
        page_data=page_data,
        available=available,
        explicit=explicit,
    )
    filler.feed((out / "index.html").read_text())
    filler.close()
    (out / "index.html").write_text("".join(filler.out))
    if filler.omitted:
        left_out = ", ".join(sorted(set(filler.omitted)))
        print(f"note: this engine does not offer {left_out}; those inputs are left out")
    return page_data


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
    preload_runtime(out)
    write_pyscript_config(out)
    zip_package(root / "vramcalc", out / "vramcalc.zip", out / RUNTIME[0].dest)
    prerender(site, out, root)
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
