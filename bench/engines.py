"""The embedding engines under test, each behind the same `embed(texts)` call.

Imports are inside each loader: a worker runs in the one venv that has its engine (the service
venv, the torch export venv, or the bench venv with fastembed), and nothing else is importable
there.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Embed = Callable[[Sequence[str]], Any]
BATCH_SIZE = 32  # sentence-transformers' default; used by every engine we drive ourselves

# What fastembed needs beside the ONNX file when it loads a model from a local path.
FASTEMBED_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "config.json",
)


def load_ours(model_dir: Path, threads: int) -> Embed:
    """The service's own embedder on the int8 artifact, exactly as the handler builds it."""
    from handler.embedder import load_embedder

    embedder = load_embedder(model_dir, threads=threads)
    return lambda texts: embedder.embed(list(texts)).vectors


def load_onnx(model_path: Path, tokenizer_path: Path, threads: int, max_tokens: int) -> Embed:
    """Another ONNX graph (the fp32 export, a bake-off candidate) run by the service's own loop:
    handler.embedder.Embedder with the artifact's manifest and tokenizer (next to
    `tokenizer_path`), on a session of its own that ORT may optimise. So the comparison is
    about the model, not the loop. `max_tokens` is the manifest's; kept for the CLI.
    """
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from handler.artifact import load_manifest
    from handler.embedder import Embedder, make_session

    manifest = load_manifest(tokenizer_path.parent, verify=False)
    session = make_session(model_path, threads, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    embedder = Embedder(
        manifest, Tokenizer.from_file(str(tokenizer_path)), session, batch_size=BATCH_SIZE
    )
    return lambda texts: embedder.embed(list(texts), long_inputs="truncate").vectors


def load_sentence_transformers(st_dir: Path, threads: int) -> Embed:
    """sentence-transformers in torch fp32 on the CPU: what users would otherwise run."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(str(st_dir), device="cpu")
    return lambda texts: model.encode(list(texts), batch_size=BATCH_SIZE)


def fastembed_dir(onnx_path: Path, st_dir: Path) -> Path:
    """A folder laid out the way fastembed's local-path loader expects (files symlinked)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-fastembed-"))
    (folder / "model.onnx").symlink_to(onnx_path.resolve())
    for name in FASTEMBED_TOKENIZER_FILES:
        source = st_dir / name
        if source.is_file():
            (folder / name).symlink_to(source.resolve())
    return folder


def load_fastembed(onnx_path: Path, st_dir: Path, threads: int, dim: int) -> Embed:
    """fastembed's TextEmbedding on our ONNX export, registered as a custom model.

    fastembed normally downloads from a hub; `specific_model_path` makes it read a local folder.
    """
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    folder = fastembed_dir(onnx_path, st_dir)
    name = f"local/serverless-embeddings-{folder.name}"
    TextEmbedding.add_custom_model(
        model=name,
        pooling=PoolingType.MEAN,
        normalization=True,
        sources=ModelSource(hf=name),
        dim=dim,
        model_file="model.onnx",
    )
    model = TextEmbedding(
        model_name=name,
        threads=threads,
        specific_model_path=str(folder),
        cache_dir=str(folder / "cache"),
    )

    def embed(texts: Sequence[str]) -> Any:
        return list(model.embed(list(texts), batch_size=BATCH_SIZE))

    embed.cleanup = lambda: shutil.rmtree(folder, ignore_errors=True)  # type: ignore[attr-defined]
    return embed


def load_ct2(model_dir: Path, tokenizer_path: Path, threads: int, max_tokens: int) -> Embed:
    """CTranslate2's Encoder (int8 weights, int8 activations quantized per row) on a converted
    copy of the same weights, fed length-sorted batches and mean-pooled like ours."""
    import ctranslate2
    import numpy as np
    from tokenizers import Tokenizer

    from handler.embedder import l2_normalize

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.enable_truncation(max_tokens)
    tokenizer.no_padding()
    encoder = ctranslate2.Encoder(
        str(model_dir), device="cpu", compute_type="int8", intra_threads=threads, inter_threads=1
    )

    def embed(texts: Sequence[str]) -> Any:
        tokens = [e.tokens for e in tokenizer.encode_batch(list(texts))]
        order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
        rows: dict[int, Any] = {}
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            hidden = np.asarray(encoder.forward_batch([tokens[i] for i in batch]).last_hidden_state)
            for row, i in enumerate(batch):
                rows[i] = hidden[row, : len(tokens[i])].sum(axis=0) / len(tokens[i])
        out = np.stack([rows[i] for i in range(len(tokens))]).astype(np.float32)
        return l2_normalize(out)

    return embed
