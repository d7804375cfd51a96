"""Operator's command line for keys and usage.

    python -m handler.usage.cli create NAME [--rpm N] [--tpm N] [--monthly-tokens N]
                                      (a limit left out: the deployment's DEFAULT_*; 0: none)
    python -m handler.usage.cli list
    python -m handler.usage.cli revoke KEY_ID
    python -m handler.usage.cli usage KEY_ID [--start YYYY-MM-DD] [--end YYYY-MM-DD] [--json]
    python -m handler.usage.cli replay [--queue-url URL]
    python -m handler.usage.cli replay-logs [FILE ...]   # lost records from log lines; - = stdin
    python -m handler.usage.cli create-tables          # local DynamoDB only

Tables and queue come from KEYS_TABLE, USAGE_TABLE and USAGE_FALLBACK_QUEUE_URL; the
endpoint from AWS_ENDPOINT_URL_DYNAMODB (DynamoDB Local) or the usual AWS configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from typing import Any, TextIO

from handler.settings import Settings
from handler.usage import store
from handler.usage.fallback import SqsUsageQueue
from handler.usage.keys import LIMIT_HELP, LIMIT_NAMES, UNLIMITED, ApiKey, KeyStore, Limits
from handler.usage.log_replay import replay_lines
from handler.usage.replay import ReplayReport, replay
from handler.usage.report import UsageReader, default_start, usage_body
from handler.usage.stream_counter import StreamCounter
from handler.usage.stream_drain import count_stream
from handler.usage.stream_ledger import replay_writer


def _limit(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{raw} is negative: use 0 for no limit")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m handler.usage.cli", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print it once")
    create.add_argument("name")
    # Left out, a limit follows the deployment's default (DEFAULT_RPM...); 0 opts out of it.
    for name in LIMIT_NAMES:  # --rpm, --tpm, --monthly-tokens
        option = "--" + name.replace("_", "-")
        create.add_argument(option, type=_limit, help=f"{LIMIT_HELP[name]} (0 = unlimited)")
    create.add_argument("--secret", help=argparse.SUPPRESS)  # fixed dev key for local serve
    commands.add_parser("list", help="list keys (ids, names, status, limits; never secrets)")
    revoke = commands.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    usage = commands.add_parser("usage", help="a key's usage by day")
    usage.add_argument("key_id")
    usage.add_argument("--start", type=date.fromisoformat, help="first day (default: 29 days ago)")
    usage.add_argument("--end", type=date.fromisoformat, help="last day (default: today, UTC)")
    usage.add_argument("--json", action="store_true", help="print GET /v1/usage's JSON")
    replay_cmd = commands.add_parser("replay", help="write queued usage records, idempotently")
    replay_cmd.add_argument("--queue-url", help="default: USAGE_FALLBACK_QUEUE_URL")
    logs_cmd = commands.add_parser(
        "replay-logs",
        help="write the records of usage_record_lost log lines (files or stdin), idempotently",
    )
    logs_cmd.add_argument("files", nargs="*", default=["-"], help="log files; - or none: stdin")
    count_cmd = commands.add_parser(
        "count-stream",
        help="count what is left on a Kinesis ledger stream into the day totals, idempotently",
    )
    count_cmd.add_argument("stream", help="the stream's name (the stack's UsageLedgerStream)")
    commands.add_parser("create-tables", help="create the tables (DynamoDB Local)")
    return parser


def _limits_text(limits: Limits) -> str:
    parts = [
        f"{label}={'unlimited' if value == UNLIMITED else value}"
        for label, value in limits.items()
        if value is not None
    ]
    return " ".join(parts) or "deployment defaults"


def _key_line(key: ApiKey) -> str:
    return f"{key.key_id}  {key.status:<7}  {key.created}  {key.name}  [{_limits_text(key.limits)}]"


def _summary(report: ReplayReport, out: TextIO) -> int:
    """Print a replay's counts; exit status 1 when anything was left unwritten."""
    print(
        f"written {report.written}, already there {report.duplicates}, "
        f"failed {report.failed}, malformed {report.malformed}, expired {report.expired}, "
        f"held {report.held}",
        file=out,
    )
    return 1 if report.failed or report.malformed or report.expired or report.held else 0


def _client(service: str) -> Any:
    return store.make_client(service, store.client_config(2.0, 5.0, 5))


def main(
    argv: list[str] | None = None,
    out: TextIO = sys.stdout,
    dynamodb: Any = None,
    sqs: Any = None,
    stdin: TextIO = sys.stdin,
    kinesis: Any = None,
) -> int:
    args = _parser().parse_args(argv)
    settings = Settings.from_env()
    dynamodb = dynamodb or _client("dynamodb")
    keys = KeyStore(dynamodb, settings.keys_table)
    if args.command == "create":
        limits = Limits(**{name: getattr(args, name) for name in LIMIT_NAMES})
        secret, key = keys.create(args.name, limits, secret=args.secret)
        print(f"key id:  {key.key_id}\nlimits:  {_limits_text(limits)}", file=out)
        print(f"api key: {secret}\n(shown once: store it now; only its sha256 is kept)", file=out)
    elif args.command == "list":
        for key in keys.list():
            print(_key_line(key), file=out)
    elif args.command == "revoke":
        if not keys.revoke(args.key_id):
            print(f"no key with id {args.key_id}", file=sys.stderr)
            return 1
        print(
            f"revoked {args.key_id} (warm containers honour it within their key cache TTL, "
            f"{settings.key_cache_seconds}s)",
            file=out,
        )
    elif args.command == "usage":
        end = args.end or datetime.now(UTC).date()
        start = args.start or default_start(end)
        days = UsageReader(dynamodb, settings.usage_table).daily(args.key_id, start, end)
        if args.json:
            print(json.dumps(usage_body(args.key_id, start, end, days), indent=2), file=out)
        else:
            print("date        requests  inputs  total_tokens", file=out)
            for day in days:
                print(
                    f"{day.date}  {day.requests:>8}  {day.inputs:>6}  {day.total_tokens:>12}",
                    file=out,
                )
    elif args.command == "replay":
        url = args.queue_url or settings.usage_queue_url
        if not url:
            print("no queue: pass --queue-url or set USAGE_FALLBACK_QUEUE_URL", file=sys.stderr)
            return 2
        writer = replay_writer(settings, dynamodb, lambda: kinesis or _client("kinesis"))
        return _summary(replay(SqsUsageQueue(sqs or _client("sqs"), url), writer), out)
    elif args.command == "replay-logs":
        writer = replay_writer(settings, dynamodb, lambda: kinesis or _client("kinesis"))
        total = ReplayReport()
        for name in args.files:
            if name == "-":
                report = replay_lines(stdin, writer)
            else:
                with open(name, encoding="utf-8", errors="replace") as lines:
                    report = replay_lines(lines, writer)
            for field in vars(total):
                setattr(total, field, getattr(total, field) + getattr(report, field))
        return _summary(total, out)
    elif args.command == "count-stream":
        counter = StreamCounter.from_settings(dynamodb, settings)
        counted = count_stream(kinesis or _client("kinesis"), args.stream, counter)
        print(f"counted {counted} records not counted before", file=out)
    elif args.command == "create-tables":
        store.create_tables(dynamodb, settings.keys_table, settings.usage_table)
        print(f"tables ready: {settings.keys_table}, {settings.usage_table}", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
