"""Count what each workload makes AWS do, through the deployed code paths (the `bill` section).

The deployed handler (`handler.app`, AUTH_ENABLED=true, usage and quotas on the bench's
DynamoDB Local) answers HTTP API v2 events; the batch worker function
(`handler.batch.lambda_worker`) runs each queue message as its own invocation, with S3 and
SQS on moto's server. bench/meter.py is installed before either module builds a client, so
every AWS call they make is counted with its billed units; stdout (the EMF lines) and log
records at the template's WARN level are counted in bytes; each invocation is timed.

Prints raw counts per workload (bench/bill.py prices them): for each key (one without
limits, one with RPM/TPM and a monthly budget), warm requests of 1 short input, 32 inputs and
`--big-inputs` inputs (base64, gzip accepted, as the openai client asks), each after untimed
requests (the key cache and connections warm, as in a warm container); and one batch of
`--batch-lines` one-input lines per key, from upload to the client fetching its output. Then
the short query once more with the Kinesis ledger, on a stream on moto's server
(bench/bill_kinesis.py).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.bill_aggregator import aggregator_workload
from bench.bill_batch import batch_workload, setup_batch_env
from bench.bill_kinesis import ledger_workloads
from bench.events import MODEL, SHORT_TEXT, v2_embeddings_event
from bench.invocations import Counters, decoded_body, finish, invoke, response_json, step
from bench.meter import Meter

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "model_artifacts" / "corpus" / "heldout.txt"
LIMITED = {"rpm": 10_000_000, "tpm": 10_000_000_000, "monthly_tokens": 10**13}
WARMUP = 3  # untimed requests per small workload first (one before a large one)


def sync_workload(
    handler: Any, counters: Counters, secret: str, inputs: list[str] | str, requests: int
) -> dict[str, Any]:
    # As the openai client sends it: base64 vectors, gzip accepted (a 2,048-input float
    # body would be over Lambda's 6 MB response limit).
    headers = {"authorization": f"Bearer {secret}", "accept-encoding": "gzip, deflate"}
    body = {"input": inputs, "model": MODEL, "encoding_format": "base64"}

    def call() -> tuple[dict[str, Any], float, int]:
        event = v2_embeddings_event(body, headers)
        request_bytes = len(base64.b64decode(event["body"]))
        response, ms = invoke(handler, event, counters)
        if response.get("statusCode") != 200:
            raise SystemExit(f"answered {response.get('statusCode')}: {response.get('body')}")
        return response, ms, request_bytes

    for _ in range(WARMUP if isinstance(inputs, str) or len(inputs) <= 32 else 1):
        call()  # untimed: the key cache, connections and DynamoDB Local's JVM warm up
    counters.clear()
    totals: dict[str, Any] = {"request_bytes": [], "response_bytes": [], "tokens": 0}
    for _ in range(requests):
        response, ms, request_bytes = call()
        step(counters, totals, ms)
        totals["request_bytes"].append(request_bytes)
        totals["response_bytes"].append(len(decoded_body(response)))
        totals["tokens"] += int(response_json(response)["usage"]["prompt_tokens"])
    totals["inputs_per_request"] = 1 if isinstance(inputs, str) else len(inputs)
    totals["emf_line"] = json.loads(counters.stdout.last_line or "{}")
    return finish(totals, requests)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--big-requests", type=int, default=2)
    parser.add_argument("--big-inputs", type=int, default=2048)
    parser.add_argument("--batch-lines", type=int, default=500)
    parser.add_argument("--shard-lines", type=int, default=0, help="0: the template's")
    parser.add_argument("--aggregator-batches", type=int, default=5)
    parser.add_argument("--batch-timeout", type=float, default=300, help="seconds per batch")
    args = parser.parse_args()

    import logging

    import botocore.session

    from handler.usage.keys import KeyStore, Limits
    from tools.dynamodb_local import LOCAL_ENV
    from tools.moto_server import MotoServer

    texts = [t for t in CORPUS.read_text().splitlines() if t.strip()]
    os.environ.update({"AUTH_ENABLED": "true", "ORT_THREADS": os.environ.get("ORT_THREADS", "1")})
    os.environ.pop("METRICS_LOG", None)  # the EMF line goes to stdout, as on Lambda: counted
    # The namespace as deployed (template.yaml: ServerlessEmbeddings/<stack name>), so the
    # EMF line is counted at its deployed length.
    stack = tomllib.loads((REPO / "samconfig.toml").read_text())["default"]["global"]
    os.environ["METRICS_NAMESPACE"] = f"ServerlessEmbeddings/{stack['parameters']['stack_name']}"
    ddb = botocore.session.get_session().create_client(
        "dynamodb", region_name=LOCAL_ENV["AWS_DEFAULT_REGION"],
        endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"],
        aws_access_key_id=LOCAL_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_ENV["AWS_SECRET_ACCESS_KEY"],
    )  # fmt: skip
    keys = KeyStore(ddb, os.environ["KEYS_TABLE"])
    created = {
        "no_limits": keys.create("bill-no-limits", Limits()),
        "limits": keys.create("bill-limits", Limits(**LIMITED)),
    }
    secrets = {name: secret for name, (secret, _) in created.items()}
    with MotoServer() as moto:
        os.environ["AWS_ENDPOINT_URL_S3"] = os.environ["AWS_ENDPOINT_URL_SQS"] = moto.endpoint_url
        setup_batch_env(moto, ddb, args.shard_lines)
        meter = Meter()
        meter.install()  # before the deployed modules build a client
        counters = Counters(meter)
        logging.getLogger().addHandler(counters.logs)

        import handler.app as deployed
        import handler.batch.lambda_worker as worker_fn
        from handler.deferred import expanded

        expanded(deployed.app.routes)  # the Batch API's routes built, as in a warm container

        batch_texts = [texts[i % len(texts)] for i in range(args.batch_lines)]
        workloads: dict[str, dict[str, Any]] = {}
        for key, secret in secrets.items():
            runs: dict[str, tuple[list[str] | str, int]] = {
                "short": (SHORT_TEXT, args.requests),
                "inputs_32": ([texts[i % len(texts)] for i in range(32)], args.requests),
                "big": ([texts[i % len(texts)] for i in range(args.big_inputs)],
                        args.big_requests),
            }  # fmt: skip
            for name, (inputs, requests) in runs.items():
                workloads[f"{name}:{key}"] = sync_workload(
                    deployed.handler, counters, secret, inputs, requests
                )
            workloads[f"aggregator:{key}"] = aggregator_workload(
                counters, created[key][1].key_id, tokens=12, batches=args.aggregator_batches,
                first_sequence=10**6 * (1 + len(workloads)),
            )  # fmt: skip
            workloads[f"batch:{key}"] = batch_workload(
                deployed, worker_fn, counters, secret, batch_texts,
                args.batch_timeout,
            )  # fmt: skip

        # The short query and 32 inputs on the Kinesis ledger (UsageLedger=Kinesis), and its
        # counter.
        def on_ledger(inputs: list[str] | str) -> Callable[[], dict[str, Any]]:
            return lambda: sync_workload(
                deployed.handler, counters, secrets["no_limits"], inputs, args.requests
            )

        thirty_two = [texts[i % len(texts)] for i in range(32)]
        sync = {"short": on_ledger(SHORT_TEXT), "inputs_32": on_ledger(thirty_two)}
        workloads.update(ledger_workloads(deployed, counters, moto, sync, args.aggregator_batches))
        settings = deployed.settings
    print(
        json.dumps(
            {
                "workloads": workloads,
                "big_inputs": args.big_inputs,
                "batch_shard_lines": settings.batch_shard_lines,
                "usage_table": settings.usage_table,
                "ort_threads": settings.onnx_threads,
                "auth_enabled": settings.auth_enabled,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
