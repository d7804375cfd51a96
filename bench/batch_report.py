"""The `batch` section's tables (bench/report.py renders the rest): lines/s per worker count,
the rate's 10M-input estimate, the 10M-input time per concurrency (bench/batch_wall.py), and
where one worker's time goes per line (bench/shard_profile.py)."""

from __future__ import annotations

from typing import Any

from bench.bill_tables import table


def render(results: dict[str, Any]) -> list[str]:
    r = results.get("batch") or {}
    lines = ["### Batch API (local workers; 10 million inputs on Lambda)", ""]
    if r.get("status") == "ok":
        rates = r["lines_per_s"]
        lines += table(["workers", *rates.keys()], [["lines/s (median)", *rates.values()]])
        lines += [
            f"{r['lines']} one-input lines ({r['mean_tokens']} tokens each on average), "
            f"{r['shard_lines']}-line shards, median of {r['rounds']} interleaved rounds; "
            "S3/SQS on moto's server, usage per shard part on DynamoDB Local. Each worker is one "
            "1-thread embedder; more workers than cores only contend.",
            "",
        ]
        t = r["ten_million"]
        usd = t["usd"]
        lines += table(
            ["10M inputs", "ours", "OpenAI batch (text-embedding-3-small)"],
            [
                [
                    "USD",
                    f"{usd['total']:.2f} (compute {usd['lambda_compute']:.2f}, "
                    f"usage ledger {usd['dynamodb_usage_ledger']:.2f})",
                    f"{t['openai_batch_usd']:.2f}",
                ],
            ],
        )
        lines += [
            f"{t['worker_hours']} worker-hours at {t['lines_per_s_per_worker']} lines/s per "
            f"worker ({t['worker_memory_mb']} MB, {t['shard_lines']}-line shards, the "
            "template's defaults): an estimate from the rate; the bill section's figure is "
            "the all-in one, from counted calls.",
            "",
        ]
        lines += [f"Prices as of {t['prices']['date']}; {t['note']}.", ""]
        lines += _ten_million_time(r)
        lines += _shard_profile(r)
    return lines


def _ten_million_time(r: dict[str, Any]) -> list[str]:
    """10M inputs' wall time per worker concurrency (bench/batch_wall.py)."""
    t, cold = r.get("ten_million_time"), r.get("worker_cold_start")
    if not t or not cold:
        return []
    rows = [
        [c, a["shards"], a["waves"], a["shard_s"], a["cold_start_s"], a["plan_s"],
         a["finalize_s"], f"{a['minutes']} min", f"{a['minutes_sqs_ramp']} min"]
        for c, a in t["at"].items()
    ]  # fmt: skip
    return [
        "10M one-sentence inputs as 200 batches of 50,000 lines, all submitted at once: shards "
        "in waves of the worker concurrency at the one-worker rate above, plus one worker cold "
        f"start per container (median of {cold['runs']} fresh processes: "
        f"{cold['median_s']} s, the lambda_worker import with the model load plus the first "
        "pass's extra), plus one batch's planning and finalization (measured on the batch "
        "above, scaled to 50,000 lines). The last column lets concurrency follow the SQS "
        "event source's documented ramp (5 at first, up to 300 more a minute). The "
        f"template's BatchWorkerConcurrency default is {t['template_concurrency']}.",
        "",
        *table(
            ["workers", "shards", "waves", "shard s", "cold start s", "plan s", "finalize s",
             "time", "time, SQS ramp"],
            rows,
        ),
    ]  # fmt: skip


def _shard_profile(r: dict[str, Any]) -> list[str]:
    """Where a worker's time goes, per line (bench/shard_profile.py), beside the raw embedder."""
    p = r.get("profile")
    if not p:
        return []
    raw = r.get("raw_embedder_texts_per_s")
    stages = p["stages_ms_per_line"]
    waits, typical = p["waits_ms_per_line_local"], p["waits_ms_per_line_aws_typical"]
    rows = [[f"stage: {k}", v, "", ""] for k, v in stages.items()]
    rows += [[f"wait: {k}", "", waits[k], typical.get(k, "")] for k in waits]
    rows += [
        ["wall (billed)", p["billed_ms_per_line_local"], "", p["billed_ms_per_line_aws_typical"]],
        ["thread CPU", p["cpu_ms_per_line"], "", ""],
    ]
    return [
        f"One worker's time per line, one batch handled inline ({p['lines']} lines; every "
        f"message: plan, shards, finalization). Raw 1-thread embedder: {raw} texts/s; one "
        f"worker: {r['lines_per_s'].get('1')} lines/s = {r.get('one_worker_share_of_raw')} "
        "of it (same run). AWS-typical waits price each call at "
        + ", ".join(f"{k} {v:g} ms" for k, v in p["typical_ms"].items())
        + " (sources in bench/shard_profile.py).",
        "",
        *table(["ms per line", "CPU path", "wait (loopback)", "AWS typical"], rows),
    ]  # fmt: skip
