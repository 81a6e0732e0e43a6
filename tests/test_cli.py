"""The command line (vramcalc/__main__.py)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vramcalc.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_shortcut_prints_a_gib_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["estimate", "--preset", "meta-llama/Llama-3.1-8B", "--context", "8192",
                        "--gpu", "rtx-4090"], capsys)
    assert code == 0
    assert "Weights" in out and "14.96 GiB" in out
    assert " GB " not in out.replace("GB;", "")  # decimal GB appears only as the labelled total
    assert "GeForce RTX 4090" in out


def test_json_output_is_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["estimate", "--json", "--batch", "2", "--set", "attention=eager"], capsys)
    assert code == 0
    response = json.loads(out)
    assert response["request"]["batch_size"] == 2
    assert response["request"]["attention"] == "eager"


def test_request_file_and_stdin(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    req = {"mode": "inference", "model": {"preset": "Qwen/Qwen3-8B"}, "context_length": 32768}
    path = tmp_path / "req.json"
    path.write_text(json.dumps(req))
    code, out, _ = run(["estimate", str(path), "--json"], capsys)
    assert code == 0 and json.loads(out)["request"]["context_length"] == 32768
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(req)))
    code, out, _ = run(["estimate", "-", "--json"], capsys)
    assert code == 0 and json.loads(out)["model"]["layers"] == 36


def test_config_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = {"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 12,
              "num_hidden_layers": 2, "num_attention_heads": 2}
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "config.json").write_text(json.dumps(config))
    code, out, _ = run(["estimate", "--config", str(tmp_path / "tiny" / "config.json"),
                        "--json"], capsys)
    # MHA (no num_key_value_heads): per layer q, k, v, o 4 * 64 + MLP 288 + norms 16 = 560
    assert code == 0 and json.loads(out)["parameters"]["total"] == 80 + 2 * 560 + 8 + 80


def test_bad_input_exits_2_with_named_problems(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["estimate", "--batch", "0", "--weight-format", "int3"], capsys)
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "vramcalc: weight_format: unknown weight format 'int3'; one of: "
        + err.splitlines()[0].split("one of: ")[1],
        "vramcalc: batch_size: must be an integer >= 1, got 0",
    ]


def test_unreadable_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["estimate", str(tmp_path / "missing.json")], capsys)
    assert code == 2 and err.startswith("vramcalc: cannot read ")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run(["estimate", str(bad)], capsys)
    assert (code, err) == (2, f"vramcalc: {bad} is not valid JSON (Expecting property name "
                              "enclosed in double quotes, line 1 column 2)\n")
    bad.write_text("[1, 2]")
    code, _, err = run(["estimate", str(bad)], capsys)
    assert (code, err) == (2, f"vramcalc: {bad}: the request must be a JSON object\n")
    code, _, err = run(["estimate", "--set", "batch_size"], capsys)
    assert (code, err) == (2, "vramcalc: --set needs FIELD=VALUE, got 'batch_size'\n")


def test_lists(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["models"], capsys)
    assert code == 0 and "meta-llama/Llama-3.1-8B" in out
    code, out, _ = run(["gpus"], capsys)
    assert code == 0 and "h100-sxm" in out and "GiB" in out


def test_binary_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stdin = io.TextIOWrapper(io.BytesIO('{"mode": "inference"}'.encode("utf-16")))
    monkeypatch.setattr("sys.stdin", stdin)
    code, _, err = run(["estimate", "-"], capsys)
    assert (code, err) == (2, "vramcalc: the request on stdin is UTF-16 text, not UTF-8: save "
                              "it as UTF-8\n")


def test_set_values_within_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["estimate", "--set", "x=" + "[" * 10_000 + "]" * 10_000], capsys)
    assert (code, err) == (2, "vramcalc: --set x is nested more than 64 levels deep\n")
    code, _, err = run(["estimate", "--set", "engine=NaN"], capsys)  # not JSON: a word
    assert (code, err) == (2, "vramcalc: engine: must be one of transformers, vllm, llama.cpp, "
                              "sglang, ollama; "
                              "got 'NaN'\n")


# --- as a user runs it: a separate process, its exit status and its stderr ---------------

UTF16_REQUEST = '{"mode": "inference"}'.encode("utf-16")
LATIN1_REQUEST = '{"mode": "inference", "model": {"name": "café"}}'.encode("latin-1")
BINARY = bytes(range(256))
DEEP = b"[" * 10_000 + b"]" * 10_000


def vramcalc_process(*args: str, stdin: bytes = b"", stdout: Any = subprocess.PIPE,
                     env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """`python -m vramcalc ARGS` from the checkout (python -m puts it first on sys.path)."""
    return subprocess.run([sys.executable, "-m", "vramcalc", *args], input=stdin,
                          stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT, timeout=120,
                          check=False, env=env)


@pytest.mark.parametrize(("content", "problem"), [
    (UTF16_REQUEST, "is UTF-16 text, not UTF-8: save it as UTF-8"),
    (LATIN1_REQUEST, "is not UTF-8 text (byte 0xe9 at offset 44; Latin-1 or another legacy "
     "encoding?): save it as UTF-8"),
    (BINARY, "is a binary file, not JSON text"),
    (DEEP, "is nested more than 64 levels deep"),
])
def test_unreadable_files_give_one_line(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(content)
    for args in (["estimate", str(path)], ["estimate", "--config", str(path)]):
        done = vramcalc_process(*args)
        assert (done.returncode, done.stdout) == (2, b"")
        assert done.stderr.decode() == f"vramcalc: {path} {problem}\n"
    done = vramcalc_process("estimate", "-", stdin=content)
    assert (done.returncode, done.stderr.decode()) == (
        2, f"vramcalc: the request on stdin {problem}\n")


def test_bad_revision_in_a_process() -> None:
    env = {**os.environ, "HF_TOKEN": "hf_never_sent"}
    done = vramcalc_process("estimate", "--hf", "Qwen/Qwen3-8B", "--revision", "../../x?y=",
                            env=env)
    assert (done.returncode, done.stdout) == (2, b"")
    assert done.stderr.decode() == (
        "vramcalc: '../../x?y=' is not a branch, tag or commit of a Hugging Face repository: "
        "use names of letters, digits, '.', '_' and '-' joined by '/', such as main, v1.0, "
        "refs/pr/1 or a commit hash.\n")


@pytest.mark.parametrize("unbuffered", ["", "1"])
@pytest.mark.parametrize("args", [
    ["estimate"], ["estimate", "--json"], ["gpus"], ["models"], ["--help"],
])
def test_a_closed_stdout_ends_quietly(args: list[str], unbuffered: str) -> None:
    """`vramcalc ... | head -1` once head has gone: every write meets a closed pipe, at once
    (PYTHONUNBUFFERED) or at the last flush."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = unbuffered
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = vramcalc_process(*args, stdout=write_end, env=env)
    finally:
        os.close(write_end)
    # argparse's --help ignores a failed write itself, then exits 0
    status = 0 if args == ["--help"] and unbuffered else 1
    assert (done.returncode, done.stderr) == (status, b"")


def test_head_reads_the_first_line() -> None:
    done = subprocess.run(f"{sys.executable} -m vramcalc gpus | head -1", shell=True,
                          capture_output=True, cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0 and done.stderr == b""
    assert done.stdout.decode().startswith("t4 ") and done.stdout.count(b"\n") == 1
