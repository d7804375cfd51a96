"""SnapStart hooks: warm the model before the snapshot, reconnect to AWS after a restore.

With SnapStart (template.yaml: EnableSnapStart=true) Lambda runs the cold start once per
published version, snapshots the memory, and later starts environments from that snapshot.
- before the snapshot, one small and one full-length batch go through every loaded model
  (the default, or all with MODEL_LOADING=eager), so ONNX Runtime's arenas and the
  tokenizer's caches are in the snapshot instead of in the first request of every restored
  environment;
- after a restore, the usage module's DynamoDB/SQS clients are rebuilt: their pooled
  connections were opened before the snapshot (dead sockets now) and their credentials
  were resolved in the environment that took it.

The hooks come from `snapshot_restore_py`, which Lambda's python3.13 runtime provides (so
does the `awslambdaric` package). Elsewhere (uvicorn, tests) it is absent and `register`
does nothing. Without SnapStart the runtime never calls the hooks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from handler.embedder import Embedder
from handler.embeddings.models import ServedModels
from handler.settings import Settings
from handler.usage.service import UsageService

log = logging.getLogger("handler.snapstart")

Register = Callable[..., Any]


def _runtime_hooks() -> tuple[Register, Register] | None:
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:  # not inside a Lambda runtime
        return None
    return register_before_snapshot, register_after_restore


def warm(embedder: Embedder) -> None:
    """Run a short and a full-length input through tokenizer and model."""
    started = time.perf_counter()
    long_text = " ".join(["warm"] * embedder.max_input_tokens)
    embedder.embed(["warm up", long_text], long_inputs="pool")
    log.info("snapstart: model warmed in %.0f ms", (time.perf_counter() - started) * 1000)


def reconnect(usage: UsageService, settings: Settings) -> None:
    usage.reconnect(settings)
    log.info("snapstart: restored; AWS clients rebuilt")


def warm_loaded(models: ServedModels) -> None:
    for model in models.models:
        if models.is_loaded(model.id):
            warm(models.embedder(model.id))


def register(models: ServedModels, usage: UsageService, settings: Settings) -> bool:
    """Register both hooks with the Lambda runtime; False where there is none."""
    hooks = _runtime_hooks()
    if hooks is None:
        return False
    before_snapshot, after_restore = hooks
    before_snapshot(warm_loaded, models)
    after_restore(reconnect, usage, settings)
    return True
