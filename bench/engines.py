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
    """A plain onnxruntime pipeline: the model build's OnnxEmbedder (sort by length, batch,
    mean-pool, normalise) on a session of its own.

    Used for the fp32 export, which has no manifest of its own, so that it runs the same
    length-sorted batching as the service and the comparison is about the model, not the loop.
    """
    import onnxruntime as ort

    from model_artifacts.embed import OnnxEmbedder, load_tokenizer

    options = ort.SessionOptions()  # as handler.embedder's, but letting ORT optimise the graph
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    embedder = OnnxEmbedder(
        session,
        load_tokenizer(tokenizer_path, max_tokens),
        pooling="mean",
        normalize=True,
        pad_id=0,
        output=session.get_outputs()[0].name,
    )
    return lambda texts: embedder.encode(texts, BATCH_SIZE)


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
