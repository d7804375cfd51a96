"""Which model serves a request: the one place a request's `model` string is resolved.

A deployment serves one artifact today under its id and its aliases (MODEL_ALIASES). A model
registry plugs in here: anything with the ModelResolver shape (the requested name -> the
ServedModel, or a 404) can replace `single_model`, and the pipeline, the route and the batch
lines follow it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from handler.embedder import Embedder
from handler.errors import model_not_found


@dataclass(frozen=True)
class ServedModel:
    id: str  # the public id responses and usage records name
    embedder: Embedder


# The requested `model` -> what serves it; raises APIError 404 model_not_found.
ModelResolver = Callable[[str], ServedModel]


@dataclass(frozen=True)
class SingleModel:
    """One artifact, answering to its own id and to its aliases."""

    embedder: Embedder
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The served id first, then its aliases (GET /v1/models lists them)."""
        return (self.embedder.model_id, *self.aliases)

    def __call__(self, requested: str) -> ServedModel:
        if requested in self.names:
            return ServedModel(self.embedder.model_id, self.embedder)
        raise model_not_found(requested)
