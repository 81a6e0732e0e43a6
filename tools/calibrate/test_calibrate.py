"""Tests of the calibration harness itself (not of vramcalc).

    python -m pytest tools/calibrate/test_calibrate.py          # torch-free tests always run
    /path/to/venv-with-torch/bin/python -m pytest tools/calibrate/test_calibrate.py

The tests that build models need torch, transformers and peft and are skipped without them.
"""

from __future__ import annotations

import json
import pathlib
import shlex
import sys
import types
from typing import Any

import gpu_driver
import measure  # imports torch only inside functions
import pytest
import specs
import suite

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "calibration"


TRAINING_KEYS = {
    "mode", "model", "method", "micro_batch_size", "sequence_length",
    "gradient_accumulation_steps", "precision", "optimizer", "optimizer_implementation",
    "gradient_checkpointing", "attention", "loss", "framework",
}
INFERENCE_KEYS = {"mode", "model", "batch_size", "context_length", "weight_format",
                  "kv_cache_dtype", "engine", "attention"}
ALL_RUNS = [*suite.GPU_SUITE, *suite.CPU_SUITE]


# ----------------------------------------------------------------------------- configs


def test_configs_name_their_hub_model_and_where_they_were_read() -> None:
    models = specs.list_models()
    assert len(models) >= 5
    for model in models:
        config, source = specs.load_config(model)
        assert set(source) >= {"model_id", "hub_file", "read_in"}, model
        assert source["hub_file"] == f"https://huggingface.co/{source['model_id']}/blob/main/config.json"
        assert config["model_type"] in {"llama", "mistral", "qwen2", "qwen3", "deepseek_v2",
                                        "gemma2", "phi3", "qwen3_moe", "gpt2"}, model


def test_configs_span_the_vocabularies_and_attention_kinds_asked_for() -> None:
    configs = [specs.load_config(m)[0] for m in specs.list_models()]
    vocabs = {c["vocab_size"] for c in configs}
    assert min(vocabs) == 32000 and max(vocabs) == 256000  # Llama 2 tokenizer .. Gemma 2
    llama_like = [c for c in configs if c["model_type"] != "gpt2"]  # GPT-2: n_head, no GQA
    grouped = [c["num_key_value_heads"] < c["num_attention_heads"] for c in llama_like]
    assert any(grouped) and not all(grouped)  # GQA and full multi-head attention


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"^model: no config nope\.json \(known: "):
        specs.TrainSpec(model="nope")


def test_tiny_config_keeps_the_quirks() -> None:
    qwen3, _ = specs.load_config("qwen3-4b")  # head_dim set apart from hidden/heads
    tiny = specs.tiny_config(qwen3)
    assert tiny["head_dim"] * tiny["num_attention_heads"] != tiny["hidden_size"]
    assert tiny["num_key_value_heads"] < tiny["num_attention_heads"]
    smollm, _ = specs.load_config("smollm2-1.7b-instruct")  # full multi-head attention
    tiny = specs.tiny_config(smollm)
    assert tiny["num_key_value_heads"] == tiny["num_attention_heads"]
    assert tiny["tie_word_embeddings"] is True


# ----------------------------------------------------------------------------- specs


def test_bad_spec_values_are_all_reported() -> None:
    with pytest.raises(ValueError) as caught:
        specs.TrainSpec(model="qwen2.5-0.5b", precision="fp16", batch=0)  # type: ignore[arg-type]
    assert str(caught.value) == ("batch: must be a positive integer, got 0; precision: must be "
                                 "one of fp32, mixed_bf16, bf16, got 'fp16'")


@pytest.mark.parametrize("run", ALL_RUNS, ids=lambda r: r.id)
def test_spec_json_round_trip(run: specs.Spec) -> None:
    assert specs.spec_from_json(json.loads(json.dumps(specs.spec_to_json(run)))) == run


@pytest.mark.parametrize("run", [r for r in ALL_RUNS if not isinstance(r, specs.ContextSpec)],
                         ids=lambda r: r.id)
def test_command_reproduces_the_spec(run: specs.TrainSpec | specs.InferSpec) -> None:
    argv = shlex.split(specs.command(run, "cuda"))
    assert argv[:2] == ["python3", "tools/calibrate/measure.py"]
    args = measure.build_parser().parse_args(argv[2:])
    assert measure.spec_from_args(args) == run
    assert args.device == "cuda"


def test_training_request_fields() -> None:
    config, source = specs.load_config("llama-3.1-8b")
    full = specs.TrainSpec(model="llama-3.1-8b", batch=2, seq=1024).request(config, "x")
    assert set(full) == TRAINING_KEYS
    assert full["model"] == {"config": config, "name": "x"}
    lora = specs.TrainSpec(model="llama-3.1-8b", method="lora", lora_targets="all-linear")
    request = lora.request(config, source["model_id"])
    assert set(request) == TRAINING_KEYS | {"lora"}
    assert request["lora"] == {"rank": 16, "alpha": 32, "dropout": 0.05,
                               "target_modules": "all-linear"}


def test_inference_request_fields() -> None:
    config, _ = specs.load_config("qwen2.5-0.5b")
    request = specs.InferSpec(model="qwen2.5-0.5b", batch=4, context=4096,
                              new_tokens=8).request(config, "Qwen/Qwen2.5-0.5B")
    assert set(request) == INFERENCE_KEYS
    assert (request["context_length"], request["attention"]) == (4096, "sdpa")


# ----------------------------------------------------------------------------- suites


def test_suite_ids_are_unique_and_gpu_rows_have_cpu_twins() -> None:
    for runs in (suite.GPU_SUITE, suite.CPU_SUITE):
        ids = [r.id for r in runs]
        assert len(ids) == len(set(ids))
    cpu_ids = {r.id for r in suite.CPU_SUITE}
    gpu_ids = {r.id for r in suite.GPU_SUITE if not isinstance(r, specs.ContextSpec)}
    assert gpu_ids <= cpu_ids


def test_suites_keep_their_documented_size_when_a_config_is_added() -> None:
    # docs/calibration.md: the gpu suite is 73 runs (72 and the context), the cpu suite 77,
    # over the 8 grid models; the family configs have runs of their own
    assert (len(suite.GPU_SUITE), len(suite.CPU_SUITE)) == (73, 77)
    grid = {r.model for r in ALL_RUNS if not isinstance(r, specs.ContextSpec)}
    assert grid == set(suite.GRID_MODELS)
    assert set(specs.list_models()) == grid | {
        r.model for r in (*suite.FAMILY_RUNS, *suite.GPT2_RUNS)
        if not isinstance(r, specs.ContextSpec)}


def test_gpu_suite_starts_with_the_bare_context_and_fits_six_minutes() -> None:
    gpu = suite.SUITES["gpu"]
    assert isinstance(gpu.runs[0], specs.ContextSpec)
    assert gpu.deadline_s + 15 < 360  # the kill after the deadline, Python start-up aside


def test_cpu_suite_covers_the_grid() -> None:
    runs = [r for r in suite.CPU_SUITE if isinstance(r, specs.TrainSpec)]
    assert {r.precision for r in runs} == set(specs.PRECISIONS)
    assert {r.checkpointing for r in runs} == set(specs.CHECKPOINTING)
    assert {r.attention for r in runs} == set(specs.ATTENTIONS)
    assert {r.optimizer_impl for r in runs} == set(specs.OPTIMIZER_IMPLS)
    lora = [r for r in runs if r.method == "lora"]
    assert {r.lora_rank for r in lora} >= {8, 64}
    assert {r.lora_targets for r in lora} >= {("q_proj", "v_proj"), "all-linear"}
    assert (1, 512) in {(r.batch, r.seq) for r in runs} and (8, 4096) in {
        (r.batch, r.seq) for r in runs}
    assert len(suite.CPU_SUITE) >= 40


def test_smoke_selection_shrinks_every_model_run() -> None:
    runs = suite.select(suite.SUITES["gpu"], tiny=True)
    assert all(r.tiny and r.seq <= 128 for r in runs if isinstance(r, specs.TrainSpec))
    assert all(r.tiny and r.context <= 256 for r in runs if isinstance(r, specs.InferSpec))


# ----------------------------------------------------------------------------- driver


def test_nvidia_smi_parsing() -> None:
    apps = "1234, GPU-aaa, 1024\n77, GPU-aaa, 5\n1234, GPU-bbb, 2\n"
    mib = 2**20
    assert gpu_driver.parse_smi_apps(apps, 1234) == {"GPU-aaa": 1024 * mib, "GPU-bbb": 2 * mib}
    gpus = "GPU-aaa, 2048\nGPU-bbb, [N/A]\n"
    assert gpu_driver.parse_smi_gpus(gpus) == [("GPU-aaa", 2048 * mib)]


def _fake_pynvml(pids: list[int]) -> types.ModuleType:
    nvml: Any = types.ModuleType("pynvml")
    nvml.nvmlInit = lambda: None
    nvml.nvmlDeviceGetCount = lambda: 2
    nvml.nvmlDeviceGetHandleByIndex = lambda i: i
    nvml.nvmlDeviceGetUUID = lambda h: f"GPU-{h}"
    nvml.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=(h + 1) * 1000)
    nvml.nvmlDeviceGetComputeRunningProcesses = lambda h: [
        types.SimpleNamespace(pid=p, usedGpuMemory=700 + h) for p in pids]
    nvml.nvmlSystemGetDriverVersion = lambda: b"580.1"
    return nvml


def test_nvml_readings_pick_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml([os.getpid()]))
    readings = gpu_driver.read_all()
    assert [(r.uuid, r.device_used_bytes, r.process_used_bytes) for r in readings] == [
        ("GPU-0", 1000, 700), ("GPU-1", 2000, 701)]
    assert gpu_driver.pick(readings, "1").uuid == "GPU-1"  # torch's uuid has no GPU- prefix
    assert gpu_driver.used_by_process(readings[1], readings[1])[0] == 701


def test_device_difference_stands_in_when_the_pid_is_not_listed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml([1]))  # a host PID, not ours
    monkeypatch.setattr(gpu_driver.shutil, "which", lambda name: None)  # no nvidia-smi either
    now = gpu_driver.pick(gpu_driver.read_all(), "GPU-0")
    baseline = gpu_driver.DriverReading(uuid="GPU-0", device_used_bytes=400,
                                        process_used_bytes=None, source="nvml")
    used, how = gpu_driver.used_by_process(now, baseline)
    assert (used, how) == (600, "nvml: device used minus the baseline read before CUDA init")


def test_no_driver_is_none_not_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    broken: Any = types.ModuleType("pynvml")

    def fail() -> None:
        raise RuntimeError("NVML Shared Library Not Found")

    broken.nvmlInit = fail
    monkeypatch.setitem(sys.modules, "pynvml", broken)
    monkeypatch.setattr(gpu_driver.shutil, "which", lambda name: None)
    assert gpu_driver.read_all() == []
    assert gpu_driver.pick([], None) == gpu_driver.NO_READING
    assert gpu_driver.used_by_process(gpu_driver.NO_READING, gpu_driver.NO_READING) == (
        None, "driver not readable")
    assert gpu_driver.describe() == {"driver": None, "nvidia_ml_py": None}


# ----------------------------------------------------------------------------- committed rows


def _rows(name: str) -> list[dict[str, Any]]:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{name} not committed")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("name", ["cpu_fake.jsonl", "cuda_h200.jsonl",
                                  "cuda_h200_families.jsonl"])
def test_committed_rows_are_self_describing(name: str) -> None:
    rows = _rows(name)
    assert len({r["id"] for r in rows}) == len(rows)
    for row in rows:
        assert set(row["metric"]) == {"allocated_peak_bytes", "reserved_peak_bytes",
                                      "driver_used_bytes"}, row["id"]
        assert {"python", "torch", "transformers", "peft"} <= set(row["versions"])
        argv = row["command"].split()
        assert argv[:2] == ["python3", "tools/calibrate/measure.py"], row["id"]
        assert argv[3:5] == ["--device", row["device"]], row["id"]
        if row["kind"] == "training":
            assert set(row["request"]) >= TRAINING_KEYS, row["id"]
        elif row["kind"] == "inference":
            assert set(row["request"]) == INFERENCE_KEYS, row["id"]
        if row["status"] == "ok" and row["kind"] != "cuda_context":
            assert row["allocated_peak_bytes"] > row["weights_bytes"] > 0, row["id"]
            assert max(row["phase_peaks"].values()) == row["allocated_peak_bytes"], row["id"]


def test_cpu_rows_cover_the_suite() -> None:
    rows = _rows("cpu_fake.jsonl")
    assert sum(r["status"] == "ok" for r in rows) >= 40
    assert {r["id"] for r in rows} == {s.id for s in suite.CPU_SUITE}


def test_family_rows_are_the_family_runs() -> None:
    rows = _rows("cuda_h200_families.jsonl")
    assert [r["id"] for r in rows] == [s.id for s in suite.FAMILY_RUNS]
    assert [r["command"] for r in rows] == [specs.command(s, "cuda") for s in suite.FAMILY_RUNS]


# ----------------------------------------------------------------------------- with torch


def test_live_bytes_counts_blocks_and_frees() -> None:
    torch = pytest.importorskip("torch")
    from live_bytes import LiveBytes

    with LiveBytes() as tracker:
        a = torch.empty(1000, dtype=torch.float32)  # 4000 B -> 8 blocks of 512
        tracker.phase("two")
        b = torch.empty(10, dtype=torch.bfloat16)  # 20 B -> one block
        view = a[10:20]
        assert tracker.current == 4096 + 512
        del a, b
        assert tracker.current == 4096  # the view keeps the storage alive
        del view
        assert tracker.current == 0
    assert tracker.phase_peaks["two"] == 4608 and tracker.peak == 4608


@pytest.mark.parametrize("run", [
    specs.TrainSpec(model="qwen3-4b", method="lora", lora_targets="all-linear",
                    checkpointing="full", precision="mixed_bf16", batch=2, seq=64, tiny=True),
    specs.TrainSpec(model="llama-3.2-1b", precision="fp32", batch=2, seq=64, tiny=True),
    specs.InferSpec(model="mistral-7b-v0.1", batch=2, context=64, tiny=True),
], ids=lambda r: r.id)
def test_fake_run_matches_a_real_cpu_run(run: specs.TrainSpec | specs.InferSpec) -> None:
    for needed in ("torch", "transformers", "peft"):  # the harness builds real models
        pytest.importorskip(needed)
    real = measure.measure(run, "cpu")
    fake = measure.measure(run, "cpu-fake")
    assert real["status"] == fake["status"] == "ok", (real.get("error"), fake.get("error"))
    # PEFT keeps two int64 scalars from adapter creation that stay meta (uncounted) in the
    # fake build: 2 blocks of 512 bytes at most.
    for phase, real_bytes in real["phase_peaks"].items():
        assert 0 <= real_bytes - fake["phase_peaks"][phase] <= 1024, phase
    assert fake["parameters"] == real["parameters"]


def test_the_qlora_rows_are_the_qlora_suite() -> None:
    rows = [json.loads(line) for line in (ROOT / "tests/data/calibration/cpu_qlora.jsonl")
            .read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [s.id for s in suite.QLORA_CPU_RUNS]
    assert {r["device"] for r in rows} == {"cpu"}
