"""Check the cpu-fake counter against PyTorch's own byte accounting of a real CPU run.

For a small Llama-shaped model (a few cases: fp32, bf16, mixed_bf16 with eager attention,
LoRA with checkpointing) the training code of measure.py runs three times:

  1. real CPU tensors under torch.profiler(profile_memory=True) and LiveBytes: the
     profiler's "[memory]" events are every allocation and free the CPU allocator saw;
     their running sum inside each phase's record_function range gives the phase peaks;
  2. real CPU tensors under torch.distributed._tools.mem_tracker.MemTracker (its peak);
  3. cpu-fake (FakeTensorMode + LiveBytes), as the committed rows are made.

Counts are exact bytes here (no 512-byte rounding) so the three can be compared.

    python3 tools/calibrate/validate_tracker.py --out tests/data/calibration/tracker_validation.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import pathlib
import sys
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import measure
import specs

TRAIN_PHASES = [f"step{s}:{p}" for s in (1, 2) for p in ("forward", "backward", "optimizer_step")]
INFER_PHASES = ["prefill", "decode"]

# A Llama with GQA, untied head and a vocabulary large enough for the logits to matter.
SMALL_LLAMA: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256,
    "intermediate_size": 688, "num_hidden_layers": 4, "num_attention_heads": 8,
    "num_key_value_heads": 2, "vocab_size": 8192, "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False,
    "attention_dropout": 0.0,
}

CASES = [
    specs.TrainSpec(model="llama-3.2-1b", precision="fp32", batch=2, seq=256),
    specs.TrainSpec(model="llama-3.2-1b", precision="bf16", batch=2, seq=256),
    specs.TrainSpec(model="llama-3.2-1b", precision="mixed_bf16", attention="eager",
                    optimizer_impl="forloop", batch=2, seq=256),
    specs.TrainSpec(model="llama-3.2-1b", method="lora", lora_targets="all-linear",
                    checkpointing="full", precision="bf16", batch=2, seq=256),
    specs.InferSpec(model="llama-3.2-1b", batch=2, context=512, new_tokens=8),
]


class ProfiledMeter(measure.TrackerMeter):
    """LiveBytes phases, each also a torch.profiler record_function range."""

    def __init__(self, tracker: Any) -> None:
        super().__init__(tracker)
        self._range: contextlib.ExitStack | None = None

    def start(self, name: str) -> None:
        import torch

        super().start(name)
        self._range = contextlib.ExitStack()
        self._range.enter_context(torch.profiler.record_function(f"phase={name}"))

    def stop(self) -> None:
        assert self._range is not None
        self._range.close()
        super().stop()


class ResettingMeter(measure.TrackerMeter):
    """For MemTracker, which refuses a second forward of the root module without a reset."""

    def __init__(self, tracker: Any, mem_tracker: Any) -> None:
        super().__init__(tracker)
        self.mem_tracker = mem_tracker

    def start(self, name: str) -> None:
        if name == "step2:forward":
            self.mem_tracker.reset_mod_stats()
        super().start(name)


def profiler_phase_peaks(prof: Any) -> dict[str, int]:
    """Peak of the running sum of allocator events inside each phase range."""
    events = prof.profiler.kineto_results.events()
    memory = sorted((e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]")
    ranges = {e.name().removeprefix("phase="): (e.start_ns(), e.end_ns())
              for e in events if e.name().startswith("phase=")}
    peaks = {}
    for name, (begin, end) in ranges.items():
        live = sum(n for t, n in memory if t < begin)
        peak = live
        for t, n in memory:
            if begin <= t <= end:
                live += n
                peak = max(peak, live)
        peaks[name] = peak
    return peaks


def _run(sess: measure.Session, spec: specs.TrainSpec | specs.InferSpec) -> dict[str, Any]:
    if isinstance(spec, specs.TrainSpec):
        return measure.run_training(sess, spec, SMALL_LLAMA)
    return measure.run_inference(sess, spec, SMALL_LLAMA)


def run_case(spec: specs.TrainSpec | specs.InferSpec) -> dict[str, Any]:
    import torch
    from live_bytes import LiveBytes
    from torch.distributed._tools.mem_tracker import MemTracker
    from torch.profiler import ProfilerActivity, profile

    # 1. real CPU, profiler + LiveBytes
    torch.manual_seed(0)
    tracker = LiveBytes(block=1)
    with measure.cuda_kernels(), profile(activities=[ProfilerActivity.CPU],
                                         profile_memory=True) as prof, tracker:
        sess = measure.Session(device="cpu", tensor_device="cpu", meter=ProfiledMeter(tracker),
                               tracker=tracker)
        real = _run(sess, spec)
    real_phases = {k: v["allocated"] for k, v in sess.meter.phases.items()}
    profiled = profiler_phase_peaks(prof)

    # 2. real CPU, MemTracker (and LiveBytes for the same run)
    torch.manual_seed(0)
    tracker2 = LiveBytes(block=1)
    mem_tracker = MemTracker()
    mem_tracker_peak: int | None = None
    mem_tracker_error = None
    try:
        if isinstance(spec, specs.InferSpec):
            raise RuntimeError("not run: MemTracker refuses a root module called again in one "
                               "iteration, which every decode step does")
        with measure.cuda_kernels(), mem_tracker, tracker2:
            sess2 = measure.Session(device="cpu", tensor_device="cpu",
                                    meter=ResettingMeter(tracker2, mem_tracker), tracker=tracker2)
            _run(sess2, spec)
        peak_snapshot = mem_tracker.get_tracker_snapshot("peak")
        mem_tracker_peak = sum(snap["Total"] for snap in peak_snapshot.values())
    except RuntimeError as exc:  # it hooks every parameter's grad: frozen (LoRA) ones raise
        mem_tracker_error = f"{type(exc).__name__}: {exc}"

    # 3. cpu-fake, as the committed rows
    torch.manual_seed(0)
    fake_tracker = LiveBytes(block=1)
    from torch._subclasses.fake_tensor import FakeTensorMode

    with measure.cuda_kernels(), measure._unpacked_positions(), FakeTensorMode() as fake_mode, \
            fake_tracker:
        sess3 = measure.Session(device="cpu-fake", tensor_device="cpu",
                                meter=measure.TrackerMeter(fake_tracker), fake_mode=fake_mode,
                                tracker=fake_tracker)
        fake = _run(sess3, spec)
    fake_phases = {k: v["allocated"] for k, v in sess3.meter.phases.items()}

    phases = TRAIN_PHASES if isinstance(spec, specs.TrainSpec) else INFER_PHASES
    rows = []
    for phase in phases:
        rows.append({
            "phase": phase,
            "profiler_bytes": profiled.get(phase),
            "live_bytes_real_bytes": real_phases[phase],
            "live_bytes_fake_bytes": fake_phases[phase],
        })
    return {
        "case": spec.id.replace(":llama-3.2-1b:", ":small-llama:"),
        "phases": rows,
        "peak": {
            "profiler_bytes": max(profiled[p] for p in phases),
            "live_bytes_real_bytes": max(real_phases[p] for p in phases),
            "live_bytes_fake_bytes": max(fake_phases[p] for p in phases),
            "mem_tracker_bytes": mem_tracker_peak,
        },
        "mem_tracker_error": mem_tracker_error,
        "weights_bytes": {"real": real["weights_bytes"], "fake": fake["weights_bytes"]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=pathlib.Path, help="write the comparison as JSON here")
    args = parser.parse_args(argv)
    import transformers

    transformers.logging.set_verbosity_error()
    results = [run_case(spec) for spec in CASES]
    for result in results:
        print(result["case"])
        header = ("phase", "profiler", "live real", "live fake", "fake/prof")
        print("  {:24} {:>12} {:>12} {:>12} {:>9}".format(*header))
        for row in result["phases"]:
            ratio = row["live_bytes_fake_bytes"] / row["profiler_bytes"]
            print(f"  {row['phase']:24} {row['profiler_bytes']:12d}"
                  f" {row['live_bytes_real_bytes']:12d} {row['live_bytes_fake_bytes']:12d}"
                  f" {ratio:9.4f}")
        print(f"  peak: {result['peak']}")
    if args.out:
        document = {
            "what": "cpu-fake counter (live_bytes.LiveBytes under FakeTensorMode) against the "
                    "CPU allocator's own events (torch.profiler profile_memory) and MemTracker, "
                    "on real CPU runs of the same training code; exact bytes, no block rounding",
            "model_config": SMALL_LLAMA,
            "command": "python3 tools/calibrate/validate_tracker.py --out "
                       "tests/data/calibration/tracker_validation.json",
            "versions": measure.versions("cpu"),
            "cases": results,
        }
        args.out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
