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

import vramcalc
from vramcalc.__main__ import main
from vramcalc.units import natural_size

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


# --- GPUs of one's own, training flags, exit statuses, lists ---------------------------------

def test_a_gpu_of_ones_own(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["estimate", "--json", "--gpu-memory", "48GiB", "--gpu-bandwidth",
                          "1008", "--gpu-tflops", "165", "--gpu-name", "4090 48GB",
                          "--gpu-compute-capability", "8.9"], capsys)
    assert (code, err) == (0, "")
    response = json.loads(out)
    assert response["request"]["gpu"] == {
        "name": "4090 48GB", "memory_bytes": 48 * 2**30, "usable_fraction": 1.0,
        "bandwidth_gb_s": 1008.0, "bf16_tflops": 165.0, "fp16_tflops": 165.0,
        "compute_capability": "8.9", "vendor": "nvidia", "kind": "discrete"}
    assert response["fit"]["gpus"][-1]["name"] == "4090 48GB"
    code, out, _ = run(["estimate", "--gpu-memory", "48GiB", "--gpu-name", "4090 48GB"], capsys)
    assert code == 0
    assert "  4090 48GB                         48.00 GiB   yes" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--gpu", "rtx-4090", "--gpu-memory", "24GiB"],
     "--gpu names a catalog GPU and --gpu-memory (with the other --gpu-* flags) describes "
     "another: give one or the other"),
    (["--gpu-memory", "24"], "--gpu-memory: '24' is not a size: give a number and a unit, "
     "such as 24GiB, 24GB or 512MiB"),
    (["--gpu-bandwidth", "900"], "gpu.memory_bytes: is required"),
    (["--batch-size", "8"], "--batch-size is ambiguous: use --batch for the batch size "
     "(training: the micro batch size) or --n-batch for llama.cpp's logical batch (-b)"),
    (["--mode", "inference", "--method", "lora", "--zero", "2"],
     "--method, --zero: training flags, but --mode is inference"),
    (["--fail-if-not-fit"], "--fail-if-not-fit needs a GPU: --gpu ID, or --gpu-memory SIZE for "
     "one the catalog lacks"),
])
def test_flags_that_cannot_work_are_refused(args: list[str], message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["estimate", *args], capsys)
    assert (code, out, err) == (2, "", f"vramcalc: {message}\n")


def test_training_flags(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["estimate", "--json", "--method", "lora", "--lora-rank", "8",
                          "--lora-alpha", "16", "--lora-targets", "q_proj,k_proj,v_proj",
                          "--optimizer", "adamw_8bit", "--precision", "bf16",
                          "--checkpointing", "full", "--framework", "hf_trainer",
                          "--micro-batch", "2", "--seq", "4096", "--grad-accum", "8",
                          "--zero", "2", "--dp", "2", "--offload-optimizer",
                          "--loss", "chunked"], capsys)
    assert (code, err) == (0, "")
    req = json.loads(out)["request"]
    assert req["mode"] == "training"
    assert {k: req[k] for k in ("method", "optimizer", "precision", "gradient_checkpointing",
                                "micro_batch_size", "sequence_length",
                                "gradient_accumulation_steps", "loss")} == {
        "method": "lora", "optimizer": "adamw_8bit", "precision": "bf16",
        "gradient_checkpointing": "full", "micro_batch_size": 2, "sequence_length": 4096,
        "gradient_accumulation_steps": 8, "loss": "chunked"}
    assert req["lora"] == {"rank": 8, "alpha": 16.0, "dropout": 0.05,
                           "target_modules": ["q_proj", "k_proj", "v_proj"]}
    assert {k: req["parallel"][k] for k in ("data", "zero_stage", "offload_optimizer")} == {
        "data": 2, "zero_stage": 2, "offload_optimizer": True}
    code, out, _ = run(["estimate", "--json", "--method", "qlora", "--lora-targets",
                        "all-linear"], capsys)
    assert code == 0 and json.loads(out)["request"]["lora"]["target_modules"] == "all-linear"


def test_n_batch_is_llama_cpps_batch(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["estimate", "--json", "--engine", "llama.cpp", "--n-batch", "512"],
                       capsys)
    assert code == 0 and json.loads(out)["request"]["llama_cpp"]["n_batch"] == 512
    assert json.loads(out)["request"]["batch_size"] == 1


def test_fail_if_not_fit(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["estimate", "-m", "meta-llama/Llama-3.1-70B", "--gpu", "rtx-4090",
                          "--fail-if-not-fit"], capsys)
    response = vramcalc.estimate({"mode": "inference", "model": {
        "preset": "meta-llama/Llama-3.1-70B"}, "gpu": "rtx-4090", "fit_gpus": []})
    short = natural_size(-response["fit"]["gpus"][0]["headroom_bytes"])
    assert (code, err) == (3, f"vramcalc: does not fit GeForce RTX 4090 24GB ({short} short)\n")
    assert "GeForce RTX 4090 24GB" in out  # the table is printed all the same
    code, _, err = run(["estimate", "--gpu", "h100-sxm", "--fail-if-not-fit"], capsys)
    assert (code, err) == (0, "")
    help_text = vramcalc_process("estimate", "--help").stdout.decode()
    assert "exit status: 0 on success, 2 for bad input" in " ".join(help_text.split())
    assert "3 with --fail-if-not-fit when the request does not fit" in " ".join(
        help_text.split())


def test_unknown_names_get_close_matches_and_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["estimate", "-m", "Qwen/Qwen3-8b", "--gpu", "rtx4090"], capsys)
    assert code == 2
    assert err.splitlines() == [
        "vramcalc: model.preset: unknown model preset 'Qwen/Qwen3-8b' (did you mean "
        "'Qwen/Qwen3-8B', 'Qwen/Qwen3-4B' or 'Qwen/Qwen3-32B'?); another model: give its "
        "config.json as {\"config\": {...}}",
        "vramcalc: gpu: unknown GPU id 'rtx4090' (did you mean 'rtx-4090', 'rtx-5090' or "
        "'rtx-4060'?); another GPU: describe it as an object {\"name\": ..., "
        "\"memory_bytes\": ...}",
        "vramcalc: hint: `vramcalc models` lists the presets; --hf OWNER/NAME reads any "
        "model's config.json from the Hugging Face Hub, --config PATH a local one",
        "vramcalc: hint: `vramcalc gpus` lists the GPUs; --gpu-memory 24GiB (with "
        "--gpu-bandwidth, --gpu-tflops) describes one the catalog lacks",
    ]


def test_lists_show_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["models"], capsys)
    lines = out.splitlines()
    assert f"{'Qwen/Qwen3-30B-A3B':<50} {'Qwen3 30B-A3B':<34} 30.53B (3.35B active)" in lines
    assert f"{'meta-llama/Llama-3.1-8B':<50} {'Llama 3.1 8B':<34} 8.03B" in lines
    _, out, _ = run(["gpus"], capsys)
    lines = out.splitlines()
    assert f"{'dgx-spark':<22} {'NVIDIA DGX Spark 128GB (GB10)':<44} {'128.00 GiB':>11} " \
           f"{'273 GB/s':>12}  (unified: 102.40 GiB usable)" in lines
    assert f"{'rtx-4090':<22} {'GeForce RTX 4090 24GB':<44} {'23.99 GiB':>11} " \
           f"{'1,008 GB/s':>12}" in lines


def test_the_table_shows_gpus_needed_and_host_memory(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    _, out, _ = run(["estimate", "-m", "meta-llama/Llama-3.1-70B", "--gpu", "rtx-4090"], capsys)
    assert out.splitlines()[-1].endswith("  8 (TP 8)")
    assert ("host memory (per process): 0 B resident; loading peaks at 4.66 GiB (one "
            "checkpoint shard); download 131.42 GiB") in out
    _, out, _ = run(["estimate", "--mode", "training", "--gpu", "rtx-4090", "--checkpointing",
                     "full"], capsys)
    needed = vramcalc.estimate({"mode": "training", "model": {
        "preset": "meta-llama/Llama-3.1-8B"}, "gpu": "rtx-4090", "gradient_checkpointing":
        "full", "fit_gpus": []})["fit"]["gpus"][0]["gpus_needed"]
    assert out.splitlines()[-1].endswith(f"  {needed} (DP {needed}, ZeRO-3)")


def test_apple_gpus_print_no_cuda_context(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["estimate", "--gpu", "m4-max-64gb", "--engine", "llama.cpp"], capsys)
    assert "  CUDA context " not in out  # the component; the warning says why
    assert "warning: Apple M4 Max 64GB runs Metal, which has no CUDA context" in out
    _, out, _ = run(["estimate", "--gpu", "rtx-4090", "--engine", "llama.cpp"], capsys)
    assert "  CUDA context " in out


def test_the_readme_shows_what_the_cli_prints(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = "vramcalc estimate --context 8192 --gpu rtx-4090\n```\n\n```\n"
    start = readme.index(command) + len(command)
    shown = readme[start:readme.index("```", start)]
    _, out, _ = run(["estimate", "--context", "8192", "--gpu", "rtx-4090"], capsys)
    assert out == shown


def test_pipeline_stages_for_vllm(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["estimate", "-m", "meta-llama/Llama-3.1-405B", "--engine", "vllm", "--gpu",
            "h100-sxm"]
    code, out, _ = run([*args, "--json", "--tp", "8", "--pp", "2"], capsys)
    assert code == 0 and json.loads(out)["request"]["parallel"] == {"tensor": 8, "pipeline": 2}
    _, out, _ = run(args, capsys)
    assert out.splitlines()[-1].endswith("  16 (TP 8, PP 2)")


def test_sglang_and_ollama_flags_reach_their_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimate", "-m", "Qwen/Qwen3-8B", "--engine", "sglang", "--gpu", "h100-sxm",
                 "--context-length", "32768", "--mem-fraction-static", "0.8",
                 "--disable-radix-cache", "--json"]) == 0
    sglang = json.loads(capsys.readouterr().out)["request"]["sglang"]
    assert (sglang["context_length"], sglang["mem_fraction_static"],
            sglang["disable_radix_cache"]) == (32768, 0.8, True)
    assert main(["estimate", "--ollama", "llama3.1:8b", "--engine", "ollama", "--gpu",
                 "rtx-4090", "--num-ctx", "8192", "--num-parallel", "2", "--kv-cache-type",
                 "q8_0", "--flash-attention", "on", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)["request"]
    assert answer["model"] == {"ollama": "llama3.1:8b"}
    assert {k: answer["ollama"][k] for k in ("num_ctx", "num_parallel", "kv_cache_type",
                                             "flash_attention")} == {
        "num_ctx": 8192, "num_parallel": 2, "kv_cache_type": "q8_0", "flash_attention": True}
