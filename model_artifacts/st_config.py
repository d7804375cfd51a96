"""Read a sentence-transformers model directory's configs, without torch.

The build and the tests both need to know what a source directory declares (pooling, max
length, normalisation, special tokens) before any heavy import, and a directory that is not a
BERT-family sentence-transformers model must be refused with the names of what is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REQUIRED_FILES = ("modules.json", "sentence_bert_config.json", "config.json", "tokenizer.json")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
SUPPORTED_MODEL_TYPES = ("bert",)
# sentence-transformers' Pooling flags -> the manifest's pooling names
POOLING_FLAGS = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
}
UNSUPPORTED_POOLING_FLAGS = (
    "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens",
    "pooling_mode_lasttoken",
)
TRANSFORMER_MODULE = "sentence_transformers.models.Transformer"
POOLING_MODULE = "sentence_transformers.models.Pooling"
NORMALIZE_MODULE = "sentence_transformers.models.Normalize"


class SourceError(Exception):
    """The directory is not a sentence-transformers model this pipeline can build."""


@dataclass(frozen=True)
class SourceConfig:
    path: Path
    model_type: str
    dimensions: int
    max_seq_length: int
    pooling: str
    normalize: bool
    vocab_size: int
    special_tokens: dict[str, Any]
    weights_file: str
    # config_sentence_transformers.json's prompts and default_prompt_name (handler/prompts.py)
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None

    @property
    def prompts_section(self) -> dict[str, Any]:
        """The manifest's `prompts` section (handler/artifact.py reads it)."""
        return {"prompts": dict(self.prompts), "default_prompt_name": self.default_prompt_name}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise SourceError(f"{path} is not valid JSON: {exc}") from exc


def missing_files(path: Path) -> list[str]:
    """Names of the files a sentence-transformers directory needs but `path` lacks."""
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    return missing


def _module_types(modules: list[dict[str, Any]]) -> list[str]:
    return [str(m.get("type", "")).replace("sentence_transformers.models.", "") for m in modules]


def parse_pooling(config: dict[str, Any]) -> str:
    """One of "mean", "cls", "max" from a 1_Pooling/config.json; SourceError otherwise."""
    if isinstance(config.get("pooling_mode"), str):  # newer sentence-transformers spell it out
        mode = config["pooling_mode"]
        mode = {"mean_tokens": "mean", "cls_token": "cls", "max_tokens": "max"}.get(mode, mode)
        if mode not in POOLING_FLAGS.values():
            raise SourceError(f"pooling mode {mode!r} is not supported (mean, cls or max)")
        return str(mode)
    unsupported = [flag for flag in UNSUPPORTED_POOLING_FLAGS if config.get(flag)]
    if unsupported:
        raise SourceError(f"pooling {', '.join(unsupported)} is not supported (mean, cls or max)")
    modes = [name for flag, name in POOLING_FLAGS.items() if config.get(flag)]
    if len(modes) != 1:
        raise SourceError(
            f"the pooling config must enable exactly one of {', '.join(POOLING_FLAGS)}; "
            f"it enables {modes or 'none'}"
        )
    return modes[0]


def _token_id(name: str, tokenizer: dict[str, Any]) -> int:
    for added in tokenizer.get("added_tokens", []):
        if added.get("content") == name:
            return int(added["id"])
    vocab = tokenizer.get("model", {}).get("vocab")
    if isinstance(vocab, dict) and name in vocab:
        return int(vocab[name])
    raise SourceError(f"special token {name!r} is not in tokenizer.json")


def _special_token_names(path: Path) -> dict[str, str]:
    names = {"cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]", "unk": "[UNK]"}
    for file in ("tokenizer_config.json", "special_tokens_map.json"):
        if (path / file).is_file():
            config = _read_json(path / file)
            for role in names:
                value = config.get(f"{role}_token")
                if isinstance(value, dict):
                    value = value.get("content")
                if isinstance(value, str):
                    names[role] = value
    return names


def parse_special_tokens(path: Path) -> dict[str, Any]:
    tokenizer = _read_json(path / "tokenizer.json")
    ids = {
        f"{role}_token_id": _token_id(name, tokenizer)
        for role, name in _special_token_names(path).items()
    }
    return {"add_special_tokens": True, **ids}


def parse_prompts(path: Path) -> tuple[dict[str, str], str | None]:
    """`prompts` and `default_prompt_name` from config_sentence_transformers.json (none when
    the file or the keys are absent, as in models saved before sentence-transformers 2.4)."""
    file = path / "config_sentence_transformers.json"
    config = _read_json(file) if file.is_file() else {}
    prompts = config.get("prompts") or {}
    if not isinstance(prompts, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in prompts.items()
    ):
        raise SourceError(f"{file} prompts must map names to strings")
    default = config.get("default_prompt_name")
    if default is not None and default not in prompts:
        raise SourceError(f"{file} default_prompt_name {default!r} is not one of its prompts")
    return dict(prompts), default


def read_source(path: Path | str) -> SourceConfig:
    """Parse and check a sentence-transformers directory.

    Raises SourceError naming the missing files or the unsupported setting.
    """
    path = Path(path).resolve()
    if not path.is_dir():
        raise SourceError(f"{path} is not a directory")
    missing = missing_files(path)
    if missing:
        raise SourceError(
            f"{path} is not a sentence-transformers model directory: missing {', '.join(missing)}"
        )
    modules = _read_json(path / "modules.json")
    types = _module_types(modules)
    if not types or types[0] != TRANSFORMER_MODULE.rsplit(".", 1)[1]:
        raise SourceError(f"{path}/modules.json must start with a Transformer module; has {types}")
    pooling_modules = [m for m in modules if str(m.get("type")) == POOLING_MODULE]
    if len(pooling_modules) != 1:
        raise SourceError(f"{path}/modules.json must have exactly one Pooling module; has {types}")
    allowed = {"Transformer", "Pooling", "Normalize"}
    extra = [t for t in types if t not in allowed]
    if extra:
        raise SourceError(f"{path}/modules.json has modules this pipeline can't export: {extra}")
    pooling_path = path / str(pooling_modules[0].get("path", "")) / "config.json"
    if not pooling_path.is_file():
        rel = pooling_path.relative_to(path)
        raise SourceError(f"{path} is missing {rel} (the pooling config)")
    pooling_config = _read_json(pooling_path)
    if pooling_config.get("include_prompt") is False:
        # sentence-transformers would pool without the prompt's tokens: the served path
        # pools every token, so its vectors would differ.
        raise SourceError(f"{pooling_path}: include_prompt false is not supported")
    config = _read_json(path / "config.json")
    model_type = str(config.get("model_type", ""))
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise SourceError(
            f"{path}/config.json model_type {model_type!r} is not supported "
            f"({', '.join(SUPPORTED_MODEL_TYPES)})"
        )
    st_config = _read_json(path / "sentence_bert_config.json")
    if "max_seq_length" not in st_config:
        raise SourceError(f"{path}/sentence_bert_config.json has no max_seq_length")
    max_seq_length = int(st_config["max_seq_length"])
    max_positions = int(config.get("max_position_embeddings", max_seq_length))
    dimensions = int(pooling_config.get("word_embedding_dimension", config.get("hidden_size", 0)))
    if dimensions != int(config.get("hidden_size", dimensions)):
        raise SourceError(f"pooling dimension {dimensions} != hidden_size {config['hidden_size']}")
    prompts, default_prompt_name = parse_prompts(path)
    return SourceConfig(
        path=path,
        model_type=model_type,
        dimensions=dimensions,
        max_seq_length=min(max_seq_length, max_positions),
        pooling=parse_pooling(pooling_config),
        normalize=NORMALIZE_MODULE in [str(m.get("type")) for m in modules],
        vocab_size=int(config["vocab_size"]),
        special_tokens=parse_special_tokens(path),
        weights_file=next(name for name in WEIGHT_FILES if (path / name).is_file()),
        prompts=prompts,
        default_prompt_name=default_prompt_name,
    )
