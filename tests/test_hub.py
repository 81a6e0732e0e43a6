"""Hub lookup with recorded answers (never the network), and its messages."""

from __future__ import annotations

import io
import json
import urllib.error
from email.message import Message
from typing import Any

import pytest
from _models import HUB

from vramcalc import __main__ as cli
from vramcalc import hub


class _Answer:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def __enter__(self) -> _Answer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read(self) -> bytes:
        return self.body


def recorded(model_id: str) -> Any:
    """An opener that answers like the Hub with the recorded config.json."""
    seen: list[Any] = []

    def opener(req: Any, timeout: float) -> _Answer:
        seen.append(req)
        return _Answer((HUB / model_id / "config.json").read_bytes())

    opener.seen = seen  # type: ignore[attr-defined]
    return opener


def failing(code: int, error_code: str = "") -> Any:
    def opener(req: Any, timeout: float) -> _Answer:
        headers = Message()
        if error_code:
            headers["X-Error-Code"] = error_code
        raise urllib.error.HTTPError(req.full_url, code, "error", headers, io.BytesIO(b""))

    return opener


def test_fetch_recorded_config_and_token_header() -> None:
    opener = recorded("Qwen/Qwen3-8B")
    config = hub.fetch_config("Qwen/Qwen3-8B", token="hf_x", opener=opener)
    assert config["model_type"] == "qwen3"
    sent = opener.seen[0]
    assert sent.full_url == "https://huggingface.co/Qwen/Qwen3-8B/resolve/main/config.json"
    assert sent.get_header("Authorization") == "Bearer hf_x"


@pytest.mark.parametrize(("code", "error_code", "token", "status"), [
    (401, "GatedRepo", None, "gated"),
    (403, "GatedRepo", "hf_x", "gated"),
    (401, "RepoNotFound", None, "not_found"),
    (404, "", None, "not_found"),
    (404, "EntryNotFound", None, "no_config"),
    (401, "", "hf_bad", "unauthorized"),
    (429, "", None, "rate_limited"),
    (503, "", None, "server_error"),
])
def test_http_failures(code: int, error_code: str, token: str | None, status: str) -> None:
    with pytest.raises(hub.HubError) as info:
        hub.fetch_config("meta-llama/Llama-3.1-8B", token=token,
                         opener=failing(code, error_code))
    assert info.value.status == status
    assert info.value.http_status == code


def test_offline() -> None:
    def opener(req: Any, timeout: float) -> _Answer:
        raise urllib.error.URLError("Name or service not known")

    with pytest.raises(hub.HubError) as info:
        hub.fetch_config("Qwen/Qwen3-8B", opener=opener)
    assert str(info.value) == (
        "Could not reach the Hugging Face Hub to fetch Qwen/Qwen3-8B's config.json. Check "
        "the network connection, or pass the config file itself (--config "
        "path/to/config.json).")


def test_bad_ids_and_bodies() -> None:
    with pytest.raises(hub.HubError) as info:
        hub.fetch_config("not a model", opener=recorded("Qwen/Qwen3-8B"))
    assert info.value.status == "invalid_id"

    def body(data: bytes) -> Any:
        return lambda req, timeout: _Answer(data)

    with pytest.raises(hub.HubError) as info:
        hub.fetch_config("a/b", opener=body(b"<html>"))
    assert info.value.status == "invalid_config"
    with pytest.raises(hub.HubError) as info:
        hub.fetch_config("google-t5/t5-small", opener=body(json.dumps(
            {"model_type": "t5", "is_encoder_decoder": True}).encode()))
    assert str(info.value) == ("'google-t5/t5-small' is not a decoder-only language model "
                               "that vramcalc can read (model_type 't5' is not a "
                               "decoder-only LLM).")
    with pytest.raises(hub.HubError) as info:
        hub.fetch_config("a/b", opener=body(b'{"model_type": "llama"}'))
    assert info.value.status == "unsupported"
    assert "config.hidden_size: is required" in str(info.value)


def test_explain_every_status() -> None:
    assert hub.explain("gated", "meta-llama/Llama-3.1-8B") == (
        "'meta-llama/Llama-3.1-8B' is gated: accept its license on its Hub page, then give a "
        "token that can read it (--token or the HF_TOKEN environment variable).")
    assert hub.explain("gated", "meta-llama/Llama-3.1-8B", audience="page") == (
        "'meta-llama/Llama-3.1-8B' is gated: accept its license on its Hub page, then download "
        "its config.json from the Hub and paste or upload it below (the page sends no tokens).")
    for status in ("invalid_id", "offline", "not_found", "no_config", "unauthorized",
                   "rate_limited", "server_error", "invalid_config", "unsupported"):
        for audience in ("cli", "page"):
            text = hub.explain(status, "a/b", detail="d", audience=audience)
            assert "{" not in text
            assert ("--" in text) == (audience == "cli" and status in (
                "offline", "no_config", "unauthorized", "rate_limited"))
    with pytest.raises(KeyError):
        hub.explain("nope")


def test_cli_hf_uses_token_from_environment(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[tuple[str, str | None]] = []

    def fake(model_id: str, *, token: str | None, revision: str) -> dict[str, Any]:
        calls.append((model_id, token))
        return json.loads((HUB / model_id / "config.json").read_text(encoding="utf-8"))

    monkeypatch.setattr(hub, "fetch_config", fake)
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    assert cli.main(["estimate", "--hf", "Qwen/Qwen3-8B", "--engine", "vllm", "--gpu",
                     "rtx-4090", "--max-model-len", "8192", "--json"]) == 0
    assert calls == [("Qwen/Qwen3-8B", "hf_env")]
    out = json.loads(capsys.readouterr().out)
    assert out["details"]["vllm"]["max_model_len"] == 8192


def test_cli_hf_failure_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    def fake(model_id: str, *, token: str | None, revision: str) -> dict[str, Any]:
        raise hub.HubError("gated", model_id)

    monkeypatch.setattr(hub, "fetch_config", fake)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert cli.main(["estimate", "--hf", "meta-llama/Llama-3.1-8B"]) == cli.EXIT_BAD_INPUT
    assert capsys.readouterr().err == (
        "vramcalc: 'meta-llama/Llama-3.1-8B' is gated: accept its license on its Hub page, "
        "then give a token that can read it (--token or the HF_TOKEN environment variable)."
        "\n")
