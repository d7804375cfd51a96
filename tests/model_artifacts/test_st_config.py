"""Parsing a sentence-transformers directory: pooling, max length, normalisation, refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from model_artifacts.st_config import SourceError, parse_pooling, read_source

pytestmark = pytest.mark.unit
StDir = Callable[..., Path]


def pooling(**flags: bool) -> dict[str, object]:
    config: dict[str, object] = {"word_embedding_dimension": 32}
    for mode in ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens"):
        config[f"pooling_mode_{mode}"] = flags.get(mode, False)
    return config


def test_reads_everything_the_manifest_needs(st_dir: StDir) -> None:
    source = read_source(st_dir(max_seq_length=200))
    assert (source.pooling, source.max_seq_length, source.normalize) == ("mean", 200, True)
    assert (source.dimensions, source.vocab_size, source.model_type) == (32, 8, "bert")
    assert source.special_tokens == {
        "add_special_tokens": True,
        "cls_token_id": 2,
        "sep_token_id": 3,
        "pad_token_id": 0,
        "unk_token_id": 1,
    }
    assert source.weights_file == "model.safetensors"


@pytest.mark.parametrize(
    ("flag", "mode"), [("cls_token", "cls"), ("mean_tokens", "mean"), ("max_tokens", "max")]
)
def test_pooling_flag_selects_mode(st_dir: StDir, flag: str, mode: str) -> None:
    assert read_source(st_dir(pooling=pooling(**{flag: True}))).pooling == mode


@pytest.mark.parametrize(("spelled", "mode"), [("cls", "cls"), ("mean_tokens", "mean")])
def test_newer_pooling_mode_string(spelled: str, mode: str) -> None:
    assert parse_pooling({"embedding_dimension": 32, "pooling_mode": spelled}) == mode


def test_max_length_is_capped_by_position_embeddings(st_dir: StDir) -> None:
    source = read_source(st_dir(max_seq_length=1024, max_position_embeddings=512))
    assert source.max_seq_length == 512


def test_no_normalize_module_means_no_normalisation(st_dir: StDir) -> None:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    assert read_source(st_dir(modules=modules)).normalize is False


def test_pooling_dir_is_found_through_modules_json(st_dir: StDir) -> None:
    root = st_dir()
    (root / "1_Pooling").rename(root / "pool")
    modules = json.loads((root / "modules.json").read_text())
    modules[1]["path"] = "pool"
    (root / "modules.json").write_text(json.dumps(modules))
    assert read_source(root).pooling == "mean"


@pytest.mark.parametrize(
    "missing", ["modules.json", "sentence_bert_config.json", "config.json", "tokenizer.json"]
)
def test_missing_file_is_named(st_dir: StDir, missing: str) -> None:
    root = st_dir()
    (root / missing).unlink()
    with pytest.raises(
        SourceError, match=f"not a sentence-transformers model directory: missing {missing}$"
    ):
        read_source(root)


def test_missing_weights_are_named(st_dir: StDir) -> None:
    root = st_dir()
    (root / "model.safetensors").unlink()
    with pytest.raises(SourceError, match="missing model.safetensors or pytorch_model.bin"):
        read_source(root)


def test_plain_directory_lists_every_missing_file(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(SourceError) as caught:
        read_source(tmp_path)
    message = str(caught.value)
    for name in (
        "modules.json",
        "sentence_bert_config.json",
        "config.json",
        "tokenizer.json",
        "model.safetensors or pytorch_model.bin",
    ):
        assert name in message


def test_missing_pooling_config_is_named(st_dir: StDir) -> None:
    root = st_dir()
    (root / "1_Pooling" / "config.json").unlink()
    with pytest.raises(SourceError, match="missing 1_Pooling/config.json"):
        read_source(root)


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is not a directory"):
        read_source(tmp_path / "nowhere")


@pytest.mark.parametrize(
    "config",
    [
        pooling(mean_sqrt_len_tokens=True, mean_tokens=True),
        pooling(),
        pooling(cls_token=True, max_tokens=True),
    ],
    ids=["unsupported-mode", "none", "two"],
)
def test_pooling_that_cannot_be_served_is_refused(st_dir: StDir, config: dict[str, object]) -> None:
    with pytest.raises(SourceError, match="pooling"):
        read_source(st_dir(pooling=config))


def test_non_bert_model_is_refused(st_dir: StDir) -> None:
    with pytest.raises(SourceError, match="model_type 'llama' is not supported"):
        read_source(st_dir(model_type="llama"))


def test_extra_modules_are_refused(st_dir: StDir) -> None:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
    ]
    with pytest.raises(SourceError, match="can't export: \\['Dense'\\]"):
        read_source(st_dir(modules=modules))


def test_bad_json_names_the_file(st_dir: StDir) -> None:
    root = st_dir()
    (root / "sentence_bert_config.json").write_text("{not json")
    with pytest.raises(SourceError, match="sentence_bert_config.json is not valid JSON"):
        read_source(root)


def test_prompts_are_read_from_config_sentence_transformers(
    st_dir: Callable[..., Path],
) -> None:
    root = st_dir()
    config = {"prompts": {"query": "query: ", "document": ""}, "default_prompt_name": "query"}
    (root / "config_sentence_transformers.json").write_text(json.dumps(config))
    source = read_source(root)
    assert source.prompts_section == config
    (root / "config_sentence_transformers.json").write_text('{"__version__": {}}')
    assert read_source(root).prompts_section == {"prompts": {}, "default_prompt_name": None}


def test_a_default_prompt_that_is_not_a_prompt_is_refused(st_dir: Callable[..., Path]) -> None:
    root = st_dir()
    config = {"prompts": {"query": "query: "}, "default_prompt_name": "document"}
    (root / "config_sentence_transformers.json").write_text(json.dumps(config))
    with pytest.raises(SourceError, match="default_prompt_name 'document'"):
        read_source(root)


def test_pooling_without_the_prompts_tokens_is_refused(st_dir: Callable[..., Path]) -> None:
    pooling = {"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True}
    root = st_dir(pooling={**pooling, "include_prompt": False})
    with pytest.raises(SourceError, match="include_prompt"):
        read_source(root)
