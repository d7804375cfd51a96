"""Regenerate heldout.txt and calibration.txt from the prose that ships inside CPython.

Two sources, both in every CPython install and both under the PSF License (see LICENSE):
the Python Language Reference (`pydoc_data/topics.py`) and the docstrings of the standard
library's modules, classes and functions. It is real English written by people, not
generated filler. Run with the interpreter whose text you want, e.g.
`python3.13 model_artifacts/corpus/extract.py`; the committed files came from CPython 3.13.0.

Held-out and calibration sentences are disjoint: the order is fixed by each sentence's
sha256, so the split is the same on every machine.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import re
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from pydoc_data.topics import topics

HERE = Path(__file__).resolve().parent
HELDOUT_SIZE = 1200
CALIBRATION_SIZE = 400
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"(])")
SKIPPED_LIB_DIRS = {"test", "idlelib", "lib2to3", "site-packages", "turtledemo", "__phello__"}
ABBREVIATION_END = re.compile(r"\b(e\.g|i\.e|etc|vs|cf|Mr|Dr|St)\.$")


def paragraphs(text: str) -> list[str]:
    """Prose paragraphs only: indented blocks (code, grammar) and headings are dropped."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.split("\n")
        if any(line.startswith((" ", "\t")) for line in lines):
            continue
        if len(lines) > 1 and set(lines[-1]) <= set("*=-~^"):
            continue
        out.append(" ".join(line.strip() for line in lines))
    return out


def sentences(paragraph: str) -> list[str]:
    parts: list[str] = []
    for piece in SENTENCE_END.split(paragraph):
        if parts and ABBREVIATION_END.search(parts[-1]):
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    return parts


def keep(sentence: str) -> bool:
    words = sentence.split()
    if not 4 <= len(words) <= 70 or not (sentence[0].isupper() or sentence[0] == '"'):
        return False
    if sentence[-1] not in ".?!":
        return False
    marks = ("::=", ">>>", "[1]", "[2]", "*Changed", "*New", "See also")
    if any(mark in sentence for mark in marks):
        return False
    letters = sum(ch.isalpha() or ch.isspace() for ch in sentence)
    return letters / len(sentence) > 0.8


def documents() -> Iterator[str]:
    """The reference's topics, then every stdlib docstring, in a fixed order."""
    for name in sorted(topics):
        yield topics[name]
    lib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(lib.rglob("*.py")):
        if SKIPPED_LIB_DIRS & set(path.relative_to(lib).parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node, clean=False)
                if doc:
                    yield inspect.cleandoc(doc)


def main() -> None:
    seen: set[str] = set()
    pool: list[str] = []
    for document in documents():
        for paragraph in paragraphs(document):
            for sentence in sentences(paragraph):
                sentence = re.sub(r"\s+", " ", sentence).strip()
                key = sentence.lower()
                if keep(sentence) and key not in seen:
                    seen.add(key)
                    pool.append(sentence)
    pool.sort(key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    if len(pool) < HELDOUT_SIZE + CALIBRATION_SIZE:
        sys.exit(f"only {len(pool)} sentences found; need {HELDOUT_SIZE + CALIBRATION_SIZE}")
    heldout = pool[:HELDOUT_SIZE]
    calibration = pool[HELDOUT_SIZE : HELDOUT_SIZE + CALIBRATION_SIZE]
    (HERE / "heldout.txt").write_text("\n".join(heldout) + "\n")
    (HERE / "calibration.txt").write_text("\n".join(calibration) + "\n")
    print(f"{len(pool)} sentences; wrote {len(heldout)} held-out, {len(calibration)} calibration")


if __name__ == "__main__":
    main()
