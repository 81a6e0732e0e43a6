"""A model's `config.json` from the Hugging Face Hub, by id (CLI and library side).

Only the standard library (`urllib`); the page fetches in the browser and reuses the same
message texts (`data/hub_messages.json`, `explain(status)`). Failures are `HubError`s with
a `status` from that file: invalid_id, offline, not_found, no_config, gated, unauthorized,
rate_limited, server_error, invalid_config, unsupported.

The Hub's answers for `/{id}/resolve/{revision}/config.json` (as huggingface_hub's
`utils/_http.py hf_raise_for_status` reads them): the `X-Error-Code` header says
`RepoNotFound`, `GatedRepo`, `EntryNotFound` or `RevisionNotFound`; a gated repository
answers 401 without a token and 403 with one that has no access; an unknown or private
repository answers 401 or 404.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from . import catalogs

if TYPE_CHECKING:
    from collections.abc import Callable

HUB_URL = "https://huggingface.co"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
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
    to tell the user to pass a config or a token (the page calls this through Python)."""
    data = catalogs.hub_messages()
    messages: dict[str, str] = data["messages"]
    template = messages.get(status)
    if template is None:
        raise KeyError(f"unknown hub status {status!r}; one of: {', '.join(messages)}")
    hints: dict[str, str] = data["audiences"][audience]
    text = template.replace("{model}", model_id).replace("{detail}", detail)
    return text.replace("{config_hint}", hints["config_hint"]).replace(
        "{token_hint}", hints["token_hint"])


def config_url(model_id: str, revision: str = "main") -> str:
    return f"{HUB_URL}/{model_id}/resolve/{revision}/config.json"


def fetch_config(
    model_id: str,
    *,
    token: str | None = None,
    revision: str = "main",
    timeout: float = 15.0,
    opener: Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """Download and check `model_id`'s config.json. `opener` defaults to
    `urllib.request.urlopen` (tests pass a recorded one). Raises HubError."""
    import urllib.error
    import urllib.request

    if not _ID.match(model_id) or ".." in model_id:
        raise HubError("invalid_id", model_id)
    headers = {"User-Agent": "vramcalc", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(config_url(model_id, revision), headers=headers)
    open_url = opener or urllib.request.urlopen
    try:
        with open_url(req, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        raise _http_error(exc.code, exc.headers.get("X-Error-Code", "") if exc.headers else "",
                          model_id, token) from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise HubError("offline", model_id) from exc
    try:
        config = json.loads(body)
    except ValueError as exc:
        raise HubError("invalid_config", model_id) from exc
    if not isinstance(config, dict):
        raise HubError("invalid_config", model_id)
    check_supported(config, model_id)
    return config


def _http_error(code: int, error_code: str, model_id: str, token: str | None) -> HubError:
    """Map an HTTP failure to a status (see the module docstring)."""
    if error_code == "GatedRepo":
        status = "gated"
    elif error_code in ("EntryNotFound",):
        status = "no_config"
    elif error_code in ("RepoNotFound", "RevisionNotFound") or code == 404:
        status = "not_found"
    elif code == 401:
        status = "unauthorized" if token else "not_found"
    elif code == 403:
        status = "gated"
    elif code == 429:
        status = "rate_limited"
    else:
        status = "server_error"
    return HubError(status, model_id, http_status=code)


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
