"""Regenerate longdocs.jsonl: long documents with held-out queries, for the long-input check.

Source: the Python Language Reference as it ships inside CPython (`pydoc_data/topics.py`),
under the PSF License (see LICENSE and README.md); the committed file came from CPython 3.13.0:
`.venv/bin/python model_artifacts/corpus/longdocs.py build/model/tokenizer.json`.

A document is one topic, or, for a topic over its cap, consecutive sections of it (cut at its
headings) of at most that cap; the cap is MAX_TOKENS, 2,500 or 1,200 by the topic's name, so
the large topics give documents of every length rather than a few of the longest. Queries are
prose sentences drawn out of the document at spread positions (start, middle, end) and
removed from its text, so a query never matches its document word for word; sentences of the
build's calibration corpus are never queries. Kept: documents of MIN_TOKENS..MAX_TOKENS model
tokens after the queries are removed.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from pydoc_data.topics import topics
from typing import Any

from tokenizers import Tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from extract import keep, sentences  # noqa: E402  (the sibling script's sentence rules)

HERE = Path(__file__).resolve().parent
MIN_TOKENS, MAX_TOKENS = 300, 8000
CAPS = (MAX_TOKENS, 2500, 1200)
QUERIES_PER_DOCUMENT = 3
HEADING_RULE = re.compile(r"^[*=\-~^]{3,}$")


def blocks(text: str) -> list[str]:
    return [block for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]


def is_prose(block: str) -> bool:
    lines = block.split("\n")
    return not any(line.startswith((" ", "\t")) for line in lines) and not (
        len(lines) > 1 and HEADING_RULE.match(lines[-1])
    )


def sections(text: str) -> list[list[str]]:
    """The topic's blocks grouped by heading: a heading block starts a new section."""
    out: list[list[str]] = [[]]
    for block in blocks(text):
        lines = block.split("\n")
        if len(lines) > 1 and HEADING_RULE.match(lines[-1]) and out[-1]:
            out.append([])
        out[-1].append(block)
    return out


def documents(tokenizer: Tokenizer) -> list[tuple[str, list[str]]]:
    def count(parts: list[str]) -> int:
        return len(tokenizer.encode("\n\n".join(parts)).ids)

    out = []
    for name in sorted(topics):
        parts = blocks(topics[name])
        cap = CAPS[int(hashlib.sha256(name.encode()).hexdigest(), 16) % len(CAPS)]
        if count(parts) <= cap:
            out.append((name, parts))
            continue
        pieces: list[list[str]] = [[]]
        for section in sections(topics[name]):
            if pieces[-1] and count(pieces[-1] + section) > cap:
                pieces.append([])
            pieces[-1] += section
        out += [(f"{name}#{n}", piece) for n, piece in enumerate(pieces, start=1)]
    return out


def with_queries(parts: list[str], excluded: set[str], seed: str) -> tuple[str, list[str]] | None:
    """The document's text with up to QUERIES_PER_DOCUMENT sentences drawn out, and those."""
    prose = [" ".join(line.strip() for line in p.split("\n")) if is_prose(p) else p for p in parts]
    candidates = [
        (b, s)
        for b, block in enumerate(prose)
        if is_prose(parts[b])
        for s in sentences(block)
        if keep(s)
        and 8 <= len(s.split()) <= 40
        and s.lower() not in excluded
        and "|" not in s
        and "  " not in s
    ]
    if not candidates:
        return None
    shift = int(hashlib.sha256(seed.encode()).hexdigest(), 16) % max(1, len(candidates) // 6)
    n = len(candidates)
    picks = sorted(
        {
            min(n - 1, shift + (n - 1) * q // max(1, QUERIES_PER_DOCUMENT - 1))
            for q in range(QUERIES_PER_DOCUMENT)
        }
    )
    queries = []
    for pick in picks:
        b, sentence = candidates[pick]
        if prose[b].count(sentence) != 1:
            continue
        prose[b] = " ".join(prose[b].replace(sentence, " ").split())
        queries.append(sentence)
    text = "\n\n".join(p for p in prose if p.strip())
    return (text, queries) if queries else None


def main() -> None:
    tokenizer = Tokenizer.from_file(sys.argv[1])
    tokenizer.no_truncation()
    excluded = {line.strip().lower() for line in (HERE / "calibration.txt").open()}
    rows: list[dict[str, Any]] = []
    for doc_id, parts in documents(tokenizer):
        made = with_queries(parts, excluded, doc_id)
        if made is None:
            continue
        text, queries = made
        tokens = len(tokenizer.encode(text).ids)
        if MIN_TOKENS <= tokens <= MAX_TOKENS:
            rows.append({"id": doc_id, "tokens": tokens, "text": text, "queries": queries})
    with (HERE / "longdocs.jsonl").open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    total = sum(len(r["queries"]) for r in rows)
    lengths = sorted(r["tokens"] for r in rows)
    print(
        f"{len(rows)} documents ({lengths[0]}..{lengths[-1]} tokens, median "
        f"{lengths[len(lengths) // 2]}), {total} queries"
    )


if __name__ == "__main__":
    main()
