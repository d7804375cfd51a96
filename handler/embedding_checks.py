"""The checks an embeddings request passes before the model runs, after its body parsed.

The synchronous route (handler/routes/embeddings.py) and every batch line
(handler/batch/lines.py) call these, so a batch line is refused exactly as the same request
sent alone would be.
"""

from __future__ import annotations

from handler.embedder import Embedder, Inputs, Tokenized
from handler.errors import invalid, too_many_tokens
from handler.settings import Settings


def checked_dimensions(requested: int | None, embedder: Embedder, served_model: str) -> int:
    """The width to return: the model's own unless asked for; a 400 outside 1..width."""
    dimensions = requested if requested is not None else embedder.dimensions
    if not 1 <= dimensions <= embedder.dimensions:
        raise invalid(
            f"dimensions must be between 1 and {embedder.dimensions} for model "
            f"{served_model}; got {dimensions}.",
            "dimensions",
        )
    return dimensions


def tokenized_within_limits(
    inputs: Inputs, embedder: Embedder, settings: Settings, prompt: str = ""
) -> tuple[Tokenized, int]:
    """The inputs tokenized (long ones windowed or cut, by LONG_INPUTS), each after the
    model's `prompt` (handler/embeddings/prompts.py), and the request's prompt tokens, every
    token of every input, the prompt's included; a 400 over MAX_TOKENS_PER_REQUEST. The embedder
    raises its InputErrors per input."""
    tokenized = embedder.tokenize(
        inputs, settings.long_input_mode, settings.max_input_tokens, prompt
    )
    prompt_tokens = sum(tokenized.token_counts)
    if prompt_tokens > settings.max_request_tokens:
        raise too_many_tokens(prompt_tokens, settings.max_request_tokens)
    budget = settings.request_token_budget
    if budget is not None and prompt_tokens > budget:
        raise too_many_tokens(
            prompt_tokens,
            budget,
            "on this deployment (REQUEST_TOKEN_BUDGET: what its memory embeds inside its "
            "timeout). Send fewer tokens per request, or use the Batch API.",
        )
    return tokenized, prompt_tokens
