"""Where ours spends a cold start: handler/app.py's work done in order on one thread, each part
timed (wall and CPU ms). Prints one JSON line and exits.

handler/app.py builds the DynamoDB client on a background thread while the model loads; here
it is built in line, so each part's CPU is its own (the thread would spread its cost over
whatever else was running). The parts up to "first answer" are what a cold start pays; the
floor pays the ONNX Runtime imports, the model load and one embedding of its own.
"""

from __future__ import annotations

import json
import time
from typing import Any

SENTENCE = "The food was delicious and the waiter was friendly."


class Parts:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def done(self, part: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.rows.append(
            {
                "part": part,
                "wall_ms": round((wall - self._wall) * 1000, 2),
                "cpu_ms": round((cpu - self._cpu) * 1000, 2),
            }
        )
        self._wall, self._cpu = time.perf_counter(), time.process_time()


def main() -> None:
    parts = Parts()
    import numpy  # noqa: F401
    import onnxruntime  # noqa: F401
    import tokenizers  # noqa: F401

    parts.done("ONNX Runtime, numpy, tokenizers imports (the floor's too)")
    import handler.framework  # noqa: F401  - imports fastapi as handler.app does

    parts.done("FastAPI, pydantic, Starlette, opentelemetry-api, asyncio imports")
    import mangum  # noqa: F401
    import orjson  # noqa: F401

    parts.done("Mangum, orjson imports")
    import botocore.config  # noqa: F401
    import botocore.session  # noqa: F401

    parts.done("botocore imports (with urllib3, dateutil, jmespath)")
    from handler.settings import Settings
    from handler.usage import store

    settings = Settings.from_env()
    dynamodb = store.client_for("dynamodb", settings)
    parts.done("DynamoDB client built")
    from handler.deferred import DeferredRoutes
    from handler.embeddings.models import ServedModels
    from handler.factory import create_app
    from handler.lambda_adapter import lambda_handler_for
    from handler.routes import BATCH_PREFIXES
    from handler.snapstart import register
    from handler.usage.service import UsageService

    parts.done("our modules imported")
    models = ServedModels.from_settings(settings)
    parts.done("model load (ONNX session, tokenizer: the floor's too)")
    usage = UsageService.from_settings(settings, dynamodb=dynamodb)
    hooks: dict[str, Any] = usage.hooks()
    hooks["deferred"] = [DeferredRoutes(BATCH_PREFIXES, list)]  # built by a Batch API request
    adapter = lambda_handler_for(create_app(settings, models, **hooks), settings.api_base_path)
    register(models, usage, settings)
    parts.done("usage service, app, Mangum (as handler/app.py wires them)")
    from bench.events import LambdaContext, bench_key_headers, v2_embeddings_event

    body = {"input": SENTENCE, "model": models.default.id}
    event = v2_embeddings_event(body, bench_key_headers())
    parts.done("(the bench's event)")
    response = adapter(event, LambdaContext())
    if response.get("statusCode") != 200:
        raise SystemExit(f"first event answered {response.get('statusCode')}: {response}")
    parts.done("first answer")
    adapter(v2_embeddings_event(body, bench_key_headers()), LambdaContext())
    parts.done("second answer (warm, not part of the cold start)")
    print(json.dumps({"parts": parts.rows}), flush=True)


if __name__ == "__main__":
    main()
