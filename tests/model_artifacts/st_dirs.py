"""Small sentence-transformers config directories for the model build's tests.

The directories hold real config files in the shapes sentence-transformers writes, and a
minimal real WordPiece tokenizer.json; the weights file only has to exist (nothing here loads
weights: parsing is torch-free on purpose).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat"]
POOLING_DEFAULT = {
    "word_embedding_dimension": 32,
    "pooling_mode_cls_token": False,
    "pooling_mode_mean_tokens": True,
    "pooling_mode_max_tokens": False,
    "pooling_mode_mean_sqrt_len_tokens": False,
}
MODULES_DEFAULT = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    {
        "idx": 2,
        "name": "2",
        "path": "2_Normalize",
        "type": "sentence_transformers.models.Normalize",
    },
]


def tokenizer_json() -> dict[str, Any]:
    specials = [
        {
            "id": i,
            "content": t,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for i, t in enumerate(VOCAB[:5])
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": specials,
        "normalizer": {
            "type": "BertNormalizer",
            "clean_text": True,
            "handle_chinese_chars": True,
            "strip_accents": None,
            "lowercase": True,
        },
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 1}},
                {"SpecialToken": {"id": "[SEP]", "type_id": 1}},
            ],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]},
            },
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {
            "type": "WordPiece",
            "unk_token": "[UNK]",
            "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100,
            "vocab": {t: i for i, t in enumerate(VOCAB)},
        },
    }


def write_st_dir(
    root: Path,
    pooling: dict[str, Any] | None = None,
    modules: list[dict[str, Any]] | None = None,
    max_seq_length: int = 128,
    model_type: str = "bert",
    max_position_embeddings: int = 512,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "1_Pooling").mkdir(exist_ok=True)
    files: dict[str, Any] = {
        "modules.json": MODULES_DEFAULT if modules is None else modules,
        "sentence_bert_config.json": {"max_seq_length": max_seq_length, "do_lower_case": False},
        "config.json": {
            "model_type": model_type,
            "hidden_size": 32,
            "num_attention_heads": 2,
            "vocab_size": len(VOCAB),
            "max_position_embeddings": max_position_embeddings,
        },
        "1_Pooling/config.json": POOLING_DEFAULT if pooling is None else pooling,
        "tokenizer.json": tokenizer_json(),
        "special_tokens_map.json": {
            "cls_token": "[CLS]",
            "sep_token": "[SEP]",
            "pad_token": "[PAD]",
            "unk_token": "[UNK]",
        },
    }
    for name, content in files.items():
        (root / name).write_text(json.dumps(content))
    (root / "model.safetensors").write_bytes(b"")
    return root
