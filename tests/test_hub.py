"""Hub lookup: the I/O-free core on recorded answers, the urllib fetch against local servers
on 127.0.0.1 (never the network), tokens, and every message."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from _models import HUB

from vramcalc import __main__ as cli
from vramcalc import hub

RECORDED = sorted(HUB.glob("*/*/config.json"))
MODEL = "meta-llama/Llama-3.1-8B"
# Every message, for the CLI, with MODEL and the detail "d" (the page's differ in the hints).
CLI_MESSAGES = {
    "invalid_id": f"'{MODEL}' is not a Hugging Face model id: use the form owner/name, e.g. "
    "meta-llama/Llama-3.1-8B.",
    "invalid_revision": "'d' is not a branch, tag or commit of a Hugging Face repository: use "
    "names of letters, digits, '.', '_' and '-' joined by '/', such as main, v1.0, refs/pr/1 "
    "or a commit hash.",
    "offline": f"Could not reach the Hugging Face Hub to fetch {MODEL}'s config.json. Check "
    "the network connection, or pass the config file itself (--config path/to/config.json).",
    "not_found": f"The Hugging Face Hub has no model '{MODEL}' (or it is private and the token "
    "cannot see it). Check the spelling; ids are case-sensitive.",
    "no_config": f"The model '{MODEL}' has no config.json on the Hub (GGUF-only and adapter "
    "repositories have none). Use the base model's id, or pass the config file itself "
    "(--config path/to/config.json).",
    "gated": f"'{MODEL}' is gated: accept its license on its Hub page, then give a token that "
    "can read it (the HF_TOKEN environment variable, or the token file that `hf auth login` "
    "writes).",
    "unauthorized": "The Hugging Face token was rejected. Create a read token at "
    "huggingface.co/settings/tokens, then give a token that can read it (the HF_TOKEN "
    "environment variable, or the token file that `hf auth login` writes).",
    "rate_limited": "The Hugging Face Hub is rate-limiting requests. Wait a minute and try "
    "again, or give a token that can read it (the HF_TOKEN environment variable, or the token "
    "file that `hf auth login` writes).",
    "server_error": f"The Hugging Face Hub answered with an error while fetching {MODEL}'s "
    "config.json. Try again later.",
    "invalid_config": f"The config.json of '{MODEL}' is not a JSON object that describes a "
    "model.",
    "unsupported": f"'{MODEL}' is not a decoder-only language model that vramcalc can read (d).",
}
PAGE_CONFIG_HINT = "paste or upload its config.json below"
PAGE_TOKEN_HINT = ("download its config.json from the Hub and paste or upload it below (the "
                   "page sends no tokens)")


def failure(call: Any, *args: Any, **kwargs: Any) -> hub.HubError:
    with pytest.raises(hub.HubError) as info:
        call(*args, **kwargs)
    return info.value


# ----------------------------------------------------------------------------------------
# Messages


def test_every_status_has_its_cli_message() -> None:
    assert set(CLI_MESSAGES) == set(hub.catalogs.hub_messages()["messages"])
    for status, text in CLI_MESSAGES.items():
        assert hub.explain(status, MODEL, detail="d") == text
        assert str(hub.HubError(status, MODEL, detail="d")) == text


def test_page_messages_swap_the_hints() -> None:
    page_hints = {"config_hint": PAGE_CONFIG_HINT, "token_hint": PAGE_TOKEN_HINT}
    cli_hints = hub.catalogs.hub_messages()["audiences"]["cli"]
    for status, text in CLI_MESSAGES.items():
        expected = text
        for name, hint in cli_hints.items():
            expected = expected.replace(hint, page_hints[name])
        assert hub.explain(status, MODEL, detail="d", audience="page") == expected
        assert hub.HubError(status, MODEL, detail="d").explain("page") == expected
    assert "--" not in "".join(page_hints.values())  # the page names no command-line flag


def test_unknown_status() -> None:
    with pytest.raises(KeyError) as info:
        hub.explain("nope")
    assert info.value.args[0].startswith("unknown hub status 'nope'; one of: invalid_id, ")


def test_messages_stay_on_one_line() -> None:
    assert hub.explain("invalid_id", "a/b\nc\x1b[2J") == (
        "'a/b\\nc\\x1b[2J' is not a Hugging Face model id: use the form owner/name, e.g. "
        "meta-llama/Llama-3.1-8B.")
    long = hub.explain("invalid_id", "x" * 500)
    assert long.startswith("'" + "x" * 197 + "...' is not")


# ----------------------------------------------------------------------------------------
# check_id, check_revision, config_url


@pytest.mark.parametrize("model_id", [
    "Qwen/Qwen3-8B", "meta-llama/Llama-3.1-8B", "gpt2", "a/b", "_x/y_", "A1.b-c_d/e.f-9",
    "o/" + "n" * 96,
])
def test_ids(model_id: str) -> None:
    assert hub.check_id(model_id) == model_id


@pytest.mark.parametrize("model_id", [
    "", "not an id", "Qwen/Qwen3-8B\n", "\nQwen/Qwen3-8B", "a/b/c", "a//b", "/a", "a/",
    "-a/b", "a/b-", ".a/b", "a/b.", "a/b..c", "a--b/c", "a/b.git", "o/" + "n" * 97, "a/b?c",
    "a/b#c", "a/é", "../a",
])
def test_bad_ids(model_id: str) -> None:
    error = failure(hub.check_id, model_id)
    assert (error.status, error.model_id) == ("invalid_id", model_id)


def test_an_id_that_is_not_a_string() -> None:
    error = failure(hub.check_id, None)
    assert str(error) == ("'None' is not a Hugging Face model id: use the form owner/name, e.g. "
                          "meta-llama/Llama-3.1-8B.")


@pytest.mark.parametrize("revision", [
    "main", "v1.0", "refs/pr/1", "0123456789abcdef0123456789abcdef01234567", "my_branch-2",
])
def test_revisions(revision: str) -> None:
    assert hub.check_revision(revision) == revision


@pytest.mark.parametrize("revision", [
    "", "../../x?y=", "main\n", "a b", "a//b", "a/", "/a", ".hidden", "a..b", "end.", "a?b",
    "a#b", "a%2Fb", "x" * 256, "main@{1}",
])
def test_bad_revisions(revision: str) -> None:
    error = failure(hub.check_revision, revision, MODEL)
    assert (error.status, error.model_id, error.detail) == ("invalid_revision", MODEL, revision)


def test_bad_revision_message() -> None:
    assert str(failure(hub.check_revision, "../../x?y=")) == (
        "'../../x?y=' is not a branch, tag or commit of a Hugging Face repository: use names of "
        "letters, digits, '.', '_' and '-' joined by '/', such as main, v1.0, refs/pr/1 or a "
        "commit hash.")


def test_config_url() -> None:
    assert hub.config_url("Qwen/Qwen3-8B") == (
        "https://huggingface.co/Qwen/Qwen3-8B/resolve/main/config.json")
    # the revision is encoded whole, "/" included, as huggingface_hub's hf_hub_url does
    assert hub.config_url("a/b", "refs/pr/1") == (
        "https://huggingface.co/a/b/resolve/refs%2Fpr%2F1/config.json")
    assert hub.config_url("a/b", endpoint="http://127.0.0.1:9") == (
        "http://127.0.0.1:9/a/b/resolve/main/config.json")
    assert failure(hub.config_url, "a/b\n").status == "invalid_id"
    assert failure(hub.config_url, "a/b", "../../x?y=").status == "invalid_revision"


# ----------------------------------------------------------------------------------------
# read_answer: recorded answers only


def test_recorded_configs_are_read_as_they_are() -> None:
    assert len(RECORDED) >= 10
    for path in RECORDED:
        model_id = str(path.parent.relative_to(HUB))
        config = hub.read_answer(200, path.read_bytes(), None, model_id, False)
        assert config == json.loads(path.read_text(encoding="utf-8")), model_id


@pytest.mark.parametrize(("code", "error_code", "has_token", "status"), [
    (401, "GatedRepo", False, "gated"),
    (403, "GatedRepo", True, "gated"),
    (403, "", True, "gated"),
    (401, "RepoNotFound", False, "not_found"),
    (404, "RevisionNotFound", False, "not_found"),
    (404, "", False, "not_found"),
    (401, "", False, "not_found"),  # without a token the Hub hides private and unknown repos
    (404, "EntryNotFound", False, "no_config"),
    (401, "", True, "unauthorized"),
    (429, "", False, "rate_limited"),
    (500, "", False, "server_error"),
    (503, None, True, "server_error"),
    (310, "", False, "server_error"),  # urllib's answer to a redirect loop
])
def test_failed_answers(code: int, error_code: str | None, has_token: bool,
                        status: str) -> None:
    error = failure(hub.read_answer, code, b"", error_code, MODEL, has_token)
    assert (error.status, error.http_status) == (status, code)
    assert str(error) == CLI_MESSAGES[status]


def test_no_answer_is_offline() -> None:
    error = failure(hub.read_answer, None, b"", None, MODEL)
    assert (error.status, str(error)) == ("offline", CLI_MESSAGES["offline"])


@pytest.mark.parametrize("body", [
    b"<html>", b"[1, 2]", b'"config"', b"", json.dumps({"a": 1}).encode("utf-16"),
    b'{"model_type": "llama", "x": NaN}', b"[" * 100 + b"]" * 100, b"\x00\x01\x02\x03",
    b'{"model_type": "caf\xe9"}',
])
def test_bodies_that_are_not_configs(body: bytes) -> None:
    error = failure(hub.read_answer, 200, body, None, MODEL)
    assert (error.status, str(error)) == ("invalid_config", CLI_MESSAGES["invalid_config"])


def test_a_body_over_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    body = (HUB / "Qwen/Qwen3-8B/config.json").read_bytes()
    monkeypatch.setattr(hub, "MAX_CONFIG_BYTES", len(body) - 1)
    assert failure(hub.read_answer, 200, body, None, "Qwen/Qwen3-8B").status == "invalid_config"
    monkeypatch.setattr(hub, "MAX_CONFIG_BYTES", len(body))
    assert hub.read_answer(200, body, None, "Qwen/Qwen3-8B")["model_type"] == "qwen3"


def test_configs_vramcalc_cannot_read() -> None:
    t5 = json.dumps({"model_type": "t5", "is_encoder_decoder": True}).encode()
    assert str(failure(hub.read_answer, 200, t5, None, "google-t5/t5-small")) == (
        "'google-t5/t5-small' is not a decoder-only language model that vramcalc can read "
        "(model_type 't5' is not a decoder-only LLM).")
    error = failure(hub.read_answer, 200, b'{"model_type": "llama"}', None, "a/b")
    assert error.status == "unsupported"
    assert error.detail.startswith("config.hidden_size: is required")


# ----------------------------------------------------------------------------------------
# fetch_config: urllib against local servers (two ports: two origins)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib would send even 127.0.0.1 through a proxy named in the environment."""
    monkeypatch.setenv("no_proxy", "*")


@pytest.fixture(autouse=True)
def no_checkpoint_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's --hf also asks for the checkpoint's size: never the network in tests."""
    monkeypatch.setattr(hub, "fetch_checkpoint_bytes", lambda *a, **k: None)


class Server:
    """An HTTP server on 127.0.0.1 answering from `routes` (path -> (status, headers,
    body)) and recording each request's path and Authorization header."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.seen: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.seen.append((self.path, self.headers.get("Authorization")))
                status, headers, body = server.routes.get(self.path, (404, {}, b""))
                ranged = self.headers.get("Range", "")
                if status == 200 and ranged.startswith("bytes="):  # as the Hub's CDN answers
                    first, _, last = ranged.removeprefix("bytes=").partition("-")
                    status, body = 206, body[int(first):int(last) + 1]
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def servers() -> Iterator[tuple[Server, Server]]:
    first, second = Server(), Server()
    try:
        yield first, second
    finally:
        first.close()
        second.close()


CONFIG_PATH = "/Qwen/Qwen3-8B/resolve/main/config.json"
QWEN = (HUB / "Qwen/Qwen3-8B/config.json").read_bytes()


def fetch(server: Server, **kwargs: Any) -> dict[str, Any]:
    return hub.fetch_config("Qwen/Qwen3-8B", endpoint=server.url, timeout=5, **kwargs)


def test_the_token_is_dropped_on_a_redirect_to_another_host(
        servers: tuple[Server, Server]) -> None:
    hub_server, other = servers
    hub_server.routes[CONFIG_PATH] = (302, {"Location": other.url + "/cdn/config.json"}, b"")
    other.routes["/cdn/config.json"] = (200, {}, QWEN)
    assert fetch(hub_server, token="hf_secret") == json.loads(QWEN)
    assert hub_server.seen == [(CONFIG_PATH, "Bearer hf_secret")]
    assert other.seen == [("/cdn/config.json", None)]


def test_the_token_follows_a_redirect_within_the_hub(servers: tuple[Server, Server]) -> None:
    hub_server, _ = servers  # a renamed repository answers 307 to its new name, same origin
    hub_server.routes["/Qwen/Old/resolve/main/config.json"] = (307, {"Location": CONFIG_PATH},
                                                               b"")
    hub_server.routes[CONFIG_PATH] = (200, {}, QWEN)
    config = hub.fetch_config("Qwen/Old", endpoint=hub_server.url, timeout=5, token="hf_s")
    assert config["model_type"] == "qwen3"
    assert hub_server.seen == [("/Qwen/Old/resolve/main/config.json", "Bearer hf_s"),
                               (CONFIG_PATH, "Bearer hf_s")]


def test_no_token_no_header(servers: tuple[Server, Server]) -> None:
    hub_server, _ = servers
    hub_server.routes[CONFIG_PATH] = (200, {}, QWEN)
    assert fetch(hub_server)["model_type"] == "qwen3"
    assert hub_server.seen == [(CONFIG_PATH, None)]


@pytest.mark.parametrize(("code", "error_code", "token", "status"), [
    (401, "GatedRepo", None, "gated"),
    (404, "EntryNotFound", None, "no_config"),
    (401, "", "hf_bad", "unauthorized"),
    (429, "", None, "rate_limited"),
])
def test_fetch_failures(servers: tuple[Server, Server], code: int, error_code: str,
                        token: str | None, status: str) -> None:
    hub_server, _ = servers
    hub_server.routes[CONFIG_PATH] = (code, {"X-Error-Code": error_code}, b"{}")
    error = failure(fetch, hub_server, token=token)
    assert (error.status, error.http_status) == (status, code)


def test_fetch_refuses_a_body_over_the_bound(servers: tuple[Server, Server],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    hub_server, _ = servers
    hub_server.routes[CONFIG_PATH] = (200, {}, QWEN)
    monkeypatch.setattr(hub, "MAX_CONFIG_BYTES", 100)
    assert failure(fetch, hub_server).status == "invalid_config"


def test_fetch_with_nothing_listening_is_offline() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = failure(hub.fetch_config, "Qwen/Qwen3-8B", endpoint=f"http://127.0.0.1:{port}",
                    timeout=5)
    assert error.status == "offline"


def test_fetch_checks_before_sending(servers: tuple[Server, Server]) -> None:
    hub_server, _ = servers
    assert failure(fetch, hub_server, revision="../../x?y=").status == "invalid_revision"
    assert failure(hub.fetch_config, "a/b\n", endpoint=hub_server.url).status == "invalid_id"
    assert failure(fetch, hub_server, token="hf_a\r\nX-Injected: 1").status == "unauthorized"
    assert hub_server.seen == []


# ----------------------------------------------------------------------------------------
# Tokens: huggingface_hub's places


def test_token_path_follows_huggingface_hub(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    home = str(tmp_path / "home")
    assert hub.token_path({}) == f"{home}/.cache/huggingface/token"
    assert hub.token_path({"XDG_CACHE_HOME": "/x"}) == "/x/huggingface/token"
    assert hub.token_path({"HF_HOME": "~/hf", "XDG_CACHE_HOME": "/x"}) == f"{home}/hf/token"
    assert hub.token_path({"HF_TOKEN_PATH": "/t/tok", "HF_HOME": "/h"}) == "/t/tok"


def test_find_token(tmp_path: Path) -> None:
    path = tmp_path / "token"
    env = {"HF_TOKEN_PATH": str(path)}
    assert hub.find_token(env) is None  # no file, no variable
    path.write_text("hf_file\r\n")
    assert hub.find_token(env) == "hf_file"
    assert hub.find_token({**env, "HF_TOKEN": " hf_env\n"}) == "hf_env"
    assert hub.find_token({**env, "HF_TOKEN": ""}) == "hf_file"  # empty: not set
    path.write_text("\n")
    assert hub.find_token(env) is None


# ----------------------------------------------------------------------------------------
# The CLI's side


def recorded_fetch(calls: list[tuple[str, str | None, str]]) -> Any:
    def fake(model_id: str, *, token: str | None, revision: str) -> dict[str, Any]:
        calls.append((model_id, token, revision))
        return json.loads((HUB / model_id / "config.json").read_text(encoding="utf-8"))

    return fake


@pytest.fixture
def no_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No HF_TOKEN, and a token file path with nothing there yet."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    path = tmp_path / "token"
    monkeypatch.setenv("HF_TOKEN_PATH", str(path))
    return path


def test_cli_hf_uses_token_from_environment(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str],
                                            no_token: Path) -> None:
    calls: list[tuple[str, str | None, str]] = []
    monkeypatch.setattr(hub, "fetch_config", recorded_fetch(calls))
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    assert cli.main(["estimate", "--hf", "Qwen/Qwen3-8B", "--engine", "vllm", "--gpu",
                     "rtx-4090", "--max-model-len", "8192", "--json"]) == 0
    assert calls == [("Qwen/Qwen3-8B", "hf_env", "main")]
    out, err = capsys.readouterr()
    assert json.loads(out)["details"]["vllm"]["max_model_len"] == 8192
    assert err == ""


def test_cli_hf_uses_the_token_file(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str], no_token: Path) -> None:
    calls: list[tuple[str, str | None, str]] = []
    monkeypatch.setattr(hub, "fetch_config", recorded_fetch(calls))
    no_token.write_text("hf_from_file\n")
    assert cli.main(["estimate", "--hf", "Qwen/Qwen3-8B", "--revision", "refs/pr/1"]) == 0
    assert calls == [("Qwen/Qwen3-8B", "hf_from_file", "refs/pr/1")]
    assert capsys.readouterr().err == ""


def test_cli_token_flag_works_with_a_warning(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str],
                                             no_token: Path) -> None:
    calls: list[tuple[str, str | None, str]] = []
    monkeypatch.setattr(hub, "fetch_config", recorded_fetch(calls))
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    assert cli.main(["estimate", "--hf", "Qwen/Qwen3-8B", "--token", "hf_flag"]) == 0
    assert calls == [("Qwen/Qwen3-8B", "hf_flag", "main")]
    assert capsys.readouterr().err == (
        "vramcalc: warning: --token is visible to other users in `ps` and in shell history; "
        "set HF_TOKEN instead\n")


def test_cli_unreadable_token_file(capsys: pytest.CaptureFixture[str], no_token: Path) -> None:
    no_token.mkdir()
    assert cli.main(["estimate", "--hf", "Qwen/Qwen3-8B"]) == cli.EXIT_BAD_INPUT
    assert capsys.readouterr().err == (
        f"vramcalc: cannot read the Hugging Face token file {no_token}: Is a directory\n")


def test_cli_hf_failure_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str], no_token: Path) -> None:
    def fake(model_id: str, *, token: str | None, revision: str) -> dict[str, Any]:
        raise hub.HubError("gated", model_id)

    monkeypatch.setattr(hub, "fetch_config", fake)
    assert cli.main(["estimate", "--hf", MODEL]) == cli.EXIT_BAD_INPUT
    assert capsys.readouterr().err == f"vramcalc: {CLI_MESSAGES['gated']}\n"


def test_cli_bad_revision_and_id(capsys: pytest.CaptureFixture[str], no_token: Path) -> None:
    # refused before any request: the real fetch_config, and no network
    assert cli.main(["estimate", "--hf", MODEL, "--revision", "../../x?y="]) == 2
    assert capsys.readouterr().err == (
        "vramcalc: '../../x?y=' is not a branch, tag or commit of a Hugging Face repository: "
        "use names of letters, digits, '.', '_' and '-' joined by '/', such as main, v1.0, "
        "refs/pr/1 or a commit hash.\n")
    assert cli.main(["estimate", "--hf", MODEL + "\n"]) == 2
    assert capsys.readouterr().err == (
        f"vramcalc: '{MODEL}\\n' is not a Hugging Face model id: use the form owner/name, "
        "e.g. meta-llama/Llama-3.1-8B.\n")


# ----------------------------------------------------------------------------------------
# The checkpoint's stored size: the cross-check beside the architecture


def _header(tensors: dict[str, Any]) -> bytes:
    body = json.dumps(tensors).encode()
    return len(body).to_bytes(8, "little") + body


def test_a_safetensors_header_gives_the_tensor_bytes() -> None:
    # 4 x 3 BF16 (24 B) + 5 F32 (20 B) + 2 x 2 F8_E4M3 (4 B); the metadata is not a tensor
    data = _header({"__metadata__": {"format": "pt"},
                    "a": {"dtype": "BF16", "shape": [4, 3], "data_offsets": [0, 24]},
                    "b": {"dtype": "F32", "shape": [5], "data_offsets": [24, 44]},
                    "c": {"dtype": "F8_E4M3", "shape": [2, 2], "data_offsets": [44, 48]}})
    length = hub.header_length(data[:8])
    assert length == len(data) - 8
    assert hub.read_header(data[8:]) == 24 + 20 + 4
    assert hub.read_header(b'{"a": {"dtype": "Q9", "shape": [1]}}') is None
    assert hub.header_length(b"\x00" * 8) is None and hub.header_length(b"ab") is None


def test_the_index_gives_the_total() -> None:
    # Meta-Llama-3.1-8B's model.safetensors.index.json: metadata.total_size
    assert hub.read_index(b'{"metadata": {"total_size": 16060522496}, "weight_map": {}}') == (
        16_060_522_496)
    assert hub.read_index(b'{"weight_map": {}}') is None
    assert hub.read_index(b"not json") is None


def test_fetch_checkpoint_bytes_reads_the_index_then_the_header(
        servers: tuple[Server, Server], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()
    monkeypatch.setenv("no_proxy", "*")
    server, _ = servers
    base = "/Qwen/Qwen3-8B/resolve/main/"
    server.routes[base + "model.safetensors.index.json"] = (
        200, {}, b'{"metadata": {"total_size": 1234}}')
    assert hub.fetch_checkpoint_bytes("Qwen/Qwen3-8B", endpoint=server.url, timeout=5) == 1234
    del server.routes[base + "model.safetensors.index.json"]
    header = _header({"w": {"dtype": "BF16", "shape": [10, 10], "data_offsets": [0, 200]}})
    server.routes[base + "model.safetensors"] = (200, {}, header + b"\x00" * 200)
    assert hub.fetch_checkpoint_bytes("Qwen/Qwen3-8B", endpoint=server.url, timeout=5) == 200


def test_the_estimate_puts_the_checkpoint_beside_the_architecture() -> None:
    from vramcalc import estimate

    llama = "meta-llama/Llama-3.1-8B"
    r = estimate({"mode": "inference", "fit_gpus": [],
                  "model": {"preset": llama, "checkpoint_bytes": 16_060_522_496}})
    assert r["details"]["checkpoint"] == {
        "stored_bytes": 16_060_522_496, "architecture_bytes": 16_060_522_496, "format": "bf16",
        "difference_percent": 0.0}
    off = estimate({"mode": "inference", "fit_gpus": [],
                    "model": {"preset": llama, "checkpoint_bytes": 17_000_000_000}})
    assert [w["code"] for w in off["warnings"]] == ["checkpoint_size_differs"]
