"""The command line (vramcalc/__main__.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from vramcalc.__main__ import main


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
    assert code == 2 and "not valid JSON" in err
    code, _, err = run(["estimate", "--set", "batch_size"], capsys)
    assert (code, err) == (2, "vramcalc: --set needs FIELD=VALUE, got 'batch_size'\n")


def test_lists(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["models"], capsys)
    assert code == 0 and "meta-llama/Llama-3.1-8B" in out
    code, out, _ = run(["gpus"], capsys)
    assert code == 0 and "h100-sxm" in out and "GiB" in out
