"""`vramcalc fit` (vramcalc/__main__.py): the ranked changes as text or JSON, and the exit
status that says what was found (0 fits or a change fits, 3 nothing fits, 2 bad input)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import vramcalc
from vramcalc.__main__ import main
from vramcalc.units import natural_size

REQUEST = {"mode": "training", "model": {"preset": "meta-llama/Llama-3.1-8B"},
           "micro_batch_size": 4, "sequence_length": 2048, "gpu": "rtx-4090", "method": "lora"}
LORA = ["fit", "--mode", "training", "-m", "meta-llama/Llama-3.1-8B", "--batch", "4",
        "--context", "2048", "--set", "method=lora", "--gpu", "rtx-4090"]


def _row(response: dict[str, Any], gpu: str = "rtx-4090") -> dict[str, Any]:
    row: dict[str, Any] = next(r for r in response["fit"]["gpus"] if r["gpu"] == gpu)
    return row


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_prints_the_ranked_changes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(LORA, capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    before = vramcalc.estimate(REQUEST)
    after = vramcalc.estimate({**REQUEST, "loss": "fused", "gradient_checkpointing": "full"})
    room = _row(after)["headroom_bytes"]
    assert lines[:10] == [
        f"Llama 3.1 8B on GeForce RTX 4090 24GB (23.99 GiB): "
        f"{natural_size(before['total_bytes'])}: does not fit",
        "",
        "Changes that make it fit, cheapest first:",
        "",
        " 1. [speed] fused cross-entropy loss + gradient checkpointing",
        "    set: loss=fused, gradient_checkpointing=full",
        f"    total {natural_size(after['total_bytes'])}, saves "
        f"{natural_size(before['total_bytes'] - after['total_bytes'])}, "
        f"{natural_size(room)} headroom",
        "    cost: none: the lm_head and the loss run chunk by chunk in one kernel, so the logits "
        "never exist whole; the same loss, usually faster; recomputes each layer's forward "
        "during the backward: about one extra forward pass, roughly a third more compute per "
        "step",
        "    how: TrainingArguments(use_liger_kernel=True); "
        "TrainingArguments(gradient_checkpointing=True)",
        "",
    ]
    assert "    which also sets: precision=mixed_bf16, gradient_checkpointing=full" in lines
    assert re.fullmatch(r"\d+ estimates \(at most 60\); ranked by cost class first .*",
                        lines[-1])


def test_json_is_the_library_answer(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*LORA, "--json", "--max-evaluations", "20"], capsys)
    assert code == 0
    assert json.loads(out) == vramcalc.fit_changes(REQUEST, max_evaluations=20)


def test_a_request_file_and_a_gpu_count(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "req.json"
    path.write_text(json.dumps({"mode": "inference", "model": {"preset":
                                "meta-llama/Llama-3.1-70B"}, "gpu": "rtx-a6000",
                                "parallel": {"tensor": 2}}))
    code, out, _ = run(["fit", str(path), "--gpus", "4", "--json"], capsys)
    answer = json.loads(out)
    assert code == 0 and answer["target"]["gpus"] == 4
    # the 4 GPUs one has cost speed (communication), which ranks before quality
    assert [(s["cost_class"], s["changes"]) for s in answer["suggestions"]] == [
        ("speed", {"parallel.tensor": 4}), ("quality", {"weight_format": "bnb-int8"})]


def test_already_fits_prints_bigger(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["fit", "-m", "meta-llama/Llama-3.1-8B", "--engine", "vllm",
                        "--context", "131072", "--gpu", "a100-80gb"], capsys)
    assert code == 0
    request = {"mode": "inference", "model": {"preset": "meta-llama/Llama-3.1-8B"},
               "engine": "vllm", "context_length": 131072, "gpu": "a100-80gb"}
    base = vramcalc.estimate(request)
    n = _row(base, "a100-80gb")["max_batch_size"]
    bigger = vramcalc.estimate({**request, "batch_size": n})
    one, more = (r["details"]["speed"]["decode"] for r in (base, bigger))
    total, room = natural_size(base["total_bytes"]), natural_size(_row(base, "a100-80gb")[
        "headroom_bytes"])
    # n requests of 128k: each one beyond the first takes its KV bytes from the headroom
    room_n = natural_size(_row(bigger, "a100-80gb")["headroom_bytes"]
                          - (n - 1) * bigger["details"]["vllm"]["kv_cache_needed_bytes"])
    assert out.splitlines()[:8] == [
        f"Llama 3.1 8B on A100 SXM4 80GB (80.00 GiB, 73.60 GiB usable): {total}: fits "
        f"({room} headroom)",
        "",
        "It also fits bigger:",
        "",
        f" 1. batch {n}",
        f"    set: batch_size={n}",
        f"    total {total}, {room_n} headroom",  # vLLM takes the same pool for any batch
        f"    gain: the largest batch that fits, from 1; decode bound "
        f"{one['tokens_per_s_per_sequence']:,} → {more['tokens_per_s_per_sequence']:,} tokens/s "
        f"per sequence ({one['tokens_per_s_total']:,} → {more['tokens_per_s_total']:,} in all)",
    ]


def test_nothing_fits_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["fit", "--mode", "training", "-m", "meta-llama/Llama-3.1-405B",
                        "--gpu", "t4", "--gpus", "1"], capsys)
    assert code == 3
    assert re.fullmatch(r"Llama 3.1 405B on Tesla T4 16GB \(15.00 GiB\): [\d.]+ TiB: does "
                        r"not fit, and no change tried fits. The closest:", out.splitlines()[0])
    assert re.search(r"\n    total [\d.]+ GiB, saves [\d.]+ TiB, [\d.]+ GiB short\n", out)


def test_bad_input_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["fit", "--gpus", "0", "--batch", "0"], capsys)
    assert (code, out) == (2, "")
    assert err == "vramcalc: gpus: must be an integer from 1 to 64, got 0\n"
    code, out, err = run(["fit", "--batch", "0", "--gpu", "rtx-4090"], capsys)
    assert (code, out) == (2, "")
    assert err == "vramcalc: batch_size: must be an integer >= 1, got 0\n"
    code, _, err = run(["fit", "-m", "meta-llama/Llama-3.1-8B"], capsys)
    assert (code, err) == (2, "vramcalc: gpu: is required: the GPU the request should fit "
                           "(give gpu, or set the request's gpu)\n")
    code, _, err = run(["fit", "--set", "x"], capsys)
    assert (code, err) == (2, "vramcalc: --set needs FIELD=VALUE, got 'x'\n")


def test_help_documents_the_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    out = capsys.readouterr().out
    assert "exit status: 0 when the request fits or a change that makes it fit was found," in out
    assert "--gpus GPUS" in out and "--n-gpu-layers" in out  # the estimate flags are there
