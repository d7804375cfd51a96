"""The long-input check: its corpus, its recall arithmetic, its gate and the built record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from handler.embedder import Embedder, load_embedder
from model_artifacts.fidelity import MIN_MEAN_COSINE, MIN_MIN_COSINE
from model_artifacts.invariance import MAX_ABS_DIFF
from model_artifacts.long_inputs import LongDocs, LongInputs, measure_long_inputs, recall


@pytest.mark.unit
def test_the_corpus_holds_long_documents_and_held_out_queries() -> None:
    data = LongDocs.read()
    assert len(data.documents) >= 60 and len(data.queries) >= 180
    assert len(data.truth) == len(data.queries)
    for query, document in zip(data.queries, data.truth, strict=True):
        assert query not in data.documents[document]  # drawn out of its text
    assert sorted(set(data.truth)) == list(range(len(data.documents)))


@pytest.mark.unit
def test_recall_counts_the_own_document_in_the_top_k() -> None:
    documents = np.eye(4, dtype=np.float32)
    queries = np.array([[1, 0.1, 0, 0], [0, 0, 0.9, 1], [0.2, 1, 0, 0]], dtype=np.float32)
    assert recall(documents, queries, [0, 2, 1], 1) == pytest.approx(2 / 3)
    assert recall(documents, queries, [0, 2, 1], 2) == 1.0


@pytest.mark.unit
def test_the_gate_fails_on_fidelity_or_invariance() -> None:
    good = LongInputs({}, 1, 1, {}, 1, 0, {"mean_cosine": 0.9995, "min_cosine": 0.997}, 0.0)
    assert good.failures() == []
    bad = LongInputs({}, 1, 1, {}, 1, 0, {"mean_cosine": 0.99, "min_cosine": 0.9}, 1e-3)
    assert len(bad.failures()) == 3


@pytest.mark.functional
def test_int8_pooling_beats_truncation_on_the_served_model(model_dir: Path) -> None:
    # GIVEN a small slice of the corpus, WHEN it is measured without the torch reference
    data = LongDocs.read()
    keep = list(range(0, len(data.documents), 3))
    at = {d: n for n, d in enumerate(keep)}
    pairs = [(q, at[t]) for q, t in zip(data.queries, data.truth, strict=True) if t in at]
    small = LongDocs(
        [data.documents[d] for d in keep], [q for q, _ in pairs], [t for _, t in pairs]
    )
    embedder: Embedder = load_embedder(model_dir, threads=2)
    figures = measure_long_inputs(embedder, data=small)
    # THEN the table has both int8 rows and pooling reads further than the first window
    assert set(figures.recall) == {"int8_pool", "int8_truncate"}
    assert figures.windows > figures.documents
    assert figures.recall["int8_pool"]["recall_at_10"] >= 0.5


@pytest.mark.unit
def test_the_built_manifest_records_the_long_input_check(model_dir: Path) -> None:
    long = json.loads((model_dir / "manifest.json").read_text())["long_inputs"]
    assert long["fidelity"]["mean_cosine"] >= MIN_MEAN_COSINE
    assert long["fidelity"]["min_cosine"] >= MIN_MIN_COSINE
    assert long["invariance"]["max_abs_diff"] <= MAX_ABS_DIFF
    assert set(long["recall"]) == {"int8_pool", "int8_truncate", "fp32_pool", "fp32_truncate"}
    assert long["document_tokens"]["max"] <= 8192 and long["document_tokens"]["min"] >= 300
    assert long["pooling_beats_truncation"] is True  # else the README and the default change
