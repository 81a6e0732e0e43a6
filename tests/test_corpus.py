"""The config corpus, tests/data/configs/*.json: every config.json there is estimated with the
parameter count transformers builds for it (pinned in tests/data/param_counts.json), within
its model card's stated size, or refused with exactly one problem that names its model_type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA, load_json

from vramcalc import architecture
from vramcalc.errors import Collector

CORPUS = sorted((DATA / "configs").glob("*.json"))
PINNED: dict[str, Any] = load_json("param_counts.json")["models"]

# the families the issue asks the corpus to cover (each with at least one config)
FAMILIES = {
    "opt", "bloom", "gptj", "mpt", "chatglm", "glm", "glm4", "glm4_moe", "internlm2",
    "cohere", "cohere2", "starcoder2", "olmoe", "granite", "granitemoe", "phimoe", "minicpm",
    "minicpm3", "exaone", "deepseek_v32", "deepseek_v3", "minimax_m2", "ernie4_5",
    "ernie4_5_moe", "dots1", "smollm3", "seed_oss", "qwen", "qwen3_next", "nemotron_h",
    "jamba", "lfm2", "mamba", "mamba2", "phi", "falcon", "gpt_bigcode", "gpt_neox",
}


def _entry(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _read(config: dict[str, Any]) -> tuple[architecture.ModelSpec | None, Collector]:
    collector = Collector()
    return architecture.from_config(config, collector), collector


def test_the_corpus_has_at_least_80_configs_and_every_family() -> None:
    assert len(CORPUS) >= 80
    families = set()
    for path in CORPUS:
        spec, _ = _read(_entry(path)["config"])
        if spec is not None:
            families.add(spec.family)
    assert families >= FAMILIES, sorted(FAMILIES - families)


def test_every_corpus_entry_says_where_its_config_and_size_come_from() -> None:
    for path in CORPUS:
        entry = _entry(path)
        assert entry["source"].startswith("https://huggingface.co/"), path.name
        assert entry["config_verified"] or entry.get("config_note"), path.name
        assert entry.get("expect", "estimate") in ("estimate", "refuse"), path.name
        assert entry["id"] in PINNED, f"{entry['id']}: run python tools/param_counts.py"


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_estimated_exactly_or_refused_by_name(path: Path) -> None:
    entry = _entry(path)
    spec, collector = _read(entry["config"])
    if entry.get("expect") == "refuse":
        # one problem, naming the model type: never one problem per layer, never a number
        assert spec is None
        assert len(collector.problems) == 1, collector.problems
        model_type = entry["config"]["model_type"]
        assert repr(model_type) in collector.problems[0].message
        return
    assert spec is not None, collector.problems
    row = PINNED[entry["id"]]
    checked = False
    if "total" in row:  # transformers builds it: the count is exact
        assert spec.total_parameters == row["total"]
        assert {k: v for k, v in spec.parameters_by_category.items() if v} == \
            {k: v for k, v in row["by_category"].items() if v}
        if "active" in row:
            assert spec.active_parameters == row["active"]
        checked = True
    else:
        assert "no_transformers_class" in row, row
    if "multimodal" in row:  # the vision tower, exactly as ...ForConditionalGeneration has it
        assert spec.vision is not None
        assert spec.vision.parameters == row["multimodal"]["vision"]
        assert spec.total_parameters + spec.vision.parameters == row["multimodal"]["total"]
    published = entry.get("published_params")
    if published is not None and "known_difference" not in published:
        value, ours = float(published["value"]), spec.total_parameters
        if published.get("nominal"):
            assert abs(ours - value) <= 0.06 * value, (ours, published)
        else:  # within one unit of the card's last printed digit
            assert abs(ours - value) < float(published["precision"]), (ours, published)
        checked = True
    elif published is not None:
        assert published["known_difference"]
    assert checked, "an estimate with neither a transformers count nor a published size"
