"""`input_type` -> the model's prompt: the text sentence-transformers puts before an input.

Models such as e5, bge, nomic and gte are trained with a prefix on queries or documents
("query: ", "search_document: "); sentence-transformers keeps them in the model's
config_sentence_transformers.json (`prompts`, `default_prompt_name`) and the build copies them
into the manifest. Clients name the kind of input the way NVIDIA's OpenAI-compatible API does
(`query`, `passage`) or Cohere's does (`search_query`, `search_document`, `classification`,
`clustering`); each value maps to the prompt names models use for it, first match wins.

Pure data and lookups: no web or AWS imports.
"""

from __future__ import annotations

from typing import Any

from handler.artifact import Manifest

# sentence-transformers' own choices first (encode_query: "query"; encode_document:
# "document", "passage", "corpus"), then the names other model families use.
_QUERY = ("query", "search_query", "retrieval.query")
_DOCUMENT = ("document", "passage", "corpus", "search_document", "retrieval.passage")
# input_type value -> the prompt names it selects, in order of preference. To accept another
# value, add a row (and its test).
INPUT_TYPES: dict[str, tuple[str, ...]] = {
    "query": _QUERY,  # NVIDIA
    "passage": _DOCUMENT,  # NVIDIA
    "search_query": _QUERY,  # Cohere
    "search_document": _DOCUMENT,  # Cohere
    "classification": ("classification",),  # Cohere
    "clustering": ("clustering",),  # Cohere
}


def prompt_name(manifest: Manifest, input_type: str | None) -> str | None:
    """The prompt a request uses: the first `input_type` maps to that the model has (an empty
    one too, as sentence-transformers' encode_query/encode_document), else the model's
    default prompt (what sentence-transformers uses when none is named), else None.
    `input_type` must be a key of INPUT_TYPES or None (the request parser checks it)."""
    for name in INPUT_TYPES.get(input_type or "", ()):
        if name in manifest.prompts:
            return name
    return manifest.default_prompt_name


def prompt_text(manifest: Manifest, input_type: str | None) -> str:
    """The text put before every input of the request ("" for none)."""
    name = prompt_name(manifest, input_type)
    return manifest.prompts[name] if name is not None else ""


def input_type_card(manifest: Manifest) -> dict[str, Any]:
    """What GET /v1/models says about `input_type` for this model: ignored (no prompts), or
    the prompt each accepted value selects (None: no prompt for that value)."""
    if not any(manifest.prompts.values()):  # none, or only empty ones: nothing changes
        return {"ignored": True, "accepted": list(INPUT_TYPES)}
    return {
        "ignored": False,
        "accepted": list(INPUT_TYPES),
        "prompts": {value: prompt_name(manifest, value) for value in INPUT_TYPES},
        "default_prompt_name": manifest.default_prompt_name,
    }
