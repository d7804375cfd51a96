"""Which model serves a request: the models a deployment serves, as data (`ServedModels`).

Each model is an artifact directory with an id and the other names it answers to
(Settings.model_sources: MODELS, or MODEL_DIR with MODEL_ALIASES). `ServedModels` is the
pipeline's ModelResolver: the requested name -> the ServedModel (its public id and its
embedder), or OpenAI's 404.

At cold start every manifest is read and checked (its id must be the configured one), so a
missing or wrong layer fails the cold start with the reason; the default model (the first) is
loaded, sha256-verified, then. The others load by Settings.model_loading: on their first
request ("lazy", the default: `make bench`'s models section measured both policies,
docs/models.md) or at cold start ("eager").

Failure policy: a model that fails to load on first use raises ArtifactError for that request
(a 500) and is tried again by the next one; the other models keep serving.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from handler.artifact import ArtifactError, Manifest, load_manifest
from handler.embedder import Embedder, load_embedder
from handler.errors import model_not_found
from handler.settings import ModelSource, Settings


@dataclass(frozen=True)
class ServedModel:
    id: str  # the public id responses and usage records name
    embedder: Embedder


# The requested `model` -> what serves it; raises APIError 404 model_not_found.
ModelResolver = Callable[[str], ServedModel]


@dataclass(frozen=True)
class ModelEntry:
    """One configured model: what /v1/models, /health and the checks need without loading it."""

    id: str
    aliases: tuple[str, ...]
    directory: Path | None  # None: an embedder handed in already loaded (tests, tools)
    manifest: Manifest

    @property
    def names(self) -> tuple[str, ...]:
        """The id first, then its aliases."""
        return (self.id, *self.aliases)


Loader = Callable[[Path], Embedder]


class ServedModels:
    """The registry. Its entries are fixed at construction; each embedder loads once, under a
    lock of its own (one model loading never holds up requests for another), and each model
    has its own run lock (`run_lock`)."""

    def __init__(
        self,
        models: Iterable[ModelEntry],
        loader: Loader,
        loaded: dict[str, Embedder] | None = None,
    ) -> None:
        self.models: tuple[ModelEntry, ...] = tuple(models)
        if not self.models:
            raise ValueError("a deployment serves at least one model")
        self._by_name = {name: model for model in self.models for name in model.names}
        if len(self._by_name) != sum(len(model.names) for model in self.models):
            raise ValueError("two models answer to the same name")
        self._loader = loader
        self._embedders: dict[str, Embedder] = dict(loaded or {})
        self._load_locks = {model.id: threading.Lock() for model in self.models}
        self._run_locks = {model.id: threading.Lock() for model in self.models}

    @classmethod
    def from_settings(cls, settings: Settings, loader: Loader | None = None) -> ServedModels:
        """Read every configured manifest, load the default model (and, with
        MODEL_LOADING=eager, all of them). Raises ArtifactError naming the model and reason."""
        models = [model_entry(source) for source in settings.model_sources]
        registry = cls(models, loader or embedder_loader(settings))
        for model in models if settings.model_loading == "eager" else models[:1]:
            registry.embedder(model.id)
        return registry

    @classmethod
    def single(cls, embedder: Embedder, aliases: tuple[str, ...] = ()) -> ServedModels:
        """One model already loaded, answering to its id and `aliases` (tests, tools)."""
        model = ModelEntry(embedder.model_id, aliases, None, embedder.manifest)
        return cls([model], _no_loader, {model.id: embedder})

    @property
    def default(self) -> ModelEntry:
        return self.models[0]

    def entry(self, requested: str) -> ModelEntry:
        """The model a name (id or alias) selects; a 404 model_not_found for anything else."""
        found = self._by_name.get(requested)
        if found is None:
            raise model_not_found(requested)
        return found

    def __call__(self, requested: str) -> ServedModel:
        """The ModelResolver: what serves `requested`, loading it on its first request."""
        model = self.entry(requested)
        return ServedModel(model.id, self.embedder(model.id))

    def is_loaded(self, model_id: str) -> bool:
        return model_id in self._embedders

    def embedder(self, model_id: str) -> Embedder:
        """The model's embedder, loading it on first use (ArtifactError if it cannot)."""
        found = self._embedders.get(model_id)
        if found is not None:
            return found
        with self._load_locks[model_id]:
            found = self._embedders.get(model_id)  # loaded while this request waited
            if found is None:
                model = self.entry(model_id)
                if model.directory is None:
                    raise ArtifactError(f"model {model_id} has no directory to load from")
                found = self._loader(model.directory)
                _check_id(found.manifest, model.id, model.directory)
                self._embedders[model_id] = found
        return found

    def run_lock(self, model_id: str) -> threading.Lock:
        """Held around a model run. One run per model at a time: a session's intra-op threads
        already use every core, so two runs of it only preempt each other (p99 under load
        doubled without a lock). Two models may run at once: under uvicorn they share the
        cores; on Lambda a container serves one request at a time anyway."""
        return self._run_locks[model_id]


def model_entry(source: ModelSource) -> ModelEntry:
    """The entry for one configured model, from its manifest (read, not yet sha-verified:
    the files are hashed when the model loads). ArtifactError for a bad or wrong manifest."""
    manifest = load_manifest(source.directory, verify=False)
    model_id = source.id or manifest.model_id
    _check_id(manifest, model_id, source.directory)
    return ModelEntry(model_id, source.aliases, source.directory, manifest)


def embedder_loader(settings: Settings) -> Loader:
    def load(directory: Path) -> Embedder:
        return load_embedder(
            directory, threads=settings.onnx_threads, batch_size=settings.batch_size
        )

    return load


def _check_id(manifest: Manifest, model_id: str, directory: Path) -> None:
    if manifest.model_id != model_id:
        raise ArtifactError(
            f"{directory} holds {manifest.model_id!r}, but the settings serve it as "
            f"{model_id!r}: fix MODELS or rebuild with `make model MODEL_ID={model_id}`"
        )


def _no_loader(directory: Path) -> Embedder:
    raise ArtifactError(f"nothing loads models here ({directory})")
