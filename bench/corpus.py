"""The held-out corpus (one real English sentence a line), shared by every engine."""

from __future__ import annotations

from pathlib import Path


def read_corpus(path: Path, limit: int | None = None) -> list[str]:
    """Non-empty stripped lines of the corpus, the first `limit` of them when given."""
    if not path.is_file():
        raise FileNotFoundError(f"no corpus at {path}: build it with `make model`")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    texts = [line for line in lines if line]
    return texts[:limit] if limit else texts


def big_batch(texts: list[str], size: int) -> list[str]:
    """`size` inputs cycled from the corpus, for the 2048-input request."""
    return [texts[i % len(texts)] for i in range(size)]


def token_counts(texts: list[str], tokenizer_json: Path, max_tokens: int) -> dict[str, float]:
    """Tokens per text as the service counts usage: the model's tokenizer, special tokens
    included, truncated at the model's max input tokens."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_tokens)
    counts = [len(e.ids) for e in tokenizer.encode_batch(texts)]
    return {
        "texts": len(texts),
        "total_tokens": sum(counts),
        "mean_tokens": round(sum(counts) / len(counts), 2),
        "max_tokens": max(counts),
    }
