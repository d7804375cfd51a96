"""The function's one settings object, read from the environment once at cold start.

Every environment variable is named once, here, next to the field it fills. A bad value raises
SettingsError naming the variable, so a misconfigured deployment fails its cold start with a
clear message instead of serving wrong answers.

To add a setting: add a field with a default, a comment saying why and
`metadata=env_var(NAME, reader, doc=..., **bounds)`; `from_env` reads every field that names a
variable, and `make docs-reference` writes it into docs/reference/configuration.md. Tests build
`Settings(...)` directly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any

# Lambda caps a synchronous invocation's response at 6 MB (6,291,556 bytes of JSON, the whole
# payload). Keep headroom for the status, headers and JSON framing around the body.
LAMBDA_RESPONSE_LIMIT = 6_291_556
RESPONSE_HEADROOM = 16_384
LAMBDA_MB_PER_VCPU = 1769  # Lambda gives one full vCPU per 1,769 MB of memory
# A revoked key keeps working in warm containers for up to the key cache TTL: at most 5
# minutes (template.yaml's KeyCacheTtlSeconds has the same MaxValue).
MAX_KEY_CACHE_SECONDS = 300
# A usage record can wait in the fallback queue, then its dead-letter queue, for up to 14 days
# in all (SQS's longest retention; a standard queue's DLQ keeps the original enqueue time).
# Its request item must outlive that, or a late replay would count it again: 14 days + 1.
MIN_USAGE_TTL_DAYS = 15


# Tokens one vCPU embeds well inside the API function's 29 s timeout. `make bench` (long_inputs)
# measured ~89 ms per 1,000 tokens at one thread (Intel Xeon with AMX, shared): the largest
# request OpenAI allows, 36 x 8,192 = 294,912 tokens, took 26-43 s there, so it cannot be
# promised at the template's 2,048 MB. 120,000 tokens is ~11 s there, leaving room for a
# slower vCPU (no AMX), tokenizing and serialising.
TOKENS_PER_VCPU_IN_TIMEOUT = 120_000
# What an input longer than the model's window gets (handler/embedder.py): its windows pooled
# into one vector, cut to the window, or OpenAI's 400.
LONG_INPUT_MODES = ("pool", "truncate", "reject")
# OpenAI's limit per input: with LONG_INPUTS=pool, the longest input accepted.
OPENAI_MAX_INPUT_TOKENS = 8192


class SettingsError(ValueError):
    """An environment variable holds a value the function cannot run with."""


def _env_str(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def _env_int(
    env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name}={value} must be <= {maximum}")
    return value


def _env_limit(env: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    """A default quota: unset, empty or 0 = none (0 is how a CloudFormation Number says
    "no default"); otherwise a whole number >= 1."""
    value = _env_int(env, name, 0)
    return value or None


def _env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (true/false)")


def _env_choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _env_str(env, name, default).lower()
    if value and value not in choices:
        raise SettingsError(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


# Where a key's day aggregates are written: "inline" with each record (a transaction, 4 write
# units a request: tests and `make serve`), or "stream" (one conditional PutItem, 1 write unit;
# the aggregator function builds the day items from the table's stream: the template's choice).
USAGE_AGGREGATIONS = ("inline", "stream")


def _env_aggregation(env: Mapping[str, str], name: str, default: str) -> str:
    return _env_choice(env, name, default, USAGE_AGGREGATIONS)


def _env_long_inputs(env: Mapping[str, str], name: str, default: str) -> str:
    return _env_choice(env, name, default, LONG_INPUT_MODES)


def _env_aliases(
    env: Mapping[str, str], name: str, default: tuple[str, ...] = ()
) -> tuple[str, ...]:
    raw = env.get(name, "")
    aliases = tuple(dict.fromkeys(a.strip() for a in raw.split(",") if a.strip()))
    bad = [a for a in aliases if any(c.isspace() or c in "/=" for c in a)]
    if bad:
        raise SettingsError(f"{name} has invalid model aliases {bad}: use a comma-separated list")
    return aliases


@dataclass(frozen=True)
class ModelSource:
    """One served model as configured: its id (None: the manifest's, for the MODEL_DIR form),
    the artifact directory and the other names it answers to."""

    id: str | None
    directory: Path
    aliases: tuple[str, ...] = ()


# Load policies for every model but the default (which always loads at cold start): "lazy"
# loads one on its first request, "eager" at cold start. See handler/embeddings/models.py.
MODEL_LOADING = ("lazy", "eager")
MAX_MODELS = 4  # Lambda mounts at most 5 layers: the dependency layer and one per model


def _env_models(
    env: Mapping[str, str], name: str, default: tuple[ModelSource, ...] = ()
) -> tuple[ModelSource, ...]:
    """MODELS: a JSON list of {"id", "dir", "aliases"} objects, the default model first."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        entries = json.loads(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} is not JSON: {exc}") from None
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_MODELS:
        raise SettingsError(f"{name} must be a JSON list of 1 to {MAX_MODELS} models")
    models = []
    for index, entry in enumerate(entries):
        where = f"{name}[{index}]"
        if not isinstance(entry, dict) or set(entry) - {"id", "dir", "aliases"}:
            raise SettingsError(f'{where} must be an object with "id", "dir" and "aliases"')
        model_id, directory = entry.get("id"), entry.get("dir")
        if not isinstance(model_id, str) or not model_id or not isinstance(directory, str):
            raise SettingsError(f'{where} needs a string "id" and "dir"')
        aliases = entry.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise SettingsError(f'{where} "aliases" must be a list of strings')
        checked = _env_aliases({where: ",".join(aliases)}, where)
        models.append(ModelSource(model_id, Path(directory), checked))
    names = [n for m in models for n in (m.id or "", *m.aliases)]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SettingsError(f"{name} names {repeated} more than once")
    return tuple(models)


def _env_loading(env: Mapping[str, str], name: str, default: str) -> str:
    return _env_choice(env, name, default, MODEL_LOADING)


def _env_path(env: Mapping[str, str], name: str, default: Path) -> Path:
    return Path(_env_str(env, name, str(default)))


def request_token_budget_for(
    env: Mapping[str, str], name: str = "REQUEST_TOKEN_BUDGET", default: int | None = None
) -> int | None:
    """Tokens one request may hold so that it embeds inside the function's timeout:
    REQUEST_TOKEN_BUDGET (0 = none), else on Lambda TOKENS_PER_VCPU_IN_TIMEOUT per vCPU its
    memory grants, else none (uvicorn has no 29 s timeout)."""
    if env.get(name, "").strip():
        return _env_int(env, name, 0) or None
    memory_mb = _env_int(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 0)
    if memory_mb:
        return TOKENS_PER_VCPU_IN_TIMEOUT * max(1, memory_mb // LAMBDA_MB_PER_VCPU)
    return default


def onnx_threads_for(env: Mapping[str, str], name: str = "ORT_THREADS", default: int = 0) -> int:
    """ONNX Runtime intra-op threads: ORT_THREADS, else Lambda's vCPUs, else the cores present.

    Lambda reports the host's cores in os.cpu_count() but only grants CPU in proportion to
    memory, so more threads than granted vCPUs just contend.
    """
    explicit = _env_int(env, name, 0)
    if explicit:
        return explicit
    cores = os.cpu_count() or 1
    memory_mb = _env_int(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 0)
    if memory_mb:
        return max(1, min(cores, memory_mb // LAMBDA_MB_PER_VCPU))
    return cores


@dataclass(frozen=True)
class EnvVar:
    """Where a Settings field comes from: the variable's name, its reader and the bounds, and
    what the configuration reference says of it (tools/docs/reference.py writes that page)."""

    name: str
    read: Callable[..., Any]
    bounds: dict[str, int]
    doc: str = ""
    # The default as a user meets it, where the field's own default is not it (computed from
    # the environment at cold start, or clearer in other units).
    shown_default: str | None = None


def env_var(
    name: str,
    read: Callable[..., Any] = _env_str,
    *,
    doc: str = "",
    shown_default: str | None = None,
    **bounds: int,
) -> dict[str, EnvVar]:
    """A field's metadata: read `name` with `read` (default: a string), within `bounds`; `doc`
    is its meaning, one sentence, for the generated configuration reference (a test fails
    while it is empty)."""
    return {"env": EnvVar(name, read, bounds, doc, shown_default)}


def _default(f: Field[Any]) -> Any:
    if f.default is MISSING and f.default_factory is not MISSING:
        return f.default_factory()
    return f.default


@dataclass(frozen=True)
class Settings:
    model_dir: Path = field(
        default=Path("/opt/model"),
        metadata=env_var(
            "MODEL_DIR",
            _env_path,
            doc="The model artifact's folder (what `make model` writes).",
            shown_default="`/opt/model` (the model layer; `build/model` under make)",
        ),
    )
    # Check every artifact file's sha256 against the manifest when a model loads. template.yaml
    # turns it off: `sam build` checked the files (layers/stage.py) and a published layer
    # version cannot change, while hashing the 24 MB model costs ~20 ms of every cold start.
    model_verify: bool = field(
        default=True,
        metadata=env_var(
            "MODEL_VERIFY",
            _env_bool,
            doc="Hash every artifact file against its manifest when a model loads.",
        ),
    )
    # Extra model names accepted as the served model (e.g. text-embedding-3-small), so apps
    # written against OpenAI work with no code change. The response always names the served id.
    model_aliases: tuple[str, ...] = field(
        default=(),
        metadata=env_var(
            "MODEL_ALIASES",
            _env_aliases,
            doc=(
                "Comma-separated names also accepted as the model; the response always names the "
                "served id."
            ),
            shown_default=(
                "none (`make serve` and the template: "
                "`text-embedding-3-small,text-embedding-ada-002`)"
            ),
        ),
    )
    # Set, MODEL_DIR is ignored (the Makefile always exports it).
    models: tuple[ModelSource, ...] = field(
        default=(),
        metadata=env_var(
            "MODELS",
            _env_models,
            doc=(
                'Every served model, the default first: a JSON list of `{"id", "dir", '
                '"aliases"}` (see the Models page); then `MODEL_DIR` is ignored and '
                "`MODEL_ALIASES` must be unset."
            ),
            shown_default="the one model in `MODEL_DIR` (the template sets both of its models)",
        ),
    )
    # Chosen by `make bench`'s models section (docs/models.md has the figures).
    model_loading: str = field(
        default="lazy",
        metadata=env_var(
            "MODEL_LOADING",
            _env_loading,
            doc=(
                "When the models after the default load: `lazy` on their first request, "
                "`eager` at cold start (with SnapStart: before the snapshot)."
            ),
        ),
    )
    # An input over the model's window (256 tokens for the default model): "pool" (default)
    # embeds it as windows pooled into one vector, up to MAX_TOKENS_PER_INPUT, and counts them
    # in the x-pooled-inputs header; "truncate" cuts it to the window (x-truncated-inputs);
    # "reject" answers OpenAI's 400 context_length_exceeded. Unset: see long_input_mode.
    long_inputs: str = field(
        default="",
        metadata=env_var(
            "LONG_INPUTS",
            _env_long_inputs,
            doc=(
                "An input over the model's window: `pool`, `truncate` or `reject` (see the API "
                "page's Long inputs)."
            ),
            shown_default="`pool` (`truncate` under `TRUNCATE_INPUTS=true`)",
        ),
    )
    truncate_inputs: bool = field(
        default=False,
        metadata=env_var(
            "TRUNCATE_INPUTS",
            _env_bool,
            doc=(
                "The older switch: `true` is `LONG_INPUTS=truncate` (both set and different: the "
                "cold start fails)."
            ),
        ),
    )
    max_input_tokens: int = field(
        default=OPENAI_MAX_INPUT_TOKENS,
        metadata=env_var(
            "MAX_TOKENS_PER_INPUT",
            _env_int,
            minimum=1,
            maximum=65_536,
            doc="The longest input `pool` accepts, special tokens included (OpenAI's limit).",
        ),
    )
    # OpenAI's request limits: inputs per request and tokens summed over a request.
    max_inputs: int = field(
        default=2048,
        metadata=env_var(
            "MAX_INPUTS_PER_REQUEST",
            _env_int,
            minimum=1,
            doc="Inputs per request (OpenAI's limit).",
        ),
    )
    max_request_tokens: int = field(
        default=300_000,
        metadata=env_var(
            "MAX_TOKENS_PER_REQUEST",
            _env_int,
            minimum=1,
            doc="Tokens summed over a request (OpenAI's limit).",
        ),
    )
    # Tokens a request may hold so that it ends inside the function's timeout; over it, a 400
    # before any model work (request_token_budget_for). None: only MAX_TOKENS_PER_REQUEST.
    request_token_budget: int | None = field(
        default=None,
        metadata=env_var(
            "REQUEST_TOKEN_BUDGET",
            request_token_budget_for,
            doc=(
                "Tokens a request may hold so that it ends inside the function's timeout; over it,"
                " a 400 `max_tokens_per_request` before any model work; 0 = none."
            ),
            shown_default="on Lambda 120,000 per vCPU its memory grants; else none",
        ),
    )
    max_body_bytes: int = field(
        default=6 * 1024 * 1024,
        metadata=env_var(
            "MAX_BODY_BYTES",
            _env_int,
            minimum=1024,
            doc="Largest request body (Lambda's synchronous payload limit is 6 MB).",
            shown_default="6 MiB",
        ),
    )
    max_response_bytes: int = field(
        default=LAMBDA_RESPONSE_LIMIT - RESPONSE_HEADROOM,
        metadata=env_var(
            "MAX_RESPONSE_BYTES",
            _env_int,
            minimum=1024,
            doc=(
                "Largest response body, as counted in Lambda's 6 MB response payload (its limit "
                "less headroom)."
            ),
        ),
    )
    # Sequences per ONNX run; inputs are length-sorted first so padding stays small.
    batch_size: int = field(
        default=32,
        metadata=env_var(
            "BATCH_SIZE",
            _env_int,
            minimum=1,
            doc=(
                "At most this many sequences per ONNX run (inputs are length-sorted first; a run "
                "also stops at 256 padded tokens)."
            ),
        ),
    )
    onnx_threads: int = field(
        default_factory=lambda: os.cpu_count() or 1,
        metadata=env_var(
            "ORT_THREADS",
            onnx_threads_for,
            doc="ONNX Runtime intra-op threads.",
            shown_default="on Lambda the vCPUs its memory grants (1 per 1,769 MB); else the cores",
        ),
    )
    api_base_path: str = field(
        default="/",
        metadata=env_var(
            "API_BASE_PATH",
            doc="A custom domain's base path mapping to strip (REST API); starts with `/`.",
        ),
    )
    # One CloudWatch EMF line per request (handler/metrics.py) in this namespace, to stdout,
    # or appended to METRICS_LOG when set (`make serve` keeps a local file to summarise).
    metrics_enabled: bool = field(
        default=True,
        metadata=env_var(
            "METRICS_ENABLED",
            _env_bool,
            doc="One CloudWatch EMF metrics line per request (see Operations).",
        ),
    )
    metrics_namespace: str = field(
        default="ServerlessEmbeddings",
        metadata=env_var(
            "METRICS_NAMESPACE",
            doc=(
                "The metrics' CloudWatch namespace (the template sets "
                "`ServerlessEmbeddings/<stack>`)."
            ),
        ),
    )
    metrics_log: str = field(
        default="",
        metadata=env_var(
            "METRICS_LOG",
            doc=(
                "A file to append the metrics lines to instead of stdout (`make serve`: "
                "`build/serve/metrics.log`)."
            ),
            shown_default="none: stdout",
        ),
    )
    # Under uvicorn only (handler/server.py): GET /metrics in Prometheus text format. Off by
    # default: it tells anyone who can reach the server how busy it is.
    prometheus_metrics: bool = field(
        default=False,
        metadata=env_var(
            "PROMETHEUS_METRICS",
            _env_bool,
            doc=(
                "`GET /metrics` in Prometheus text format under uvicorn (`handler.server:app`); "
                "never on Lambda."
            ),
        ),
    )
    # Require an API key; the usage module supplies the authenticator. Tests without keys
    # build Settings(auth_enabled=False).
    auth_enabled: bool = field(
        default=True,
        metadata=env_var(
            "AUTH_ENABLED",
            _env_bool,
            doc=(
                "Require an API key; `false` serves anyone, applies no quota and records usage as "
                "`anonymous`."
            ),
        ),
    )
    # DynamoDB tables of API keys and of usage (see handler/usage/store.py for their layout).
    keys_table: str = field(
        default="embeddings-keys",
        metadata=env_var(
            "KEYS_TABLE",
            doc="DynamoDB table of API keys (sha256 of each key, its name, status and limits).",
        ),
    )
    usage_table: str = field(
        default="embeddings-usage",
        metadata=env_var(
            "USAGE_TABLE", doc="DynamoDB table of usage records, day totals and quota counters."
        ),
    )
    usage_queue_url: str = field(
        default="",
        metadata=env_var(
            "USAGE_FALLBACK_QUEUE_URL",
            doc="SQS queue for usage records DynamoDB refused, replayed by `cli replay`.",
            shown_default="none (a log line only)",
        ),
    )
    key_cache_seconds: int = field(
        default=30,
        metadata=env_var(
            "KEY_CACHE_TTL_SECONDS",
            _env_int,
            maximum=MAX_KEY_CACHE_SECONDS,
            doc="How long a container caches a key's verdict: a revocation takes up to this long.",
        ),
    )
    # How long per-request usage items live (DynamoDB TTL); daily aggregates are kept. At least
    # MIN_USAGE_TTL_DAYS: the exactly-once check needs the item while a replay can still come.
    usage_ttl_days: int = field(
        default=90,
        metadata=env_var(
            "USAGE_RECORD_TTL_DAYS",
            _env_int,
            minimum=MIN_USAGE_TTL_DAYS,
            doc=(
                "Lifetime of per-request usage items; at least the fallback queues' 14 days + 1, "
                "so a replay never counts twice."
            ),
        ),
    )
    # "stream": the hot path writes only the request item; handler/usage/aggregator.py builds
    # the day aggregates from the usage table's stream. "inline": both in one transaction.
    usage_aggregation: str = field(
        default="inline",
        metadata=env_var(
            "USAGE_AGGREGATION",
            _env_aggregation,
            doc=(
                "Where day totals are written: `inline` (with each record, one transaction: local "
                "runs) or `stream` (from the table's stream by the aggregator function: the "
                "template)."
            ),
        ),
    )
    # The Kinesis ledger (handler/usage/stream_ledger.py): a request's record is one PutRecord
    # on this stream instead of one DynamoDB item (the template's UsageLedger=Kinesis).
    usage_ledger_stream: str = field(
        default="",
        metadata=env_var(
            "USAGE_LEDGER_STREAM",
            doc=(
                "Kinesis stream that takes each request's usage record (one PutRecord, counted "
                "into the day totals by the aggregator); empty: the usage table takes it."
            ),
            shown_default="none (the DynamoDB ledger)",
        ),
    )
    # DynamoDB/SQS calls: short timeouts and few attempts (botocore standard retry mode) so
    # a struggling table costs a request well under a second or two, not its whole budget.
    dynamodb_connect_timeout_ms: int = field(
        default=500,
        metadata=env_var(
            "DYNAMODB_CONNECT_TIMEOUT_MS",
            _env_int,
            minimum=1,
            doc="Connect timeout of DynamoDB and SQS calls.",
        ),
    )
    dynamodb_read_timeout_ms: int = field(
        default=1000,
        metadata=env_var(
            "DYNAMODB_READ_TIMEOUT_MS",
            _env_int,
            minimum=1,
            doc="Read timeout of DynamoDB and SQS calls.",
        ),
    )
    dynamodb_max_attempts: int = field(
        default=3,
        metadata=env_var(
            "DYNAMODB_MAX_ATTEMPTS",
            _env_int,
            minimum=1,
            doc="Attempts per call in botocore's standard retry mode.",
        ),
    )
    # Deployment-wide quota defaults, applied to each of a key's limits that the key does not
    # set itself (a key's own limit wins; its own 0 means unlimited). None = no default.
    # DEFAULT_RPM, DEFAULT_TPM, DEFAULT_MONTHLY_TOKENS: unset, empty or 0 all mean none,
    # because the template's Number parameters default to 0.
    default_rpm: int | None = field(
        default=None,
        metadata=env_var(
            "DEFAULT_RPM",
            _env_limit,
            doc=(
                "Requests per minute for keys that set no limit of their own; unset, empty or 0 = "
                "none."
            ),
        ),
    )
    default_tpm: int | None = field(
        default=None,
        metadata=env_var(
            "DEFAULT_TPM",
            _env_limit,
            doc=(
                "Tokens per minute for keys that set no limit of their own; unset, empty or 0 = "
                "none."
            ),
        ),
    )
    default_monthly_tokens: int | None = field(
        default=None,
        metadata=env_var(
            "DEFAULT_MONTHLY_TOKENS",
            _env_limit,
            doc=(
                "Tokens per UTC month for keys that set no budget of their own; unset, empty or 0 "
                "= none."
            ),
        ),
    )
    # Batch API (handler/batch/): the S3 bucket of files, the DynamoDB table of files, batches
    # and shards, and the SQS queue of work. No bucket = the /v1/files and /v1/batches routes
    # are not served.
    batch_bucket: str = field(
        default="",
        metadata=env_var(
            "BATCH_BUCKET",
            doc=(
                "S3 bucket of batch files and shard outputs; unset, the Files, Uploads and Batches"
                " routes are not served."
            ),
        ),
    )
    batch_table: str = field(
        default="embeddings-batches",
        metadata=env_var("BATCH_TABLE", doc="DynamoDB table of files, batches and shards."),
    )
    batch_queue_url: str = field(
        default="", metadata=env_var("BATCH_QUEUE_URL", doc="SQS queue of plan and shard messages.")
    )
    # Lines per shard (one SQS message, one worker invocation): small enough that a shard
    # finishes well inside a Lambda timeout, large enough that per-shard overhead is small.
    batch_shard_lines: int = field(
        default=5000,  # as template.yaml's BatchShardLines (docs/batch.md: why 5,000)
        metadata=env_var(
            "BATCH_SHARD_LINES",
            _env_int,
            minimum=1,
            doc="Lines per shard (one message, one worker invocation).",
        ),
    )
    # Uploads API (handler/batch/uploads.py): a file sent in parts. OpenAI accepts batch input
    # files up to 200 MB; completing streams every byte through the function once, so a much
    # larger cap would outlast API Gateway's 30 s. Parts: each is a request body, and
    # completing reads each part's object, so their number bounds the completion's time.
    # An upload not completed within its lifetime expires (OpenAI: an hour).
    batch_upload_max_bytes: int = field(
        default=200 * 1024 * 1024,
        metadata=env_var(
            "BATCH_UPLOAD_MAX_BYTES",
            _env_int,
            minimum=1,
            maximum=5 * 1024**3,
            doc="Largest Upload (`bytes`); completing streams it through the function once.",
            shown_default="200 MiB",
        ),
    )
    batch_upload_max_parts: int = field(
        default=1000,
        metadata=env_var(
            "BATCH_UPLOAD_MAX_PARTS",
            _env_int,
            minimum=1,
            maximum=10_000,
            doc="Parts per Upload (completing reads each one).",
        ),
    )
    batch_upload_seconds: int = field(
        default=3600,
        metadata=env_var(
            "BATCH_UPLOAD_SECONDS",
            _env_int,
            minimum=1,
            doc="An Upload not completed by then is `expired` (OpenAI: an hour).",
        ),
    )
    # GET /v1/files/{id}/content answers a file whose content, base64-encoded as Mangum sends
    # it (4/3 of its bytes), is over this many bytes with a 307 to a presigned S3 GET valid for
    # BATCH_PRESIGN_SECONDS, because a Lambda response holds at most 6 MB
    # (LAMBDA_RESPONSE_LIMIT). 0 = never redirect (stream everything: under uvicorn only).
    batch_redirect_bytes: int = field(
        default=5_000_000,
        metadata=env_var(
            "BATCH_REDIRECT_BYTES",
            _env_int,
            minimum=0,
            doc=(
                "File content whose base64 form is over this is a 307 to a presigned S3 GET; 0 = "
                "always stream (uvicorn only: Lambda stops at 6 MB)."
            ),
        ),
    )
    batch_presign_seconds: int = field(
        default=300,
        metadata=env_var(
            "BATCH_PRESIGN_SECONDS",
            _env_int,
            minimum=1,
            maximum=7 * 24 * 3600,
            doc="Life of the presigned URL.",
        ),
    )
    # Per-key caps on what a key keeps and runs (checked when a file, upload or batch is
    # created; concurrent creations of one key may pass a cap together, by at most their
    # number): bytes stored in files (with open uploads' declared bytes), uploads open at once,
    # and batches not yet ended (each can make the workers read its whole input file again).
    batch_max_stored_bytes: int = field(
        default=10 * 1024**3,
        metadata=env_var(
            "BATCH_MAX_STORED_BYTES",
            _env_int,
            minimum=1,
            doc=(
                "Per key: bytes in files plus open uploads' declared bytes (over it, 400 "
                "`storage_limit_exceeded`)."
            ),
            shown_default="10 GiB",
        ),
    )
    batch_max_open_uploads: int = field(
        default=10,
        metadata=env_var(
            "BATCH_MAX_OPEN_UPLOADS",
            _env_int,
            minimum=1,
            doc="Per key: uploads open at once (over it, 429 `upload_limit_exceeded`).",
        ),
    )
    batch_max_in_flight: int = field(
        default=10,
        metadata=env_var(
            "BATCH_MAX_IN_FLIGHT",
            _env_int,
            minimum=1,
            doc="Per key: batches not yet ended (over it, 429 `batch_limit_exceeded`).",
        ),
    )
    # Days a file lives (template.yaml's BatchFileRetentionDays, the bucket's lifecycle on
    # files/): its `expires_at`, after which it is a 404 and unlisted.
    batch_file_retention_days: int = field(
        default=30,
        metadata=env_var(
            "BATCH_FILE_RETENTION_DAYS",
            _env_int,
            minimum=1,
            doc=(
                "Days a file lives: its `expires_at`, after which it is a 404 and unlisted; the "
                "bucket's lifecycle deletes the object."
            ),
        ),
    )

    @property
    def model_sources(self) -> tuple[ModelSource, ...]:
        """The served models, the default first: MODELS, else MODEL_DIR with MODEL_ALIASES."""
        return self.models or (ModelSource(None, self.model_dir, self.model_aliases),)

    @property
    def long_input_mode(self) -> str:
        """LONG_INPUTS when set, else "truncate" under TRUNCATE_INPUTS=true, else "pool"."""
        return self.long_inputs or ("truncate" if self.truncate_inputs else "pool")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from `env` (default os.environ); raises SettingsError on a bad value."""
        env = os.environ if env is None else env
        values = {
            f.name: source.read(env, source.name, _default(f), **source.bounds)
            for f in fields(cls)
            if (source := f.metadata.get("env")) is not None
        }
        settings = cls(**values)
        namespace = settings.metrics_namespace
        if len(namespace) > 255 or namespace.startswith("AWS/") or ":" in namespace:
            # CloudWatch's rules for a custom namespace; a bad one would drop every metric.
            raise SettingsError(f"METRICS_NAMESPACE={namespace!r} is not a custom namespace")
        if settings.truncate_inputs and settings.long_inputs not in ("", "truncate"):
            raise SettingsError(
                f"TRUNCATE_INPUTS=true contradicts LONG_INPUTS={settings.long_inputs}: set one"
            )
        if settings.models and settings.model_aliases:  # they would be silently ignored
            raise SettingsError("MODELS names every model and its aliases: unset MODEL_ALIASES")
        if not settings.api_base_path.startswith("/"):
            raise SettingsError(f"API_BASE_PATH={settings.api_base_path!r} must start with '/'")
        return settings
