"""The operator CLI, in-process against moto (tables and queue named through the env)."""

from __future__ import annotations

import io
import json
import time
import uuid

import pytest
from usage_support import Tables

from handler.records import UsageRecord
from handler.usage import cli
from handler.usage.fallback import SqsUsageQueue
from handler.usage.keys import KeyStore, Limits


def run(tables: Tables, *argv: str, sqs: object = None) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out, dynamodb=tables.client, sqs=sqs)
    return code, out.getvalue()


@pytest.fixture
def env_tables(moto_tables: Tables, monkeypatch: pytest.MonkeyPatch) -> Tables:
    monkeypatch.setenv("KEYS_TABLE", moto_tables.keys)
    monkeypatch.setenv("USAGE_TABLE", moto_tables.usage)
    return moto_tables


@pytest.mark.unit
def test_create_prints_the_key_once_and_it_authenticates(env_tables: Tables) -> None:
    code, out = run(env_tables, "create", "my app", "--rpm", "60", "--tpm", "1000")
    assert code == 0
    secret = next(line.split()[-1] for line in out.splitlines() if line.startswith("api key:"))
    key = KeyStore(env_tables.client, env_tables.keys).lookup(secret)
    assert key is not None and key.name == "my app" and key.limits.rpm == 60
    _, listed = run(env_tables, "list")
    assert key.key_id in listed and "rpm=60 tpm=1000" in listed and secret not in listed


@pytest.mark.unit
def test_create_without_limits_follows_the_defaults_and_zero_opts_out(env_tables: Tables) -> None:
    code, out = run(env_tables, "create", "default app")
    assert code == 0 and "limits:  deployment defaults" in out
    code, out = run(env_tables, "create", "free app", "--rpm", "0", "--tpm", "500")
    assert code == 0 and "limits:  rpm=unlimited tpm=500" in out
    stored = {k.name: k.limits for k in KeyStore(env_tables.client, env_tables.keys).list()}
    assert stored == {"default app": Limits(), "free app": Limits(rpm=0, tpm=500)}


@pytest.mark.unit
def test_create_refuses_a_negative_limit(
    env_tables: Tables, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        run(env_tables, "create", "app", "--tpm", "-5")
    assert exit_.value.code == 2 and "use 0 for no limit" in capsys.readouterr().err


@pytest.mark.unit
def test_revoke_and_unknown_ids(env_tables: Tables) -> None:
    _, key = KeyStore(env_tables.client, env_tables.keys).create("app")
    code, out = run(env_tables, "revoke", key.key_id)
    assert code == 0 and "revoked" in out
    assert run(env_tables, "revoke", "key_nope")[0] == 1
    assert "revoked" in run(env_tables, "list")[1]


@pytest.mark.unit
def test_replay_then_usage_by_day(
    env_tables: Tables, queue: SqsUsageQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USAGE_FALLBACK_QUEUE_URL", queue.queue_url)
    now = time.time()
    for tokens in (5, 7):
        record = UsageRecord(
            str(uuid.uuid4()), "key_cli", "m", tokens, tokens, 1, None, "float", None, 1.0, now
        )
        queue.send(record.to_json())
    code, out = run(env_tables, "replay", sqs=queue.client)
    assert code == 0 and out.startswith("written 2, already there 0")
    code, out = run(env_tables, "usage", "key_cli", "--json")
    body = json.loads(out)
    assert body["total"] == {"requests": 2, "inputs": 2, "prompt_tokens": 12, "total_tokens": 12}
    assert len(body["data"]) == 30
    _, table = run(env_tables, "usage", "key_cli")
    assert table.splitlines()[-1].split()[1:] == ["2", "2", "12"]
