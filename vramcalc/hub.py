"""A model's `config.json` from the Hugging Face Hub, by id: an I/O-free core and a thin fetch.

The core is shared by the CLI and the page: `check_id` and `check_revision` refuse what is
not a repository id or a revision, `config_url` builds the address, and `read_answer` turns
an HTTP answer (status, body, `X-Error-Code`) into a config dict or a `HubError`. The CLI
fetches with `fetch_config` (urllib); the page fetches in the browser and hands the answer to
`read_answer` (site/worker.py). Failures are `HubError`s with a `status` keying
`data/hub_messages.json`: invalid_id, invalid_revision, offline, not_found, no_config,
gated, unauthorized, rate_limited, server_error, invalid_config, unsupported.

The Hub's answers for `/{id}/resolve/{revision}/config.json` (as huggingface_hub's
`utils/_http.py hf_raise_for_status` reads them): the `X-Error-Code` header says
`RepoNotFound`, `GatedRepo`, `EntryNotFound` or `RevisionNotFound`; a gated repository
answers 401 without a token and 403 with one that has no access; an unknown or private
repository answers 401 or 404.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from . import catalogs, jsonin

if TYPE_CHECKING:
    import http.client
    import urllib.request
    from collections.abc import Mapping

HUB_URL = "https://huggingface.co"

# A repository id, as huggingface_hub's utils/_validators.py validate_repo_id checks it
# (github.com/huggingface/huggingface_hub/blob/0a57df9c03e6eac70d7e231d29386867ac508edc/
# src/huggingface_hub/utils/_validators.py): "name" or "namespace/name", each of letters,
# digits, "-", "_", "." not starting or ending with "-" or ".", at most 96 characters;
# "--" and ".." are refused, and so is a name ending in ".git".
_NAME = r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?"
_ID = re.compile(rf"(?:{_NAME}/)?{_NAME}")
# A branch, tag or commit: names of letters, digits, ".", "_", "-" joined by "/" (refs/pr/1),
# none starting with "." and no ".." (git check-ref-format's rules, a safe subset of them).
_REVISION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*(?:/[A-Za-z0-9_][A-Za-z0-9._-]*)*")
_MAX_REVISION = 255
# A config.json is a few kilobytes; anything past the package's JSON bound is not one.
MAX_CONFIG_BYTES = jsonin.MAX_BYTES
# Where a token may go: the Hub itself, over HTTPS. The CDN hosts a large file redirects to
# (*.hf.co) get a signed URL and need no token; requests' sessions.py should_strip_auth drops
# the header on such redirects too.
_TOKEN_ORIGINS = frozenset({("https", "huggingface.co", 443)})
# model_type values of configs that are not decoder-only transformer LMs
_NOT_DECODERS = frozenset({
    "bert", "roberta", "deberta", "deberta-v2", "distilbert", "electra", "albert", "t5",
    "mt5", "umt5", "bart", "mbart", "pegasus", "marian", "whisper", "wav2vec2", "vit",
    "clip", "siglip", "mamba", "mamba2", "rwkv", "jamba", "stable-diffusion",
})


class HubError(Exception):
    """A lookup that failed; `status` keys `data/hub_messages.json`."""

    def __init__(self, status: str, model_id: str, *, detail: str = "",
                 http_status: int | None = None) -> None:
        self.status = status
        self.model_id = model_id
        self.detail = detail
        self.http_status = http_status
        super().__init__(explain(status, model_id, detail=detail))

    def explain(self, audience: str) -> str:
        """The message worded for `audience` ("cli" or "page")."""
        return explain(self.status, self.model_id, detail=self.detail, audience=audience)


def explain(status: str, model_id: str = "", *, detail: str = "", audience: str = "cli") -> str:
    """The user-facing message for a lookup status; `audience` ("cli" or "page") picks how
    to tell the user to pass a config or a token (the page calls this through Python). The
    id and the detail are shown on one line, control characters escaped."""
    data = catalogs.hub_messages()
    messages: dict[str, str] = data["messages"]
    template = messages.get(status)
    if template is None:
        raise KeyError(f"unknown hub status {status!r}; one of: {', '.join(messages)}")
    hints: dict[str, str] = data["audiences"][audience]
    text = template.replace("{model}", _one_line(model_id)).replace("{detail}",
                                                                     _one_line(detail))
    return text.replace("{config_hint}", hints["config_hint"]).replace(
        "{token_hint}", hints["token_hint"])


def _one_line(text: str, limit: int = 200) -> str:
    """`text` with control and other unprintable characters escaped, cut at `limit`."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


# ----------------------------------------------------------------------------------------
# The I/O-free core


def check_id(model_id: str) -> str:
    """`model_id` if it is a Hub repository id ("owner/name" or "name"), else HubError
    "invalid_id". The whole string must match: no trailing newline, no spaces."""
    if (not isinstance(model_id, str) or not _ID.fullmatch(model_id) or "--" in model_id
            or ".." in model_id or model_id.endswith(".git")):
        raise HubError("invalid_id", model_id if isinstance(model_id, str) else repr(model_id))
    return model_id


def check_revision(revision: str, model_id: str = "") -> str:
    """`revision` if it can name a branch, tag or commit ("main", "v1.0", "refs/pr/1", a
    commit hash), else HubError "invalid_revision" (`detail` is the revision)."""
    if (not isinstance(revision, str) or len(revision) > _MAX_REVISION
            or not _REVISION.fullmatch(revision) or ".." in revision
            or revision.endswith(".")):
        shown = revision if isinstance(revision, str) else repr(revision)
        raise HubError("invalid_revision", model_id, detail=shown)
    return revision


def config_url(model_id: str, revision: str = "main", *, endpoint: str = HUB_URL) -> str:
    """The address of `model_id`'s config.json at `revision`, both checked first. The
    revision is percent-encoded whole, "/" included, as huggingface_hub's
    file_download.py hf_hub_url does (github.com/huggingface/huggingface_hub/blob/
    003956d3e85bda5ea4cff0595bd1dc95771a0bf1/src/huggingface_hub/file_download.py)."""
    import urllib.parse

    check_id(model_id)
    check_revision(revision, model_id)
    return f"{endpoint}/{model_id}/resolve/{urllib.parse.quote(revision, safe='')}/config.json"


def file_url(model_id: str, filename: str, revision: str = "main", *,
             endpoint: str = HUB_URL) -> str:
    """The address of a file of `model_id`'s repository at `revision` (config_url's rules)."""
    return config_url(model_id, revision, endpoint=endpoint).removesuffix("config.json") + filename


# safetensors dtypes -> bytes per element (huggingface/safetensors safetensors/src/tensor.rs
# Dtype); F4/F6 pack several elements per byte and are counted in bits
_SAFETENSORS_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16,
    "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "F64": 64, "I64": 64,
    "U64": 64, "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}
MAX_HEADER_BYTES = 100_000_000  # safetensors refuses larger headers (MAX_HEADER_SIZE)


def read_index(body: bytes) -> int | None:
    """A sharded checkpoint's size in bytes: `metadata.total_size` of its
    model.safetensors.index.json (what huggingface_hub writes when it shards), or None."""
    try:
        index = jsonin.loads(body, what="model.safetensors.index.json", max_bytes=MAX_CONFIG_BYTES)
    except jsonin.JSONInputError:
        return None
    meta = index.get("metadata") if isinstance(index, dict) else None
    total = meta.get("total_size") if isinstance(meta, dict) else None
    if isinstance(total, int) and not isinstance(total, bool) and total > 0:
        return total
    return None


def header_length(first_bytes: bytes) -> int | None:
    """The length of a .safetensors file's JSON header, from its first 8 bytes (little-endian
    u64, the format's first field), or None when it is not one."""
    if len(first_bytes) < 8:
        return None
    length = int.from_bytes(first_bytes[:8], "little")
    return length if 0 < length <= MAX_HEADER_BYTES else None


def read_header(header: bytes) -> int | None:
    """Bytes of every tensor a .safetensors header describes (dtype x shape), or None."""
    try:
        tensors = jsonin.loads(header, what="safetensors header", max_bytes=MAX_HEADER_BYTES)
    except jsonin.JSONInputError:
        return None
    if not isinstance(tensors, dict):
        return None
    bits = 0
    for name, info in tensors.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or info.get("dtype") not in _SAFETENSORS_BITS:
            return None
        shape = info.get("shape")
        if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            return None
        numel = 1
        for d in shape:
            numel *= d
        bits += numel * _SAFETENSORS_BITS[info["dtype"]]
    return -(-bits // 8)


def fetch_checkpoint_bytes(model_id: str, *, token: str | None = None,
                           revision: str = "main", timeout: float = 15.0,
                           endpoint: str = HUB_URL) -> int | None:
    """The checkpoint's weight bytes as the Hub stores them: the sharded index's total, or
    the single model.safetensors file's header read with two ranged requests. None when
    neither answers (no safetensors, offline): the estimate then has no cross-check."""
    index = _get(file_url(model_id, "model.safetensors.index.json", revision,
                          endpoint=endpoint), token, endpoint, timeout, MAX_CONFIG_BYTES)
    if index is not None:
        return read_index(index)
    url = file_url(model_id, "model.safetensors", revision, endpoint=endpoint)
    first = _get(url, token, endpoint, timeout, 8, byte_range=(0, 7))
    length = header_length(first or b"")
    if length is None:
        return None
    header = _get(url, token, endpoint, timeout, length, byte_range=(8, 8 + length - 1))
    return read_header(header) if header is not None else None


def _get(url: str, token: str | None, endpoint: str, timeout: float, limit: int,
         byte_range: tuple[int, int] | None = None) -> bytes | None:
    """The body of a 2xx answer to `url` (at most `limit` bytes), or None."""
    import http.client
    import urllib.error
    import urllib.request

    origins = _TOKEN_ORIGINS if endpoint == HUB_URL else frozenset({_origin(endpoint)})
    headers = {"User-Agent": "vramcalc"}
    if byte_range is not None:
        headers["Range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
    if token and token.isascii() and token.isprintable() and " " not in token \
            and _origin(url) in origins:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with _opener(origins).open(urllib.request.Request(url, headers=headers),
                                   timeout=timeout) as answer:
            body: bytes = answer.read(limit + 1)
            return body[:limit] if 200 <= answer.status < 300 else None
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError):
        return None


def read_answer(status: int | None, body: bytes, error_code: str | None, model_id: str,
                has_token: bool = False) -> dict[str, Any]:
    """What the Hub's answer to `config_url` means: the config dict, or HubError.

    `status` is the HTTP status (None when no answer came: the network failed), `body` the
    body of a 2xx answer, `error_code` the `X-Error-Code` header, `has_token` whether the
    request carried a token. The body must be a JSON object, within the package's JSON
    bounds, that describes a decoder-only model vramcalc can read."""
    if status is None:
        raise HubError("offline", model_id)
    if not 200 <= status < 300:
        raise HubError(_failure(status, error_code or "", has_token), model_id,
                       http_status=status)
    try:
        config = jsonin.loads(body, what="config.json", max_bytes=MAX_CONFIG_BYTES)
    except jsonin.JSONInputError:
        raise HubError("invalid_config", model_id, http_status=status) from None
    if not isinstance(config, dict):
        raise HubError("invalid_config", model_id, http_status=status)
    check_supported(config, model_id)
    return config


def _failure(code: int, error_code: str, has_token: bool) -> str:
    """The status of a failed HTTP answer (see the module docstring)."""
    if error_code == "GatedRepo":
        return "gated"
    if error_code == "EntryNotFound":
        return "no_config"
    if error_code in ("RepoNotFound", "RevisionNotFound") or code == 404:
        return "not_found"
    if code == 401:
        return "unauthorized" if has_token else "not_found"
    if code == 403:
        return "gated"
    if code == 429:
        return "rate_limited"
    return "server_error"


def check_supported(config: dict[str, Any], model_id: str) -> None:
    """Raise HubError("unsupported") for configs vramcalc cannot read as a decoder LM."""
    from .architecture import from_config
    from .errors import Collector

    model_type = config.get("model_type")
    if model_type in _NOT_DECODERS or (
            config.get("is_encoder_decoder") is True and "text_config" not in config):
        raise HubError("unsupported", model_id,
                       detail=f"model_type {model_type!r} is not a decoder-only LLM")
    collector = Collector()
    if from_config(config, collector, path="config", name=model_id) is None:
        first = collector.problems[0] if collector.problems else None
        detail = f"{first.field}: {first.message}" if first else "its config cannot be read"
        raise HubError("unsupported", model_id, detail=detail)


# ----------------------------------------------------------------------------------------
# Tokens


def token_path(environ: Mapping[str, str]) -> str:
    """Where huggingface_hub keeps the token `hf auth login` writes: $HF_TOKEN_PATH, else
    $HF_HOME/token, else $XDG_CACHE_HOME/huggingface/token, else
    ~/.cache/huggingface/token (huggingface_hub's constants.py, github.com/huggingface/
    huggingface_hub/blob/03333b689b5a2dee604676791c0792ede6246a31/src/huggingface_hub/
    constants.py: HF_HOME and HF_TOKEN_PATH)."""
    def expand(path: str) -> str:
        return os.path.expandvars(os.path.expanduser(path))

    cache = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    home = expand(environ.get("HF_HOME") or os.path.join(cache, "huggingface"))
    return expand(environ.get("HF_TOKEN_PATH") or os.path.join(home, "token"))


def find_token(environ: Mapping[str, str]) -> str | None:
    """The token huggingface_hub would use: $HF_TOKEN, else the token file (`token_path`);
    None when there is neither. Raises OSError or UnicodeDecodeError when the file exists
    but cannot be read."""
    token = _clean_token(environ.get("HF_TOKEN"))
    if token:
        return token
    try:
        with open(token_path(environ), encoding="utf-8") as handle:
            return _clean_token(handle.read(4096))
    except FileNotFoundError:
        return None


def _clean_token(token: str | None) -> str | None:
    """Line breaks and surrounding spaces removed; "" is no token (huggingface_hub's
    utils/_auth.py _clean_token)."""
    if token is None:
        return None
    return token.replace("\r", "").replace("\n", "").strip() or None


# ----------------------------------------------------------------------------------------
# The fetch (urllib): the only I/O in this module


def fetch_config(model_id: str, *, token: str | None = None, revision: str = "main",
                 timeout: float = 15.0, endpoint: str = HUB_URL) -> dict[str, Any]:
    """Download and check `model_id`'s config.json. Raises HubError.

    The token goes only to the Hub's own origin (https://huggingface.co; `endpoint`'s own
    when another is given) and is dropped on any redirect that leaves it."""
    import http.client
    import urllib.error
    import urllib.request

    url = config_url(model_id, revision, endpoint=endpoint)
    if token and not (token.isascii() and token.isprintable() and " " not in token):
        raise HubError("unauthorized", model_id)  # not a token: never put it in a header
    origins = _TOKEN_ORIGINS if endpoint == HUB_URL else frozenset({_origin(endpoint)})
    headers = {"User-Agent": "vramcalc", "Accept": "application/json"}
    if token and _origin(url) in origins:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with _opener(origins).open(request, timeout=timeout) as answer:
            body = answer.read(MAX_CONFIG_BYTES + 1)  # one byte more: too large is refused
            status = answer.status
    except urllib.error.HTTPError as exc:
        error_code = exc.headers.get("X-Error-Code", "") if exc.headers else ""
        exc.close()
        return read_answer(exc.code, b"", error_code, model_id, has_token=bool(token))
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError):
        return read_answer(None, b"", None, model_id, has_token=bool(token))
    return read_answer(status, body, None, model_id, has_token=bool(token))


def _origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of `url`, the port filled in for http and https."""
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a port out of range or not a number: matches no origin
        port = -1
    default = {"http": 80, "https": 443}.get(scheme, -1)
    return scheme, (parts.hostname or ""), default if port is None else port


def _opener(origins: frozenset[tuple[str, str, int]]) -> urllib.request.OpenerDirector:
    """An opener whose redirects keep the token only within `origins`.

    urllib copies every header of a request into the redirected one
    (`HTTPRedirectHandler.redirect_request`), Authorization included, whatever the new
    host; browsers drop it when the origin changes (the Fetch standard's HTTP-redirect
    fetch), and requests when the host does (sessions.py `should_strip_auth`)."""
    import urllib.request

    class TokenRedirectHandler(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                             headers: http.client.HTTPMessage,
                             newurl: str) -> urllib.request.Request | None:
            new = super().redirect_request(req, fp, code, msg, headers, newurl)
            if new is not None and _origin(new.full_url) not in origins:
                new.remove_header("Authorization")
            return new

    return urllib.request.build_opener(TokenRedirectHandler())
