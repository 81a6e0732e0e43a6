"""Measure llama.cpp's KV and compute buffers for a model shape (development only).

Writes a GGUF with the model's hyper-parameters and tensor shapes whose tensor data is a
sparse hole (no disk, never read), then runs `llama-fit-params --fit-print on`, which
reports model / context (KV) / compute MiB per device without allocating. Needs a
llama.cpp build and its gguf-py on PYTHONPATH (plus numpy):

    PYTHONPATH=LLAMA_CPP/gguf-py python tools/measure_llamacpp.py LLAMA_CPP/build/bin \
        tests/data/hub/Qwen/Qwen3-8B/config.json qwen3 --ctx 131072 --fa off
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import gguf  # type: ignore[import-not-found]


def write_gguf(path: Path, cfg: dict, arch: str) -> None:
    h, n_layer = cfg["hidden_size"], cfg["num_hidden_layers"]
    heads = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads", heads)
    d = cfg.get("head_dim") or h // heads
    f, vocab = cfg["intermediate_size"], cfg["vocab_size"]
    w = gguf.GGUFWriter(str(path), arch)
    w.add_context_length(cfg.get("max_position_embeddings", 4096))
    w.add_embedding_length(h)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(f)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_key_length(d)
    w.add_value_length(d)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(10000.0)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_tokenizer_model("llama")
    w.add_token_list([f"t{i}" for i in range(vocab)])
    w.add_token_scores([0.0] * vocab)
    w.add_token_types([1] * vocab)
    f16, f32 = gguf.GGMLQuantizationType.F16, gguf.GGMLQuantizationType.F32
    shapes: list[tuple[str, tuple[int, ...], gguf.GGMLQuantizationType]] = [
        ("token_embd.weight", (vocab, h), f16), ("output_norm.weight", (h,), f32)]
    if not cfg.get("tie_word_embeddings", False):
        shapes.append(("output.weight", (vocab, h), f16))
    for i in range(n_layer):
        b = f"blk.{i}."
        shapes += [(b + "attn_norm.weight", (h,), f32), (b + "ffn_norm.weight", (h,), f32),
                   (b + "attn_q.weight", (heads * d, h), f16),
                   (b + "attn_k.weight", (kv * d, h), f16),
                   (b + "attn_v.weight", (kv * d, h), f16),
                   (b + "attn_output.weight", (h, heads * d), f16),
                   (b + "ffn_gate.weight", (f, h), f16), (b + "ffn_up.weight", (f, h), f16),
                   (b + "ffn_down.weight", (h, f), f16)]
        if arch == "qwen3":
            shapes += [(b + "attn_q_norm.weight", (d,), f32),
                       (b + "attn_k_norm.weight", (d,), f32)]
    total = 0
    for name, shape, dtype in shapes:
        n = 1
        for x in shape:
            n *= x
        nbytes = n * (2 if dtype == f16 else 4)
        w.add_tensor_info(name, shape, gguf.GGMLQuantizationType.F32 if dtype == f32
                          else dtype, nbytes, raw_dtype=dtype)
        total += gguf.GGUFWriter.ggml_pad(nbytes, w.data_alignment)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.flush()
    fout = w.fout[0]
    fout.seek(0, 2)
    pos = fout.tell()
    start = gguf.GGUFWriter.ggml_pad(pos, w.data_alignment)
    w.close()
    with path.open("r+b") as handle:
        handle.truncate(start + total)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("bin", type=Path)
    parser.add_argument("config", type=Path)
    parser.add_argument("arch")
    parser.add_argument("--ctx", type=int, nargs="+", default=[4096])
    parser.add_argument("--fa", default="on")
    parser.add_argument("--ub", type=int, default=512)
    args = parser.parse_args()
    cfg = json.loads(args.config.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.gguf"
        write_gguf(path, cfg, args.arch)
        for ctx in args.ctx:
            out = subprocess.run(
                [str(args.bin / "llama-fit-params"), "-m", str(path), "-c", str(ctx), "-fa",
                 args.fa, "-ub", str(args.ub), "--fit-print", "on", "-ngl", "0"],
                capture_output=True, text=True, check=False)
            print(ctx, args.fa, out.stdout.strip().replace("\n", " | "),
                  out.stderr.strip().splitlines()[-1:] if out.returncode else "")


if __name__ == "__main__":
    main()
