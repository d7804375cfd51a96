"""Sentence embeddings from the model artifact: pure compute, no web or AWS imports.

Public API (the handler, the benchmarks and the deployment checks call these):

- `load_embedder(model_dir, threads=None, batch_size=32, verify=True, batch_tokens=256)
  -> Embedder`
  reads `model_dir/manifest.json` through `handler.artifact.load_manifest` (sha256-verified
  unless verify=False), the `tokenizers` Tokenizer from tokenizer.json and an ONNX Runtime
  session over model.onnx. Raises `handler.artifact.ArtifactError` for a bad artifact.
- `Embedder.embed(inputs, long_inputs="reject", max_pooled_tokens=8192) -> EmbeddingResult`:
  `inputs` is a sequence of strings or a sequence of token-id sequences (the model's own
  tokenizer ids). Returns vectors (float32, shape (n, dimensions), in input order,
  L2-normalised if the manifest says so) and per-input token counts (special tokens included).
  An input over the model's window (`max_input_tokens`) is, by `long_inputs`:
  "reject": an `InputTooLongError`; "truncate": cut to the window, keeping the final [SEP];
  "pool": embedded as windows whose pooled vectors are combined (see `windows` and
  `combine_windows`), up to `max_pooled_tokens` (OpenAI's 8,192), past which it is an
  `InputTooLongError`. `TokenIdError` for an id outside the vocabulary and `EmptyInputError`
  for an empty input.
- `Embedder.tokenize(...) -> Tokenized` and `Embedder.run(tokenized) -> ndarray` are the two
  halves of `embed`, so a caller can check request-wide token limits before running the model.
- `truncate_dimensions(vectors, n)`: keep the first n dimensions and L2-renormalise.

Compute path: tokenize -> cut long inputs into windows -> sort rows by length -> runs of at
most `batch_size` rows and `batch_tokens` padded tokens, each padded to its longest member (on
arm64: rows of one length per run, see PADDING_CHANGES_BITS) -> ONNX run -> pool with the
attention mask -> combine each input's windows -> normalise -> restore input order. The
artifact is batch-invariant, so how a request is cut into runs changes its speed, never its
vectors; a window is one more row, so that holds for long inputs too.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from handler.artifact import ArtifactError, Manifest, load_manifest
from handler.settings import LONG_INPUT_MODES, OPENAI_MAX_INPUT_TOKENS

Inputs = Sequence[str] | Sequence[Sequence[int]]
# Padded tokens per model run. A run's activations (tokens x 1,536 floats in the feed-forward
# layer) then stay inside a core's L2 cache (docs/notes/2026-11-30-bakeoff.md).
BATCH_TOKENS = 256
# On arm64 (measured under qemu as Neoverse N1 and Cortex-A72, tools/arm64) a text's vector
# moves when it is padded: some float32 reduction over the padded width rounds differently,
# and int8 rounding can amplify the last bit to ~1e-3. Threads and batch rows do not move it.
# There, runs hold texts of one length only, so a vector never depends on its batch-mates.
# On x86 padding was measured bit-neutral (the build's gate), so runs mix lengths.
PADDING_CHANGES_BITS = platform.machine().lower() in ("aarch64", "arm64")
MAX_POOLED_TOKENS = OPENAI_MAX_INPUT_TOKENS
# Tokens a window shares with the one before it. Measured on the long-document retrieval set
# (model_artifacts/long_inputs.py, docs/api.md "Long inputs"): overlap bought no recall there, and
# costs compute, so windows do not overlap.
WINDOW_OVERLAP = 0
# A text this many characters per allowed token long is first tokenized up to a whitespace
# near that length: a 6 MB input is refused after ~10^5 characters, not ~10^6 tokens. Sound
# for tokenizers whose normaliser is per character and whose pre-tokenizer splits at
# whitespace (BERT's, byte-level BPE's): a prefix cut there never has more tokens than the
# whole text, so a prefix over the limit proves the text is.
PREFIX_CHARS_PER_TOKEN = 8


class InputError(ValueError):
    """One input cannot be embedded; `index` is its position in the request."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


class EmptyInputError(InputError):
    pass


class InputTooLongError(InputError):
    """`at_least`: `tokens` counts only a prefix of the input, already over the limit."""

    def __init__(self, index: int, tokens: int, limit: int, at_least: bool = False) -> None:
        more = "at least " if at_least else ""
        super().__init__(f"input {index} has {more}{tokens} tokens; the limit is {limit}", index)
        self.tokens = tokens
        self.limit = limit
        self.at_least = at_least


class TokenIdError(InputError):
    def __init__(self, index: int, token_id: object, vocab_size: int) -> None:
        message = f"input {index} has token id {token_id!r} outside [0, {vocab_size})"
        super().__init__(message, index)
        self.token_id = token_id
        self.vocab_size = vocab_size


@dataclass(frozen=True)
class Tokenized:
    ids: list[list[int]]  # per input, special tokens included, after any truncation
    truncated: int  # how many inputs were cut to max_input_tokens
    pooled: int = 0  # how many inputs will be embedded as more than one window

    @property
    def token_counts(self) -> list[int]:
        return [len(ids) for ids in self.ids]


@dataclass(frozen=True)
class EmbeddingResult:
    vectors: np.ndarray  # (n, dimensions) float32, input order
    token_counts: list[int]  # per input, special tokens included (all of it, when pooled)
    truncated: int
    pooled: int = 0

    @property
    def total_tokens(self) -> int:
        return sum(self.token_counts)


def pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """(batch, seq, dim) token states -> (batch, dim), ignoring padding per the mask."""
    if mode == "cls":
        return hidden[:, 0]
    weights = mask.astype(hidden.dtype)
    if mode == "mean":
        # Row by row over the real tokens only: a matmul over the padded width would sum in an
        # order that depends on the padding, so a text's vector would move with its batch-mates.
        real = mask.astype(bool)
        summed = np.stack([hidden[r][real[r]].sum(axis=0) for r in range(hidden.shape[0])])
        return np.asarray(summed / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9))
    if mode == "max":
        return np.where(weights[..., None] > 0, hidden, -np.inf).max(axis=1)
    raise ValueError(f"unknown pooling mode {mode!r}")


def windows(
    ids: Sequence[int], window: int, overlap: int, cls: int | None, sep: int | None
) -> list[list[int]]:
    """An over-long input's rows: `[CLS] + up to window-2 tokens + [SEP]` each (without special
    tokens when the model has none), consecutive windows sharing `overlap` tokens. Every token
    lands in some window; a tail that only repeats the previous window's overlap is dropped."""
    body = list(ids)
    if cls is not None and body and body[0] == cls:
        body = body[1:]
    if sep is not None and body and body[-1] == sep:
        body = body[:-1]
    head = [cls] if cls is not None else []
    tail = [sep] if sep is not None else []
    size = window - len(head) - len(tail)
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"window {window} with overlap {overlap} holds no new tokens")
    out = []
    for start in range(0, len(body), size - overlap):
        out.append(head + body[start : start + size] + tail)
        if start + size >= len(body):
            break
    return out


def combine_windows(pooled: np.ndarray, lengths: Sequence[int], mode: str) -> np.ndarray:
    """One input's vector from its windows' pooled (not yet normalised) vectors, as if pooled
    over every window's tokens at once: "mean" is the token-weighted mean (each window weighs
    its attention-mask sum), "max" the elementwise max, and "cls", which has no whole-input
    token, the token-weighted mean of the windows' [CLS] states, so a short tail window
    counts for what it holds (docs/api.md, "Long inputs"). Summed in window order: deterministic."""
    if mode == "max":
        return np.asarray(pooled.max(axis=0))
    if mode not in ("mean", "cls"):
        raise ValueError(f"unknown pooling mode {mode!r}")
    weights = np.asarray(lengths, dtype=np.float64)[:, None]
    mean = (pooled.astype(np.float64) * weights).sum(axis=0) / weights.sum()
    return np.asarray(mean, dtype=pooled.dtype)


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12))


def truncate_dimensions(vectors: np.ndarray, dimensions: int) -> np.ndarray:
    """The first `dimensions` columns, L2-renormalised (what OpenAI's `dimensions` does)."""
    if not 1 <= dimensions <= vectors.shape[1]:
        raise ValueError(f"dimensions must be in [1, {vectors.shape[1]}], got {dimensions}")
    if dimensions == vectors.shape[1]:
        return vectors
    return l2_normalize(vectors[:, :dimensions]).astype(np.float32, copy=False)


def session_level(manifest: Manifest) -> ort.GraphOptimizationLevel:
    """The level the manifest asks for (onnx.graph_optimization.session_level): the build saved
    an already-optimised graph, so optimising it again at load would only cost cold start."""
    onnx = manifest.extra.get("onnx") or {}
    name = (onnx.get("graph_optimization") or {}).get("session_level", "ORT_DISABLE_ALL")
    level = getattr(ort.GraphOptimizationLevel, str(name), None)
    if not isinstance(level, ort.GraphOptimizationLevel):
        raise ArtifactError(f"manifest onnx.graph_optimization.session_level {name!r} is unknown")
    return level


def make_session(
    model_path: Path,
    threads: int,
    level: ort.GraphOptimizationLevel = ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = level
    # Spinning threads burn the vCPU that Lambda bills for while waiting for work.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


def batches(
    order: list[int],
    lengths: list[int],
    batch_size: int,
    batch_tokens: int | None,
    exact_lengths: bool = False,
) -> list[list[int]]:
    """Cut `order` (indices sorted by length) into runs of at most `batch_size` texts whose
    padded size (texts x longest) stays within `batch_tokens`; a longer text runs alone.
    With `exact_lengths`, a run holds texts of one length only, so nothing is padded."""
    out: list[list[int]] = []
    rows: list[int] = []
    for i in order:
        fits = batch_tokens is None or (len(rows) + 1) * lengths[i] <= batch_tokens
        if exact_lengths and rows and lengths[rows[-1]] != lengths[i]:
            fits = False
        if rows and (len(rows) == batch_size or not fits):
            out.append(rows)
            rows = []
        rows.append(i)
    if rows:
        out.append(rows)
    return out


class Embedder:
    def __init__(
        self,
        manifest: Manifest,
        tokenizer: Tokenizer,
        session: ort.InferenceSession,
        batch_size: int = 32,
        batch_tokens: int | None = BATCH_TOKENS,
        exact_lengths: bool | None = None,
    ) -> None:
        self.manifest = manifest
        self.tokenizer = tokenizer
        self.session = session
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.exact_lengths = PADDING_CHANGES_BITS if exact_lengths is None else exact_lengths
        self.window_overlap = WINDOW_OVERLAP  # the long-input study varies it
        special = manifest.special_tokens
        self._add_special = bool(special.get("add_special_tokens", True))
        self._cls: int | None = special.get("cls_token_id")
        self._sep: int | None = special.get("sep_token_id")
        self._pad = int(special.get("pad_token_id") or 0)
        # We count true lengths ourselves; a truncation baked into tokenizer.json would hide them.
        tokenizer.no_truncation()
        tokenizer.no_padding()

    @property
    def model_id(self) -> str:
        return self.manifest.model_id

    @property
    def dimensions(self) -> int:
        return self.manifest.dimensions

    @property
    def max_input_tokens(self) -> int:
        return self.manifest.max_input_tokens

    @property
    def artifact_sha(self) -> str:
        return self.manifest.artifact_sha

    @property
    def batch_invariant(self) -> bool:
        """The build measured that a text's vector does not depend on its batch-mates."""
        invariance = self.manifest.extra.get("invariance") or {}
        return bool(invariance.get("batch_invariant", False))

    def tokenize(
        self,
        inputs: Inputs,
        long_inputs: str = "reject",
        max_pooled_tokens: int = MAX_POOLED_TOKENS,
        prompt: str = "",
    ) -> Tokenized:
        """Token ids per input with special tokens; see the module docstring for errors.

        A `prompt` (handler/embeddings/prompts.py) goes before each text and is tokenized
        with it, as sentence-transformers does, so its tokens count and share the window;
        before token ids, its own ids (no special tokens) go first."""
        if long_inputs not in LONG_INPUT_MODES:
            raise ValueError(f"long_inputs must be one of {LONG_INPUT_MODES}, got {long_inputs!r}")
        if not inputs:
            return Tokenized(ids=[], truncated=0)
        if prompt:
            inputs = self._prompted(inputs, prompt)
        window = self.max_input_tokens
        # The longest input accepted whole: windows pooled up to max_pooled_tokens, else one.
        limit = max(window, max_pooled_tokens) if long_inputs == "pool" else window
        if isinstance(inputs[0], str):
            if long_inputs != "truncate":
                self._refuse_long_prefixes(inputs, limit)  # type: ignore[arg-type]
            ids = self._encode_texts(inputs)  # type: ignore[arg-type]
        else:
            ids = self._wrap_token_ids(inputs)  # type: ignore[arg-type]
        return self._fit_lengths(ids, long_inputs, limit)

    def _prompted(self, inputs: Inputs, prompt: str) -> Inputs:
        if isinstance(inputs[0], str):
            for index, text in enumerate(inputs):
                if not text:  # still the client's empty input, not a prompt alone
                    raise EmptyInputError(f"input {index} is an empty string", index)
            return [prompt + text for text in inputs]  # type: ignore[operator]
        head = self.tokenizer.encode(prompt, add_special_tokens=False).ids
        for index, ids in enumerate(inputs):
            if len(ids) == 0:
                raise EmptyInputError(f"input {index} is an empty token array", index)
        cls = self._cls if self._add_special else None
        return [  # after a [CLS] the client already put first
            [cls, *head, *ids[1:]] if cls is not None and ids[0] == cls else [*head, *ids]
            for ids in inputs
        ]

    def _refuse_long_prefixes(self, texts: Sequence[str], limit: int) -> None:
        span = PREFIX_CHARS_PER_TOKEN * limit
        for index, text in enumerate(texts):
            if len(text) <= span:
                continue
            cut = max(text.rfind(" ", 0, span), text.rfind("\n", 0, span))
            if cut <= 0:
                continue  # no whitespace to cut at: the whole text is tokenized
            tokens = len(self.tokenizer.encode(text[:cut], add_special_tokens=self._add_special))
            if tokens > limit:
                raise InputTooLongError(index, tokens, limit, at_least=True)

    def _encode_texts(self, texts: Sequence[str]) -> list[list[int]]:
        for index, text in enumerate(texts):
            if not text:
                raise EmptyInputError(f"input {index} is an empty string", index)
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=self._add_special)
        return [encoding.ids for encoding in encodings]

    def _wrap_token_ids(self, inputs: Sequence[Sequence[int]]) -> list[list[int]]:
        vocab = self.manifest.vocab_size
        wrapped = []
        for index, ids in enumerate(inputs):
            if len(ids) == 0:
                raise EmptyInputError(f"input {index} is an empty token array", index)
            array = np.asarray(ids)
            if array.dtype.kind not in "iu" or array.ndim != 1:
                raise TokenIdError(index, next(iter(ids)), vocab)
            bad = (array < 0) | (array >= vocab)
            if bad.any():
                raise TokenIdError(index, int(array[int(np.argmax(bad))]), vocab)
            row = [int(i) for i in ids]
            if self._add_special and self._cls is not None and row[0] != self._cls:
                row.insert(0, self._cls)
            if self._add_special and self._sep is not None and row[-1] != self._sep:
                row.append(self._sep)
            wrapped.append(row)
        return wrapped

    def _fit_lengths(self, ids: list[list[int]], long_inputs: str, limit: int) -> Tokenized:
        window = self.max_input_tokens
        truncated = pooled = 0
        for index, row in enumerate(ids):
            if len(row) <= window:
                continue
            if len(row) > limit and long_inputs != "truncate":
                raise InputTooLongError(index, len(row), limit)
            if long_inputs == "pool":
                pooled += 1
                continue
            ends_with_sep = self._add_special and self._sep is not None and row[-1] == self._sep
            ids[index] = row[: window - 1] + [row[-1]] if ends_with_sep else row[:window]
            truncated += 1
        return Tokenized(ids=ids, truncated=truncated, pooled=pooled)

    def windows(self, ids: Sequence[int]) -> list[list[int]]:
        """The rows an input runs as: itself when it fits the window, else its windows."""
        if len(ids) <= self.max_input_tokens:
            return [list(ids)]
        cls, sep = (self._cls, self._sep) if self._add_special else (None, None)
        return windows(ids, self.max_input_tokens, self.window_overlap, cls, sep)

    def run(self, tokenized: Tokenized) -> np.ndarray:
        """Vectors (n, dimensions) float32 in input order."""
        rows: list[list[int]] = []
        spans: list[tuple[int, int]] = []  # each input's rows: rows[start:end]
        for ids in tokenized.ids:
            start = len(rows)
            rows.extend(self.windows(ids))
            spans.append((start, len(rows)))
        pooled = self.run_rows(rows)
        if len(rows) == len(spans):
            vectors = pooled
        else:
            vectors = np.empty((len(spans), self.dimensions), dtype=np.float32)
            for i, (start, end) in enumerate(spans):
                if end - start == 1:
                    vectors[i] = pooled[start]
                else:
                    lengths = [len(row) for row in rows[start:end]]
                    vectors[i] = combine_windows(pooled[start:end], lengths, self.manifest.pooling)
        if self.manifest.normalize:
            vectors = l2_normalize(vectors)
        return np.asarray(vectors, dtype=np.float32)

    def run_rows(self, rows: list[list[int]]) -> np.ndarray:
        """Pooled, not yet normalised, vectors of rows that each fit the window, in row order."""
        out = np.empty((len(rows), self.dimensions), dtype=np.float32)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        lengths = [len(row) for row in rows]
        runs = batches(order, lengths, self.batch_size, self.batch_tokens, self.exact_lengths)
        for run in runs:
            out[run] = self._run_batch([rows[i] for i in run])
        return out

    def _run_batch(self, batch: list[list[int]]) -> np.ndarray:
        width = max(len(row) for row in batch)
        input_ids = np.full((len(batch), width), self._pad, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for r, row in enumerate(batch):
            input_ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
        available = {
            "input_ids": input_ids,
            "attention_mask": mask,
            "token_type_ids": np.zeros_like(input_ids),
        }
        feeds = {name: available[name] for name in self.manifest.onnx_inputs}
        hidden = self.session.run([self.manifest.onnx_output], feeds)[0]
        return np.asarray(pool(hidden, mask, self.manifest.pooling), dtype=np.float32)

    def embed(
        self,
        inputs: Inputs,
        long_inputs: str = "reject",
        max_pooled_tokens: int = MAX_POOLED_TOKENS,
        prompt: str = "",
    ) -> EmbeddingResult:
        tokenized = self.tokenize(inputs, long_inputs, max_pooled_tokens, prompt)
        return EmbeddingResult(
            vectors=self.run(tokenized),
            token_counts=tokenized.token_counts,
            truncated=tokenized.truncated,
            pooled=tokenized.pooled,
        )


def load_embedder(
    model_dir: Path | str,
    threads: int | None = None,
    batch_size: int = 32,
    verify: bool = True,
    batch_tokens: int | None = BATCH_TOKENS,
    exact_lengths: bool | None = None,
) -> Embedder:
    """Load the artifact in `model_dir`; threads=None uses every core present."""
    model_dir = Path(model_dir)
    manifest = load_manifest(model_dir, verify=verify)
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    session = make_session(
        model_dir / "model.onnx", threads or os.cpu_count() or 1, session_level(manifest)
    )
    return Embedder(
        manifest,
        tokenizer,
        session,
        batch_size=batch_size,
        batch_tokens=batch_tokens,
        exact_lengths=exact_lengths,
    )
