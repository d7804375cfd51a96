"""Dollars per million tokens on Lambda arm64, from measured throughput and list prices.

Lambda gives a function CPU in proportion to its memory (one vCPU at 1,769 MB, two at 3,538 MB).
We measured tokens/s here at one and two threads and interpolate to the configured memory's
vCPU share; above two vCPUs we keep the two-thread figure (not measured, so not claimed).
The machine is x86 and Lambda arm64 is Graviton: the figure is an estimate of the order, not
a quote. API Gateway, DynamoDB and init duration are not included.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bench.config import (
    ARM64_GB_SECOND_USD,
    DEFAULT_LAMBDA_MEMORY_MB,
    LAMBDA_MB_PER_VCPU,
    OPENAI_3_SMALL_USD_PER_MILLION_TOKENS,
    PRICE_DATE,
    PRICE_SOURCE,
    REPO,
    REQUEST_USD_PER_MILLION,
)

OTHER_MEMORY_MB = (1024, 1769, 2048, 3008, 3538)  # what other memory settings would cost
INPUTS_PER_REQUEST = 32  # a typical client batch; only the small per-request charge depends on it
MEMORY_PARAMETER = re.compile(
    r"^\s{2}(\w*Memory\w*):\s*\n((?:\s{4,}.*\n)+)", re.MULTILINE
)  # a Parameters entry such as `  MemorySize:` with its indented body


def configured_memory_mb(template: Path = REPO / "template.yaml") -> tuple[int, str]:
    """The template's default memory parameter, else a literal MemorySize, else our stated
    default; with where the figure came from."""
    if template.is_file():
        text = template.read_text()
        for match in MEMORY_PARAMETER.finditer(text):
            default = re.search(r"^\s+Default:\s*['\"]?(\d+)", match.group(2), re.MULTILINE)
            if default:
                return int(default.group(1)), f"template.yaml parameter {match.group(1)}"
        literal = re.search(r"^\s+MemorySize:\s*(\d+)\s*$", text, re.MULTILINE)
        if literal:
            return int(literal.group(1)), "template.yaml MemorySize"
    return DEFAULT_LAMBDA_MEMORY_MB, "stated (template.yaml has no memory parameter default)"


def tokens_per_s_at(vcpus: float, one_thread: float, two_threads: float) -> float:
    if vcpus <= 1:
        return one_thread * vcpus
    return one_thread + (two_threads - one_thread) * (min(vcpus, 2.0) - 1)


def _at_memory(
    memory_mb: int, one_thread_tps: float, two_thread_tps: float, mean_tokens: float
) -> tuple[float, float, float, float]:
    """(vCPUs, tokens/s, compute USD, request USD) per million tokens at `memory_mb`."""
    vcpus = memory_mb / LAMBDA_MB_PER_VCPU
    tps = tokens_per_s_at(vcpus, one_thread_tps, two_thread_tps)
    compute = 1e6 / tps * memory_mb / 1024 * ARM64_GB_SECOND_USD
    requests = 1e6 / (INPUTS_PER_REQUEST * mean_tokens)
    return vcpus, tps, compute, requests * REQUEST_USD_PER_MILLION / 1e6


def lambda_cost(
    one_thread_tps: float,
    two_thread_tps: float,
    mean_tokens: float,
    template: Path = REPO / "template.yaml",
) -> dict[str, Any]:
    """USD per million of our tokens at the template's memory, with the figures behind it."""
    memory_mb, memory_source = configured_memory_mb(template)
    vcpus, tps, compute, request_charge = _at_memory(
        memory_mb, one_thread_tps, two_thread_tps, mean_tokens
    )
    total = compute + request_charge
    other_sizes = {
        str(mb): round(sum(_at_memory(mb, one_thread_tps, two_thread_tps, mean_tokens)[2:]), 5)
        for mb in OTHER_MEMORY_MB
    }
    return {
        "memory_mb": memory_mb,
        "memory_source": memory_source,
        "vcpus": round(vcpus, 3),
        "tokens_per_s_assumed": round(tps, 1),
        "usd_per_million_tokens": round(total, 5),
        "compute_usd": round(compute, 5),
        "request_usd": round(request_charge, 6),
        "inputs_per_request": INPUTS_PER_REQUEST,
        "openai_text_embedding_3_small_usd": OPENAI_3_SMALL_USD_PER_MILLION_TOKENS,
        "ratio_to_openai": round(total / OPENAI_3_SMALL_USD_PER_MILLION_TOKENS, 3),
        "usd_per_million_tokens_at_memory_mb": other_sizes,
        "prices": {
            "arm64_gb_second_usd": ARM64_GB_SECOND_USD,
            "requests_usd_per_million": REQUEST_USD_PER_MILLION,
            "source": PRICE_SOURCE,
            "date": PRICE_DATE,
        },
        "note": "tokens are our model's (WordPiece) tokens; OpenAI bills its own tokenizer's",
    }
