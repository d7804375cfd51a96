"""The function's one settings object, read from the environment once at cold start.

Every environment variable is named once, here, next to the field it fills. A bad value raises
SettingsError naming the variable, so a misconfigured deployment fails its cold start with a
clear message instead of serving wrong answers.

To add a setting: add a field with a default and a comment saying why, then read it in
`from_env` with one of the `_env_*` helpers. Tests build `Settings(...)` directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

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


def _env_limit(env: Mapping[str, str], name: str) -> int | None:
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


def _env_aliases(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name, "")
    aliases = tuple(dict.fromkeys(a.strip() for a in raw.split(",") if a.strip()))
    bad = [a for a in aliases if any(c.isspace() or c in "/=" for c in a)]
    if bad:
        raise SettingsError(f"{name} has invalid model aliases {bad}: use a comma-separated list")
    return aliases


def onnx_threads_for(env: Mapping[str, str]) -> int:
    """ONNX Runtime intra-op threads: ORT_THREADS, else Lambda's vCPUs, else the cores present.

    Lambda reports the host's cores in os.cpu_count() but only grants CPU in proportion to
    memory, so more threads than granted vCPUs just contend.
    """
    explicit = _env_int(env, "ORT_THREADS", 0)
    if explicit:
        return explicit
    cores = os.cpu_count() or 1
    memory_mb = _env_int(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 0)
    if memory_mb:
        return max(1, min(cores, memory_mb // LAMBDA_MB_PER_VCPU))
    return cores


@dataclass(frozen=True)
class Settings:
    # Where the model artifact lives: the layer mounts it at /opt/model; locally build/model.
    model_dir: Path = Path("/opt/model")
    # Extra model names accepted as the served model (e.g. text-embedding-3-small), so apps
    # written against OpenAI work with no code change. The response always names the served id.
    model_aliases: tuple[str, ...] = ()
    # OpenAI answers an over-long input with a 400; True truncates it to the model's max tokens
    # instead and counts the truncated inputs in the x-truncated-inputs response header.
    truncate_inputs: bool = False
    # OpenAI's request limits: inputs per request and tokens summed over a request.
    max_inputs: int = 2048
    max_request_tokens: int = 300_000
    # Largest request body accepted; Lambda's own synchronous payload limit is 6 MB.
    max_body_bytes: int = 6 * 1024 * 1024
    # Largest response body, as it will be counted inside Lambda's 6 MB response payload.
    max_response_bytes: int = LAMBDA_RESPONSE_LIMIT - RESPONSE_HEADROOM
    # Sequences per ONNX run; inputs are length-sorted first so padding stays small.
    batch_size: int = 32
    # ONNX Runtime intra-op threads (see onnx_threads_for).
    onnx_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    # Path prefix API Gateway puts before our routes (custom-domain base path mapping).
    api_base_path: str = "/"
    # One CloudWatch EMF line per request (handler/metrics.py) in this namespace, to stdout,
    # or appended to METRICS_LOG when set (`make serve` keeps a local file to summarise).
    metrics_enabled: bool = True
    metrics_namespace: str = "ServerlessEmbeddings"
    metrics_log: str = ""
    # Under uvicorn only (handler/server.py): GET /metrics in Prometheus text format. Off by
    # default: it tells anyone who can reach the server how busy it is.
    prometheus_metrics: bool = False
    # Require an API key; the usage module supplies the authenticator. Tests without keys
    # build Settings(auth_enabled=False).
    auth_enabled: bool = True
    # DynamoDB tables of API keys and of usage (see handler/usage/store.py for their layout).
    keys_table: str = "embeddings-keys"
    usage_table: str = "embeddings-usage"
    # SQS queue that keeps usage records DynamoDB refused, for `cli replay`; "" = log line only.
    usage_queue_url: str = ""
    # How long a key's verdict is cached per container: revocation takes up to this long.
    key_cache_seconds: int = 30
    # How long per-request usage items live (DynamoDB TTL); daily aggregates are kept. At least
    # MIN_USAGE_TTL_DAYS: the exactly-once check needs the item while a replay can still come.
    usage_ttl_days: int = 90
    # DynamoDB/SQS calls: short timeouts and few attempts (botocore standard retry mode) so
    # a struggling table costs a request well under a second or two, not its whole budget.
    dynamodb_connect_timeout_ms: int = 500
    dynamodb_read_timeout_ms: int = 1000
    dynamodb_max_attempts: int = 3
    # Deployment-wide quota defaults, applied to each of a key's limits that the key does not
    # set itself (a key's own limit wins; its own 0 means unlimited). None = no default.
    # DEFAULT_RPM, DEFAULT_TPM, DEFAULT_MONTHLY_TOKENS: unset, empty or 0 all mean none,
    # because the template's Number parameters default to 0.
    default_rpm: int | None = None
    default_tpm: int | None = None
    default_monthly_tokens: int | None = None
    # Batch API (handler/batch/): the S3 bucket of files, the DynamoDB table of files, batches
    # and shards, and the SQS queue of work. No bucket = the /v1/files and /v1/batches routes
    # are not served.
    batch_bucket: str = ""
    batch_table: str = "embeddings-batches"
    batch_queue_url: str = ""
    # Lines per shard (one SQS message, one worker invocation): small enough that a shard
    # finishes well inside a Lambda timeout, large enough that per-shard overhead is small.
    batch_shard_lines: int = 500

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from `env` (default os.environ); raises SettingsError on a bad value."""
        env = os.environ if env is None else env
        d = cls()  # each default is written once, on its field above
        settings = cls(
            model_dir=Path(_env_str(env, "MODEL_DIR", str(d.model_dir))),
            model_aliases=_env_aliases(env, "MODEL_ALIASES"),
            truncate_inputs=_env_bool(env, "TRUNCATE_INPUTS", d.truncate_inputs),
            max_inputs=_env_int(env, "MAX_INPUTS_PER_REQUEST", d.max_inputs, minimum=1),
            max_request_tokens=_env_int(
                env, "MAX_TOKENS_PER_REQUEST", d.max_request_tokens, minimum=1
            ),
            max_body_bytes=_env_int(env, "MAX_BODY_BYTES", d.max_body_bytes, minimum=1024),
            max_response_bytes=_env_int(
                env, "MAX_RESPONSE_BYTES", d.max_response_bytes, minimum=1024
            ),
            batch_size=_env_int(env, "BATCH_SIZE", d.batch_size, minimum=1),
            onnx_threads=onnx_threads_for(env),
            api_base_path=_env_str(env, "API_BASE_PATH", d.api_base_path),
            metrics_enabled=_env_bool(env, "METRICS_ENABLED", d.metrics_enabled),
            metrics_namespace=_env_str(env, "METRICS_NAMESPACE", d.metrics_namespace),
            metrics_log=_env_str(env, "METRICS_LOG", d.metrics_log),
            prometheus_metrics=_env_bool(env, "PROMETHEUS_METRICS", d.prometheus_metrics),
            auth_enabled=_env_bool(env, "AUTH_ENABLED", d.auth_enabled),
            keys_table=_env_str(env, "KEYS_TABLE", d.keys_table),
            usage_table=_env_str(env, "USAGE_TABLE", d.usage_table),
            usage_queue_url=_env_str(env, "USAGE_FALLBACK_QUEUE_URL", d.usage_queue_url),
            key_cache_seconds=_env_int(
                env, "KEY_CACHE_TTL_SECONDS", d.key_cache_seconds, maximum=MAX_KEY_CACHE_SECONDS
            ),
            usage_ttl_days=_env_int(
                env, "USAGE_RECORD_TTL_DAYS", d.usage_ttl_days, minimum=MIN_USAGE_TTL_DAYS
            ),
            dynamodb_connect_timeout_ms=_env_int(
                env, "DYNAMODB_CONNECT_TIMEOUT_MS", d.dynamodb_connect_timeout_ms, 1
            ),
            dynamodb_read_timeout_ms=_env_int(
                env, "DYNAMODB_READ_TIMEOUT_MS", d.dynamodb_read_timeout_ms, 1
            ),
            dynamodb_max_attempts=_env_int(
                env, "DYNAMODB_MAX_ATTEMPTS", d.dynamodb_max_attempts, minimum=1
            ),
            default_rpm=_env_limit(env, "DEFAULT_RPM"),
            default_tpm=_env_limit(env, "DEFAULT_TPM"),
            default_monthly_tokens=_env_limit(env, "DEFAULT_MONTHLY_TOKENS"),
            batch_bucket=_env_str(env, "BATCH_BUCKET", d.batch_bucket),
            batch_table=_env_str(env, "BATCH_TABLE", d.batch_table),
            batch_queue_url=_env_str(env, "BATCH_QUEUE_URL", d.batch_queue_url),
            batch_shard_lines=_env_int(env, "BATCH_SHARD_LINES", d.batch_shard_lines, minimum=1),
        )
        namespace = settings.metrics_namespace
        if len(namespace) > 255 or namespace.startswith("AWS/") or ":" in namespace:
            # CloudWatch's rules for a custom namespace; a bad one would drop every metric.
            raise SettingsError(f"METRICS_NAMESPACE={namespace!r} is not a custom namespace")
        if not settings.api_base_path.startswith("/"):
            raise SettingsError(f"API_BASE_PATH={settings.api_base_path!r} must start with '/'")
        return settings
