"""`make serve`: the app on http://127.0.0.1:8000 with its DynamoDB tables and a dev key.

Starts DynamoDB Local (installed on first use, in memory: every serve starts empty), creates
the tables, stores the fixed dev key `sk-local-dev`, prints it, and serves the deployed app
(handler.app) with uvicorn. Where Java is missing it warns and keeps the tables in this
process with moto instead (same API, nothing persisted, not AWS's own emulator).
It serves the default model (MODEL_DIR) and every model `make models` built into build/models
(MODELS_DIR), as template.yaml's MODELS does, unless MODELS is set.
The app's EMF metrics go to build/serve/metrics.log (METRICS_LOG), for
`python -m tools.metrics_summary`; PROMETHEUS_METRICS=true adds GET /metrics.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import ExitStack
from pathlib import Path

from tools.dynamodb_local import LOCAL_ENV, DynamoDBLocal, java_available

DEV_KEY = "sk-local-dev"
DEV_LIMITS = {"rpm": 600, "tpm": 1_000_000}  # generous, but shows the x-ratelimit-* headers
# The same drop-in names template.yaml's ModelAliases accepts by default, so code written
# against OpenAI runs unchanged locally too.
DEFAULT_ALIASES = "text-embedding-3-small,text-embedding-ada-002"
METRICS_LOG = Path("build/serve/metrics.log")  # one EMF line per request, as on Lambda


def models_setting(env: dict[str, str]) -> str:
    """MODELS for the default model (MODEL_DIR, with MODEL_ALIASES or DEFAULT_ALIASES) and
    each built artifact under MODELS_DIR (build/models/<id>), in name order."""
    from handler.artifact import load_manifest

    default = Path(env.get("MODEL_DIR") or "build/model")
    aliases = env.get("MODEL_ALIASES", DEFAULT_ALIASES).split(",")
    models = [{"id": load_manifest(default, verify=False).model_id, "dir": str(default)}]
    models[0]["aliases"] = [a.strip() for a in aliases if a.strip()]  # type: ignore[assignment]
    extra = Path(env.get("MODELS_DIR") or "build/models")
    for directory in sorted(extra.glob("*/manifest.json")):
        manifest = load_manifest(directory.parent, verify=False)
        models.append({"id": manifest.model_id, "dir": str(directory.parent)})
    return json.dumps(models)


def where_to_look(host: str, port: int, metrics_log: str) -> str:
    """The lines `make serve` prints about its metrics."""
    summary = f".venv/bin/python -m tools.metrics_summary --last 100 {metrics_log}"
    if os.environ.get("PROMETHEUS_METRICS", "").strip().lower() in ("1", "true", "yes", "on"):
        prometheus = f"http://{host}:{port}/metrics"
    else:
        prometheus = "off (PROMETHEUS_METRICS=true make serve turns on GET /metrics)"
    return (
        f"metrics: one EMF JSON line per request in {metrics_log}\n"
        f"  summary (p50/p99, tokens/s, cold starts): {summary}\n"
        f"  Prometheus: {prometheus}\n"
        "  every response says x-cold-start: true|false; GET /health says cold"
    )


def start_dynamodb(stack: ExitStack, port: int) -> str:
    """Point botocore at a local DynamoDB; return a description of it."""
    for name, value in LOCAL_ENV.items():
        os.environ.setdefault(name, value)
    if java_available():
        ddb = stack.enter_context(DynamoDBLocal(port=port))
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = ddb.endpoint_url
        env = " ".join(f"{k}={v}" for k, v in LOCAL_ENV.items())
        return (
            f"DynamoDB Local at {ddb.endpoint_url} (in memory). For the key CLI, in another "
            f"terminal:\n  export AWS_ENDPOINT_URL_DYNAMODB={ddb.endpoint_url} {env}\n"
            "  .venv/bin/python -m handler.usage.cli list"
        )
    print(
        "WARNING: java not found, so DynamoDB Local cannot run. Falling back to moto's "
        "in-process DynamoDB: keys and usage work but live only in this process, and it is "
        "not AWS's emulator. Install Java 17 for the real thing.",
        file=sys.stderr,
    )
    from moto import mock_aws

    stack.enter_context(mock_aws())
    return "moto's in-process DynamoDB (no Java)"


def seed(settings_env: dict[str, str]) -> None:
    from handler.settings import Settings
    from handler.usage import store
    from handler.usage.keys import KeyStore, Limits

    settings = Settings.from_env(settings_env)
    client = store.make_client("dynamodb", store.client_config(2.0, 5.0, 3))
    store.create_tables(client, settings.keys_table, settings.usage_table)
    keys = KeyStore(client, settings.keys_table)
    if keys.lookup(DEV_KEY) is None:
        keys.create("local dev key", Limits(**DEV_LIMITS), secret=DEV_KEY)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--dynamodb-port", type=int, default=8001)
    parser.add_argument("--batch-workers", type=int, default=1, help="0: no Batch API")
    args = parser.parse_args(argv)
    if not os.environ.get("MODELS"):
        os.environ["MODELS"] = models_setting(dict(os.environ))
        os.environ.pop("MODEL_DIR", None)  # MODELS names every model
        os.environ.pop("MODEL_ALIASES", None)
    print("models: " + ", ".join(m["id"] for m in json.loads(os.environ["MODELS"])))
    os.environ.setdefault("METRICS_LOG", str(METRICS_LOG))
    Path(os.environ["METRICS_LOG"]).parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        where = start_dynamodb(stack, args.dynamodb_port)
        seed(dict(os.environ))
        print(f"usage store: {where}\ndev API key: {DEV_KEY}", flush=True)
        if args.batch_workers and java_available():  # its workers need the shared DynamoDB
            from tools.batch_local import start_batch

            print(start_batch(stack, args.batch_workers), flush=True)
        print(
            f"try: curl http://{args.host}:{args.port}/v1/embeddings "
            f'-H "Authorization: Bearer {DEV_KEY}" -H "Content-Type: application/json" '
            """-d '{"model": "all-MiniLM-L6-v2", "input": "hello"}'""",
            flush=True,
        )
        print(where_to_look(args.host, args.port, os.environ["METRICS_LOG"]), flush=True)
        import uvicorn

        # handler.server: handler.app's app, plus /metrics when PROMETHEUS_METRICS is on
        uvicorn.run("handler.server:app", host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
