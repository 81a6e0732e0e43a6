"""Named calibration suites, run in a worker process with a time budget per configuration.

    python3 tools/calibrate/suite.py cpu --out tests/data/calibration      # cpu_fake.jsonl
    python3 tools/calibrate/suite.py gpu --out "$OUT"                      # cuda.jsonl
    python3 tools/calibrate/suite.py gpu --out calib-out --dry-run         # list, no torch
    python3 tools/calibrate/suite.py gpu --out calib-out --smoke           # tiny models, CPU

Standard library only: this process never imports torch, so it can always stop a worker.
The worker (measure.py worker) runs the specs in order and appends one JSON line per
configuration as soon as it finishes, so whatever finished survives a kill. A
configuration that outlives its budget is killed and recorded as "timeout"; a worker that
dies is recorded as "crashed"; configurations left when the suite's deadline comes are
recorded as "skipped". A new worker then carries on with the next configuration.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import IO, Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import specs
from specs import ContextSpec, InferSpec, TrainSpec

HERE = pathlib.Path(__file__).resolve().parent
MEASURE = HERE / "measure.py"
DONE_MARK = "CALIBRATE-DONE"  # measure.DONE_MARK, repeated to keep torch out of this process


def _lora(**kw: Any) -> TrainSpec:
    return TrainSpec(method="lora", **kw)


# ----------------------------------------------------------------------------- suites

# Most valuable first: a run cut short by its deadline keeps these. The first block is a
# spread over models, precisions, methods and attention; the rest widens each axis. All
# of it takes about 4 minutes on an H200; every allocated peak stays under ~80 GiB
# (cpu-fake), so a 141 GB H200 holds it with room for the caching allocator.
GPU_CORE: tuple[specs.Spec, ...] = (
    ContextSpec(),
    TrainSpec(model="llama-3.1-8b", precision="bf16", batch=1, seq=4096),
    _lora(model="llama-3.1-8b", precision="bf16", checkpointing="full", batch=4, seq=4096),
    TrainSpec(model="qwen2.5-0.5b", precision="mixed_bf16", batch=8, seq=1024),
    InferSpec(model="llama-3.1-8b", batch=1, context=8192),
    TrainSpec(model="llama-3.2-1b", precision="bf16", attention="eager", batch=2, seq=2048),
    TrainSpec(model="llama-3.2-1b", precision="bf16", attention="sdpa", batch=2, seq=2048),
    _lora(model="qwen3-4b", lora_rank=64, lora_alpha=128, lora_targets="all-linear",
          precision="mixed_bf16", checkpointing="full", batch=4, seq=2048),
    TrainSpec(model="mistral-7b-v0.1", precision="bf16", checkpointing="full", batch=8, seq=4096),
    TrainSpec(model="llama-3.2-1b", precision="fp32", batch=4, seq=1024),
    TrainSpec(model="tinyllama-1.1b-chat", precision="mixed_bf16", optimizer_impl="fused",
              batch=8, seq=2048),
    TrainSpec(model="smollm2-1.7b-instruct", precision="bf16", optimizer_impl="forloop",
              checkpointing="full", batch=4, seq=2048),
    TrainSpec(model="qwen2.5-3b", precision="mixed_bf16", checkpointing="full", batch=2, seq=4096),
    InferSpec(model="qwen2.5-0.5b", batch=8, context=4096),
    InferSpec(model="mistral-7b-v0.1", batch=4, context=8192),
    _lora(model="llama-3.1-8b", lora_rank=8, lora_alpha=16, lora_targets="all-linear",
          precision="bf16", batch=1, seq=1024),
    TrainSpec(model="qwen2.5-0.5b", precision="bf16", batch=1, seq=512),
    TrainSpec(model="llama-3.2-1b", precision="mixed_bf16", checkpointing="full",
              batch=8, seq=4096),
)


# The models the grid runs over: the dense Llama, Mistral and Qwen configs it was designed
# around (every peak under ~80 GiB). Other configs in configs/ are measured by FAMILY_RUNS
# instead: a full bf16 AdamW step of Qwen3-30B-A3B alone needs ~490 GB, and adding a config
# must not grow the grid by runs nobody measured.
GRID_MODELS = (
    "llama-3.1-8b", "llama-3.2-1b", "mistral-7b-v0.1", "qwen2.5-0.5b", "qwen2.5-3b", "qwen3-4b",
    "smollm2-1.7b-instruct", "tinyllama-1.1b-chat",
)


def _gpu_more() -> tuple[specs.Spec, ...]:
    """Each axis of the grid, one at a time, in the order they are worth a GPU minute."""
    models = GRID_MODELS
    runs: list[specs.Spec] = []
    # every model: generation, then full bf16 fine-tuning
    runs += [InferSpec(model=m, batch=1, context=2048) for m in models]
    runs += [TrainSpec(model=m, precision="bf16", batch=1, seq=2048) for m in models]
    # precision x checkpointing, a tied 128k-vocab model and a tied 152k-vocab one
    runs += [TrainSpec(model=m, precision=p, checkpointing=c, batch=4, seq=1024)
             for m in ("llama-3.2-1b", "qwen2.5-0.5b") for p in specs.PRECISIONS
             for c in specs.CHECKPOINTING]
    # LoRA: rank and targets, float32 and mixed bases, a big batch
    runs += [_lora(model="qwen2.5-3b", lora_rank=r, lora_alpha=2 * r, lora_targets=t,
                   precision="bf16", checkpointing="full", batch=2, seq=2048)
             for r in (8, 16, 32, 64) for t in (("q_proj", "v_proj"), "all-linear")]
    runs += [
        _lora(model="llama-3.1-8b", precision="fp32", batch=1, seq=1024),
        _lora(model="llama-3.1-8b", lora_targets="all-linear", precision="mixed_bf16",
              checkpointing="full", batch=2, seq=2048),
        _lora(model="mistral-7b-v0.1", lora_rank=32, lora_alpha=64, precision="bf16",
              checkpointing="full", batch=8, seq=4096),
        _lora(model="tinyllama-1.1b-chat", lora_rank=8, lora_alpha=16, precision="mixed_bf16",
              batch=8, seq=512),
    ]
    # eager attention (s^2 scores) against sdpa
    runs += [TrainSpec(model="tinyllama-1.1b-chat", precision="bf16", attention=a, batch=1, seq=512)
             for a in specs.ATTENTIONS]
    runs += [
        TrainSpec(model="qwen2.5-0.5b", precision="fp32", attention="eager", batch=2, seq=1024),
        TrainSpec(model="llama-3.2-1b", precision="bf16", attention="eager", checkpointing="full",
                  batch=2, seq=2048),
        InferSpec(model="tinyllama-1.1b-chat", batch=2, context=2048, attention="eager"),
    ]
    # optimizer implementations
    runs += [TrainSpec(model="qwen2.5-0.5b", precision="bf16", optimizer_impl=o, batch=1, seq=512)
             for o in specs.OPTIMIZER_IMPLS]
    runs += [TrainSpec(model="llama-3.1-8b", precision="bf16", optimizer_impl="fused",
                       batch=1, seq=512)]
    # batch and sequence from (1, 512) to (8, 4096)
    runs += [TrainSpec(model="llama-3.2-1b", precision="bf16", batch=b, seq=s)
             for b, s in ((1, 512), (2, 1024), (4, 2048), (8, 4096))]
    # generation at longer contexts and larger batches
    runs += [
        InferSpec(model="llama-3.1-8b", batch=8, context=4096),
        InferSpec(model="qwen3-4b", batch=4, context=16384),
        InferSpec(model="llama-3.2-1b", batch=16, context=4096),
        InferSpec(model="mistral-7b-v0.1", batch=1, context=16384),
    ]
    return tuple(runs)


# Setups a single 141 GB GPU cannot hold (8B mixed_bf16 alone keeps ~128 GB of states).
CPU_ONLY: tuple[specs.Spec, ...] = (
    TrainSpec(model="llama-3.1-8b", precision="mixed_bf16", checkpointing="full",
              batch=1, seq=2048),
    TrainSpec(model="llama-3.1-8b", precision="fp32", checkpointing="full", batch=1, seq=1024),
    TrainSpec(model="llama-3.1-8b", precision="bf16", checkpointing="full", batch=8, seq=4096),
    TrainSpec(model="qwen3-4b", precision="bf16", checkpointing="full", batch=8, seq=4096),
    TrainSpec(model="smollm2-1.7b-instruct", precision="bf16", batch=8, seq=4096),
)


def _unique(runs: list[specs.Spec]) -> tuple[specs.Spec, ...]:
    found: dict[str, specs.Spec] = {}
    for run in runs:
        found.setdefault(run.id, run)
    return tuple(found.values())


GPU_SUITE = _unique([*GPU_CORE, *_gpu_more()])
# cpu-fake: the gpu suite's runs (same ids, to compare like with like), then the big ones.
CPU_SUITE = _unique([*(s for s in GPU_SUITE if not isinstance(s, ContextSpec)), *CPU_ONLY])

# MLA, MoE, sliding-window and fused-QKV families, measured on an H200 one command at a time
# (tests/data/calibration/cuda_h200_families.jsonl, each row with its command).
FAMILY_RUNS: tuple[specs.Spec, ...] = (
    InferSpec(model="deepseek-v2-lite", batch=1, context=8192),
    InferSpec(model="qwen3-30b-a3b", batch=1, context=4096),
    InferSpec(model="gemma-2-2b-it", batch=1, context=8192),
    TrainSpec(model="gemma-2-2b-it", precision="bf16", batch=1, seq=2048),
    TrainSpec(model="phi-3-mini-4k-instruct", precision="bf16", batch=1, seq=2048),
    InferSpec(model="phi-3-mini-4k-instruct", batch=4, context=4096),
    InferSpec(model="deepseek-v2-lite", batch=2, context=16384),
    InferSpec(model="gemma-2-2b-it", batch=4, context=8192, attention="eager"),
)


# GPT-2-style training (Conv1D, learned positions, gelu_new written in Python, dropout 0.1 on
# attention, residuals and embeddings), measured with cpu-fake (tests/data/calibration/
# cpu_fake_gpt2.jsonl)
GPT2_RUNS: tuple[specs.Spec, ...] = (
    TrainSpec(model="gpt2", precision="fp32", batch=4, seq=1024),
    TrainSpec(model="gpt2", precision="fp32", batch=8, seq=1024),
    TrainSpec(model="gpt2", precision="mixed_bf16", batch=8, seq=1024),
    TrainSpec(model="gpt2", precision="bf16", batch=8, seq=1024),
    TrainSpec(model="gpt2", precision="fp32", checkpointing="full", batch=8, seq=1024),
    _lora(model="gpt2", precision="mixed_bf16", batch=4, seq=1024, lora_targets="c_attn"),
    TrainSpec(model="gpt2", precision="fp32", attention="eager", batch=4, seq=1024),
    TrainSpec(model="gpt2-medium", precision="fp32", batch=4, seq=1024),
    TrainSpec(model="gpt2-medium", precision="mixed_bf16", batch=8, seq=1024),
)


# QLoRA steps on real tensors with bitsandbytes (device cpu: the 4-bit kernels run on the CPU),
# as bitsandbytes 0.50 keeps them and as <= 0.43.1 did (keep_inputs) (tests/data/calibration/
# cpu_qlora.jsonl)
QLORA_CPU_RUNS: tuple[specs.Spec, ...] = (
    *(TrainSpec(model="qwen2.5-0.5b", method="qlora", precision="mixed_bf16", batch=1, seq=512,
                lora_targets=("q_proj", "v_proj"), keep_inputs=keep) for keep in (False, True)),
    TrainSpec(model="qwen2.5-0.5b", method="qlora", precision="mixed_bf16", checkpointing="full",
              batch=2, seq=512, lora_targets="all-linear"),
    *(TrainSpec(model="qwen2.5-0.5b", method="qlora", precision="bf16", batch=1, seq=1024,
                lora_rank=32, lora_alpha=64, lora_targets="all-linear", keep_inputs=keep)
      for keep in (False, True)),
    TrainSpec(model="llama-3.2-1b", method="qlora", precision="mixed_bf16", batch=1, seq=512,
              lora_targets=("q_proj", "v_proj")),
)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class Suite:
    """A list of runs, the device they run on, where rows go and how long each may take."""

    name: str
    device: str
    file_name: str
    runs: tuple[specs.Spec, ...]
    budget_s: float  # one configuration, from its start mark to its row
    deadline_s: float  # the whole suite, from this process's start
    startup_s: float  # a fresh worker, from launch to its first start mark


SUITES = {
    "cpu": Suite(name="cpu", device="cpu-fake", file_name="cpu_fake.jsonl", runs=CPU_SUITE,
                 budget_s=600, deadline_s=4 * 3600, startup_s=300),
    # Under 6 minutes on an H200 including Python start-up: 330 s of runs, then a kill.
    "gpu": Suite(name="gpu", device="cuda", file_name="cuda.jsonl", runs=GPU_SUITE,
                 budget_s=60, deadline_s=330, startup_s=90),
}


# ----------------------------------------------------------------------------- runner


@dataclasses.dataclass(kw_only=True)
class Progress:
    """What the runner knows about the specs: which finished, and how."""

    status: dict[int, str] = dataclasses.field(default_factory=dict)

    def next_index(self, total: int) -> int:
        return next((i for i in range(total) if i not in self.status), total)


def _reader(stream: IO[str], lines: queue.Queue[str | None], log: IO[str]) -> None:
    """Copy the worker's stdout to the log and hand each line to the runner."""
    for line in stream:
        log.write(line)
        log.flush()
        lines.put(line.rstrip("\n"))
    lines.put(None)


def _kill(proc: subprocess.Popen[str]) -> None:
    """Stop the worker and whatever it started (its own process group)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def failure_row(spec: specs.Spec, device: str, status: str, message: str) -> dict[str, Any]:
    """The row for a run that produced none itself (timeout, crash, skipped)."""
    row = specs.row_header(spec, device)
    row.update(status=status, error=message, allocated_peak_bytes=None,
               reserved_peak_bytes=None, driver_used_bytes=None)
    return row


def _append(path: pathlib.Path, row: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def run_worker_once(suite: Suite, runs: list[specs.Spec], start: int, spec_file: pathlib.Path,
                    rows: pathlib.Path, log: IO[str], progress: Progress, t0: float,
                    device: str, extra_env: dict[str, str]) -> None:
    """One worker from `start` on, until it ends, a run outlives its budget, or the deadline."""
    cmd = [sys.executable, str(MEASURE), "worker", "--device", device, "--specs", str(spec_file),
           "--start", str(start), "--out", str(rows)]
    log.write(f"# worker from {start}: {' '.join(cmd)}\n")
    log.flush()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True,
                            start_new_session=True, env={**os.environ, **extra_env})
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines, log), daemon=True).start()
    current: int | None = None
    waited_from = time.monotonic()
    limit = suite.startup_s
    while True:
        now = time.monotonic()
        remaining_deadline = suite.deadline_s - (now - t0)
        timeout = min(limit - (now - waited_from), remaining_deadline)
        try:
            line = lines.get(timeout=max(timeout, 0.01)) if timeout > 0 else None
            timed_out = timeout <= 0
        except queue.Empty:
            line, timed_out = None, True
        if timed_out:
            _kill(proc)
            remaining_deadline = suite.deadline_s - (time.monotonic() - t0)
            if current is not None:
                reason = ("suite deadline reached" if remaining_deadline <= 0
                          else f"ran past its {suite.budget_s:.0f} s budget")
                _append(rows, failure_row(runs[current], device, "timeout", reason))
                progress.status[current] = "timeout"
            elif remaining_deadline > 0:  # stuck before its first run: give that run up
                _append(rows, failure_row(runs[start], device, "crashed",
                                          f"worker did not start within {suite.startup_s:.0f} s"))
                progress.status[start] = "crashed"
            return
        if line is None:  # worker exited
            proc.wait()
            if current is not None:
                message = f"worker exited with code {proc.returncode}; see the log"
                _append(rows, failure_row(runs[current], device, "crashed", message))
                progress.status[current] = "crashed"
            elif proc.returncode != 0 and progress.next_index(len(runs)) == start:
                _append(rows, failure_row(runs[start], device, "crashed",
                                          f"worker exited with code {proc.returncode} before "
                                          "its first run; see the log"))
                progress.status[start] = "crashed"
            return
        parts = line.split()
        if len(parts) >= 3 and parts[0] == DONE_MARK:
            index = int(parts[2])
            if parts[1] == "start":
                current, waited_from, limit = index, time.monotonic(), suite.budget_s
                print(f"[{time.monotonic() - t0:6.1f}s] {index + 1}/{len(runs)} {runs[index].id}",
                      flush=True)
            elif parts[1] == "end":
                progress.status[index] = parts[3] if len(parts) > 3 else "ok"
                print(f"[{time.monotonic() - t0:6.1f}s]   -> {progress.status[index]}", flush=True)
                current = None


def run_suite(suite: Suite, out_dir: pathlib.Path, *, device: str | None = None,
              tiny: bool = False, only: str | None = None, resume: bool = False) -> pathlib.Path:
    """Run a suite into out_dir/<file_name>; returns the rows file."""
    t0 = time.monotonic()
    device = device or suite.device
    runs = select(suite, tiny=tiny, only=only)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = out_dir / suite.file_name
    done_ok = _ok_ids(rows) if resume else set()
    if not resume and rows.exists():
        rows.unlink()
    progress = Progress(status={i: "ok" for i, r in enumerate(runs) if r.id in done_ok})
    scratch = tempfile.TemporaryDirectory(prefix="calibrate-")
    spec_file = pathlib.Path(scratch.name) / "specs.json"
    spec_file.write_text(json.dumps([specs.spec_to_json(r) for r in runs], indent=0) + "\n",
                         encoding="utf-8")
    extra_env = {"PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    with scratch, (out_dir / f"{suite.name}.log").open("a", encoding="utf-8") as log:
        while (start := progress.next_index(len(runs))) < len(runs):
            if time.monotonic() - t0 >= suite.deadline_s:
                break
            run_worker_once(suite, runs, start, spec_file, rows, log, progress, t0, device,
                            extra_env)
        for index in range(len(runs)):
            if index not in progress.status:
                _append(rows, failure_row(runs[index], device, "skipped",
                                          "suite deadline reached before this run started"))
                progress.status[index] = "skipped"
    counts: dict[str, int] = {}
    for status in progress.status.values():
        counts[status] = counts.get(status, 0) + 1
    summary = {"suite": suite.name, "device": device, "runs": len(runs), "status": counts,
               "seconds": round(time.monotonic() - t0, 1), "rows": rows.name}
    (out_dir / f"{suite.name}_summary.json").write_text(json.dumps(summary, indent=1) + "\n",
                                                        encoding="utf-8")
    print(json.dumps(summary), flush=True)
    return rows


def select(suite: Suite, *, tiny: bool = False, only: str | None = None) -> list[specs.Spec]:
    """The suite's runs, optionally shrunk to tiny models and filtered by an id substring."""
    runs: list[specs.Spec] = []
    for run in suite.runs:
        if tiny and isinstance(run, TrainSpec | InferSpec):
            run = dataclasses.replace(run, tiny=True)
        if tiny and isinstance(run, InferSpec):
            run = dataclasses.replace(run, context=min(run.context, 256))
        if tiny and isinstance(run, TrainSpec):
            run = dataclasses.replace(run, seq=min(run.seq, 128), batch=min(run.batch, 2))
        if only is None or only in run.id:
            runs.append(run)
    return runs


def _ok_ids(rows: pathlib.Path) -> set[str]:
    if not rows.exists():
        return set()
    ids = set()
    for line in rows.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row.get("status") == "ok":
            ids.add(row["id"])
    return ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", choices=sorted(SUITES))
    parser.add_argument("--out", type=pathlib.Path, required=True,
                        help="directory for the rows file, the log and the summary")
    parser.add_argument("--dry-run", action="store_true",
                        help="check and list every run with its command; run nothing")
    parser.add_argument("--smoke", action="store_true",
                        help="run the suite's code paths on the CPU with tiny 2-layer models")
    parser.add_argument("--only", help="run only ids containing this text")
    parser.add_argument("--resume", action="store_true",
                        help="keep rows already ok in the rows file and run the rest")
    parser.add_argument("--budget-s", type=float, help="override the per-configuration budget")
    parser.add_argument("--deadline-s", type=float, help="override the suite deadline")
    args = parser.parse_args(argv)
    suite = SUITES[args.suite]
    overrides = {k: v for k, v in (("budget_s", args.budget_s), ("deadline_s", args.deadline_s))
                 if v is not None}
    if args.smoke:
        overrides.setdefault("budget_s", 120)
        overrides.update(name=f"{suite.name}_smoke", file_name=f"{suite.name}_smoke.jsonl",
                         deadline_s=overrides.get("deadline_s", 1800))
    suite = dataclasses.replace(suite, **overrides)
    device = "cpu" if args.smoke else suite.device
    if args.dry_run:
        runs = select(suite, tiny=args.smoke, only=args.only)
        for run in runs:
            specs.row_header(run, device)  # loads the config and builds the request
            print(specs.command(run, device))
        print(f"# {len(runs)} runs, device {device}, budget {suite.budget_s:.0f} s each, "
              f"deadline {suite.deadline_s:.0f} s", flush=True)
        return 0
    run_suite(suite, args.out, device=device, tiny=args.smoke, only=args.only, resume=args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
