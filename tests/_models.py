"""Model configs for the engine tests: the recorded Hub answers in tests/data/hub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HUB = Path(__file__).parent / "data" / "hub"
GiB = 1 << 30
MiB = 1 << 20


def config(model_id: str) -> dict[str, Any]:
    return json.loads((HUB / model_id / "config.json").read_text(encoding="utf-8"))


def request(model_id: str, **fields: Any) -> dict[str, Any]:
    """An inference request for a recorded model."""
    return {"mode": "inference", "model": {"config": config(model_id), "name": model_id},
            **fields}


# A tiny Llama: 2 layers, 4 query heads, 2 KV heads of head_dim 8 (hidden 32), vocab 100.
TINY = {
    "model_type": "llama", "hidden_size": 32, "intermediate_size": 64,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "vocab_size": 100, "max_position_embeddings": 4096, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
}
