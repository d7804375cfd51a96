"""The Markdown tables printed by the bench and kept in docs/notes/, and the targets check.

Targets are reported as measured vs target; they never fail the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import batch_report, bill_report


def _get(results: dict[str, Any], *keys: str) -> Any:
    node: Any = results
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _row(rows: list[dict[str, Any]], engine: str, threads: int = 2) -> dict[str, Any] | None:
    return next(
        (
            r
            for r in rows
            if r["engine"] == engine and r.get("threads", 2) == threads and r["status"] == "ok"
        ),
        None,
    )


def _serialisation_ms(results: dict[str, Any]) -> float | None:
    """The 2048-input float body: orjson from numpy plus gzip, as the route builds it."""
    value = _get(results, "handler", "big_parts", "float_json_gzip_ms")
    return None if value is None else float(value)


def _load_errors(results: dict[str, Any]) -> int | None:
    deployed = _get(results, "load", "errors")
    alone = _get(results, "load", "service_alone", "errors")
    return None if deployed is None else int(deployed) + int(alone or 0)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each issue's speed target with the figure measured in this run (None when not measured)."""
    rows = _get(results, "throughput", "rows") or []
    st, ours, fp32 = _row(rows, "st"), _row(rows, "ours"), _row(rows, "onnx")
    big = _get(results, "handler", "big_float", "inputs") or 2048
    checks: list[tuple[str, str, Any, Callable[[Any], bool]]] = [
        ("#3 warm single short input via Mangum, p50", "<= 10 ms",
         _get(results, "handler", "single", "p50_ms"), lambda v: v <= 10),
        ("#19 cold start to first v2 answer, median", "<= 0.5 s",
         _get(results, "cold_start", "ours", "total_s"), lambda v: v <= 0.5),
        (f"#3 {big}-input float response serialised (orjson + gzip)", "<= 100 ms",
         _serialisation_ms(results), lambda v: v <= 100),
        ("#2 int8 texts/s vs sentence-transformers fp32", ">= 2.0x",
         ours and st and ours.get("ratio_to_st"), lambda v: v >= 2.0),
        ("#2 int8 texts/s vs fp32 ONNX", "> 1.0x",
         ours and fp32 and round(ours["texts_per_s"] / fp32["texts_per_s"], 2), lambda v: v > 1),
        ("#2 int8 model size", "<= 25 MB",
         _get(results, "artifact", "int8_model_mb"), lambda v: v <= 25),
        ("#4 auth + quota + usage write overhead, p50", "<= 15 ms",
         _get(results, "usage_overhead", "overhead_p50_ms"), lambda v: v <= 15),
        ("#6 load test errors (both arms)", "0", _load_errors(results), lambda v: v == 0),
        ("#9 shipped int8 vs sentence-transformers, 1 thread", ">= 2.0x",
         _get(_shipped(results), "ratio_to_st", "1"), lambda v: v >= 2.0),
        ("#9 shipped int8 vs sentence-transformers, 2 threads", ">= 2.0x",
         _get(_shipped(results), "ratio_to_st", "2"), lambda v: v >= 2.0),
        ("#9 batch invariance, max |diff| per component", "<= 1e-6",
         _get(_shipped(results), "invariance_max_abs_diff"), lambda v: v <= 1e-6),
        ("#21 one batch worker lines/s / raw 1-thread embedder texts/s", ">= 0.85",
         _get(results, "batch", "one_worker_share_of_raw"), lambda v: v >= 0.85),
        ("#21 10M inputs at 1,000 workers, cold start counted", "<= 1 min",
         _get(results, "batch", "ten_million_time", "at", "1000", "minutes"),
         lambda v: v <= 1),
        *bill_report.targets(results),
    ]  # fmt: skip
    return [
        {"target": name, "goal": goal, "measured": value,
         "met": None if value is None else bool(check(value))}
        for name, goal, value, check in checks
    ]  # fmt: skip


def _table(header: list[str], body: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in body]
    return lines + [""]


def _failed(results: dict[str, Any], name: str) -> list[str]:
    part = results.get(name)
    if part is None:
        return [f"_{name}: not run_", ""]
    if part.get("status") == "ok":
        return []
    return [
        f"_{name}: {part.get('status', 'missing')}: "
        f"{(part.get('error') or part.get('reason') or '').splitlines()[:1]}_",
        "",
    ]


def _throughput(results: dict[str, Any]) -> list[str]:
    part = results.get("throughput") or {}
    lines = [
        "### Throughput",
        "",
        f"{part.get('texts')} corpus sentences, {part.get('mean_tokens')} tokens each on "
        "average, median of timed passes; ratio to sentence-transformers.",
        "",
    ]
    body = []
    for r in part.get("rows", []):
        if r["status"] != "ok":
            reason = r.get("reason", "").strip().splitlines()
            body.append(
                [r["label"], "", "", "", "", f"{r['status']}: {reason[-1] if reason else ''}"]
            )
            continue
        body.append(
            [
                r["label"],
                r["threads"],
                r["texts_per_s"],
                r["tokens_per_s"],
                f"{r.get('ratio_to_st')}x",
                r.get("min_cosine_to_st"),
            ]
        )
    header = ["engine", "threads", "texts/s", "tokens/s", "vs torch", "min cosine vs torch"]
    return lines + _table(header, body) + _failed(results, "throughput")


def _shipped(results: dict[str, Any]) -> dict[str, Any]:
    rows = _get(results, "bakeoff", "rows") or []
    return next((r for r in rows if "shipped" in r["label"] and r["status"] == "ok"), {})


def _bakeoff(results: dict[str, Any]) -> list[str]:
    part = results.get("bakeoff") or {}
    isa = part.get("isa") or {}
    pk = part.get("int8_peak") or {}
    lines = [
        "### Bake-off (1 and 2 threads; 1 thread = a 1,769 MB, 1-vCPU Lambda function)",
        "",
        f"ISA: {', '.join(k for k, v in isa.items() if v) or 'unknown'}; absent: "
        f"{', '.join(k for k, v in isa.items() if not v)}. int8 peak by {pk.get('path')}: "
        f"{pk.get('ops_per_cycle_per_core')} ops/cycle/core x {pk.get('ghz')} GHz x "
        f"{pk.get('cores')} cores = {pk.get('peak_gops')} GOPS; the model does "
        f"{part.get('flops_per_token')} FLOP per token. Invariance: max |diff| of "
        f"{part.get('alone_texts')} texts alone vs inside the corpus pass, and 1 vs 2 threads. "
        "Fidelity against sentence-transformers (2 threads).",
        "",
    ]
    body = []
    for r in part.get("rows", []):
        if r["status"] != "ok":
            body.append([r["label"], r["status"], "", "", "", "", "", "", "", ""])
            continue
        fid = r.get("fidelity") or {}
        tps, ratio, mb = r["texts_per_s"], r.get("ratio_to_st") or {}, r["wheel_unzipped_mb"]
        body.append([
            r["label"], f"{tps['1']} / {tps['2']}", f"{ratio.get('1')}x / {ratio.get('2')}x",
            f"{r['tokens_per_s']['2']} ({r.get('share_of_int8_peak_2t')})",
            f"{fid.get('mean_cosine')} / {fid.get('min_cosine')} / {fid.get('recall_at_10')}",
            f"{r['invariance_max_abs_diff']:.2g}", r["load_s"],
            f"{r['runtime_package']}: {mb.get('arm64')} / {mb.get('x86_64')}" if mb
            else r["runtime_package"],
        ])  # fmt: skip
    header = [
        "engine",
        "texts/s 1t / 2t",
        "vs torch 1t / 2t",
        "tokens/s 2t (share of peak)",
        "mean / min cosine / recall@10",
        "invariance max diff",
        "load s",
        "runtime wheel MB unzipped arm64 / x86_64",
    ]
    return lines + _table(header, body) + _failed(results, "bakeoff")


def _handler(results: dict[str, Any]) -> list[str]:
    part = results.get("handler") or {}
    lines = [
        "### Through the Mangum handler (warm, in process; the service without usage hooks)",
        "",
    ]
    body = []
    n = (part.get("big_float") or {}).get("inputs")
    names = [
        ("single", "1 short input, float"),
        ("batch32", "32 inputs, float"),
        ("big_float", f"{n} inputs, float (gzip)"),
        ("big_base64", f"{n} inputs, base64 (gzip)"),
    ]
    for key, label in names:
        r = part.get(key)
        if r:
            size = r.get("response_bytes")
            body.append(
                [label, r["n"], r["p50_ms"], r["p95_ms"], f"{size / 1e6:.2f} MB" if size else ""]
            )
    lines += _table(["request", "runs", "p50 ms", "p95 ms", "body in the Lambda response"], body)
    parts = part.get("big_parts")
    if parts:
        lines += [
            f"The {n}-input request's parts (median ms): embedder {parts['compute_ms']}; "
            f"float body: orjson {parts['float_json_ms']}, orjson + gzip "
            f"{parts['float_json_gzip_ms']}; base64 body {parts['base64_json_ms']}.",
            "",
        ]
    return lines + _failed(results, "handler")


def _cold(results: dict[str, Any]) -> list[str]:
    part = results.get("cold_start") or {}
    lines = ["### Cold start (fresh process to first answer)", ""]
    body = []
    for key, label in (
        ("ours", "ours: handler + first v2 event, as deployed"),
        ("floor", "floor: the model alone, 1 sentence"),
        ("sentence_transformers", "sentence-transformers: encode 1 sentence"),
    ):
        r = part.get(key)
        if r:
            body.append(
                [
                    label,
                    r["runs"],
                    r["total_s"],
                    r.get("cpu_s", ""),
                    r["interpreter_s"],
                    r["import_s"],
                    r["load_s"],
                    r["first_answer_s"],
                ]
            )
    header = [
        "engine",
        "runs",
        "total s (median)",
        "CPU s",
        "interpreter s",
        "import s",
        "load s",
        "first answer s",
    ]
    lines += _table(header, body)
    if part.get("speedup"):
        lines += [f"Ours starts {part['speedup']}x faster than sentence-transformers.", ""]
    if part.get("ratio_to_floor"):
        lines += [
            f"Ours takes {part['ratio_to_floor']}x the floor's wall time "
            f"({part['cpu_ratio_to_floor']}x its CPU): the web framework, AWS clients and our "
            f"modules add {part['over_floor_s']} s ({part['over_floor_cpu_s']} CPU s) to the "
            "model's own start. Engines run in turns, so a noisy spell hits all alike.",
            "",
        ]
    return lines + _cold_parts(part.get("parts") or []) + _failed(results, "cold_start")


def _cold_parts(parts: list[dict[str, Any]]) -> list[str]:
    """Ours part by part (bench/workers/coldstart_parts.py), with the sum to the first answer."""
    if not parts:
        return []
    lines = [
        "Where ours spends it: handler/app.py's work in order on one thread (the DynamoDB "
        "client in line, not on its background thread), medians of fresh processes:",
        "",
    ]
    body = [[p["part"], p["wall_ms"], p["cpu_ms"]] for p in parts]
    lines += _table(["part", "wall ms", "CPU ms"], body)
    cold = [p for p in parts if not p["part"].startswith(("(", "second answer"))]
    lines += [
        f"To the first answer: {round(sum(p['cpu_ms'] for p in cold), 1)} CPU ms in all, the "
        "bench's own event aside.",
        "",
    ]
    return lines


def _memory(results: dict[str, Any]) -> list[str]:
    part = results.get("memory") or {}
    body = [
        [label, r["inputs"], r["rss_after_load_mb"], r["peak_rss_mb"]]
        for key, label in (
            ("ours", "ours (Mangum handler, float + gzip)"),
            ("sentence_transformers", "sentence-transformers"),
        )
        if (r := part.get(key))
    ]
    lines = ["### Memory (one large request in a fresh process)", ""]
    header = ["engine", "inputs", "RSS after load MB", "peak RSS MB"]
    return lines + _table(header, body) + _failed(results, "memory")


def _models(results: dict[str, Any]) -> list[str]:
    part = results.get("models") or {}
    body = []
    for policy in ("one_model", "two_lazy", "two_eager"):
        if (r := part.get(policy)) is None:
            continue
        for model, first in r["first_request_ms"].items():
            body.append([policy, r["init_ms"], model, first, r["warm_single_ms"][model]])
    lines = [
        "### Models: load policies (fresh processes, medians; handler/embeddings/models.py)",
        "",
    ]
    header = ["policy", "cold start ms", "model", "first request ms", "warm single ms"]
    chosen = part.get("chosen")
    note = [f"chosen: {chosen['policy']} ({chosen})", ""] if chosen else []
    return lines + _table(header, body) + note + _failed(results, "models")


def _long_inputs(results: dict[str, Any]) -> list[str]:
    part = results.get("long_inputs") or {}
    lines = ["### Long inputs (LONG_INPUTS=pool)", ""]
    body = [
        [r["threads"], r["windows"], r["pooled_ms_per_1k_tokens"], r["short_ms_per_1k_tokens"],
         r["pooled_vs_short"]]
        for r in part.get("speed") or []
    ]  # fmt: skip
    header = ["threads", "windows", "pooled ms/1k tokens", "as short inputs", "ratio"]
    lines += _table(header, body)
    for name, r in (part.get("requests") or {}).items():
        verdict = "fits" if r["fits_timeout"] else "does NOT fit"
        lines.append(
            f"- {name}: {r['inputs']} x 8,192 tokens ({r['tokens']} tokens) at {r['threads']} "
            f"thread: {r['wall_s']} s, {verdict} the {part['timeout_s']} s timeout on this "
            f"machine; peak RSS {r['peak_rss_mb']} MB ({r['rss_after_load_mb']} MB after load)"
        )
    if part.get("requests"):
        lines += [
            "",
            f"The template's {part['template_memory_mb']} MB is {part['template_vcpus']} vCPU "
            f"(one ONNX thread); REQUEST_TOKEN_BUDGET there is {part['request_token_budget']} "
            "tokens: a request over it is a 400 before any model work.",
            "",
        ]
    return lines + _failed(results, "long_inputs")


def _encodings(results: dict[str, Any]) -> list[str]:
    part = results.get("encodings") or {}
    lines = ["### Encodings (encoding_format: bytes and serialisation)", ""]
    body = [
        [r["encoding"], r["inputs"], r["bytes_per_vector"], r["json_bytes"], r["sent_bytes"],
         "yes" if r["gzip"] else "no", r["lambda_payload_bytes"], r["serialise_ms"], r["vs_float"]]
        for r in part.get("rows") or []
    ]  # fmt: skip
    header = ["encoding", "inputs", "B/vector", "JSON B", "sent B", "gzip", "Lambda payload B",
              "serialise ms", "x float"]  # fmt: skip
    lines += _table(header, body)
    if body:
        lines += [
            "",
            f"Serialise: embeddings_body then fit_response for a client accepting gzip, median "
            f"of {part['rounds']} interleaved rounds on the same vectors; int8 scale "
            f"{part['int8_scale']}.",
            "",
        ]
    recall = part.get("recall") or {}
    tables = [(name, recall[name]) for name in ("heldout", "longdocs") if name in recall]
    if tables:
        names = list(tables[0][1]["recall_at_10"])
        lines += _table(
            ["recall@10 vs float", *names],
            [[name, *(t["recall_at_10"][n] for n in names)] for name, t in tables],
        )
        lines += [
            "",
            f"Recall: {recall.get('source')}; rescoring {recall.get('rescoring')}; gates "
            f"{recall.get('gates')}.",
            "",
        ]
    return lines + _failed(results, "encodings")


def _load(results: dict[str, Any]) -> list[str]:
    r = results.get("load") or {}
    lines = [
        "### Load (uvicorn on 127.0.0.1, one worker; one short input per request)",
        "",
    ]
    if r.get("status") == "ok":
        arms = [
            ("deployed app, auth on", r),
            ("service alone, no usage hooks", r.get("service_alone")),
        ]
        body = [
            [name, a["requests"], a["clients"], a["requests_per_s"], a.get("p50_ms"),
             a.get("p99_ms"), a["errors"]]
            for name, a in arms
            if a
        ]  # fmt: skip
        header = ["app", "requests", "clients", "requests/s", "p50 ms", "p99 ms", "errors"]
        lines += _table(header, body)
        if "usage_recorded" in r:
            answered = r["ok"] + r.get("warmup_ok", 0)
            lines += [
                f"Usage recorded for the bench key: {r['usage_recorded']} of the {answered} "
                "answered requests of the deployed arm (warm-up included).",
                "",
            ]
        samples = [e for _, a in arms if a for e in a.get("error_samples", [])]
        if samples:
            lines += ["Errors seen: " + "; ".join(samples), ""]
    return lines + _failed(results, "load")


def _usage(results: dict[str, Any]) -> list[str]:
    r = results.get("usage_overhead") or {}
    lines = ["### Auth + quota + usage write overhead (DynamoDB Local on loopback)", ""]
    if r.get("status") == "ok":
        lines += _table(
            ["requests per arm", "auth off p50 ms", "auth on p50 ms", "overhead p50 ms"],
            [[r["requests"], r["off_p50_ms"], r["on_p50_ms"], r["overhead_p50_ms"]]],
        )
    return lines + _failed(results, "usage_overhead")


def _metrics_overhead(results: dict[str, Any]) -> list[str]:
    r = results.get("metrics_overhead") or {}
    lines = ["### Metrics overhead (warm single input via Mangum, arms interleaved)", ""]
    if r.get("status") == "ok":
        body = [
            [name, r["requests"], r[f"{name}_p50_ms"], r[name]["p99_ms"],
             r[f"{name}_added_p50_ms"], r[f"{name}_paired_p50_ms"]]
            for name in ("off", "emf", "emf_prometheus")
        ]  # fmt: skip
        lines += _table(
            ["metrics", "requests", "p50 ms", "p99 ms", "added p50 ms", "paired diff p50 ms"],
            body,
        )
    return lines + _failed(results, "metrics_overhead")


def _cost(results: dict[str, Any]) -> list[str]:
    r = results.get("cost") or {}
    lines = ["### Cost per million tokens", ""]
    if r.get("status") == "ok":
        p = r["prices"]
        lines += _table(
            ["option", "USD per 1M tokens"],
            [
                [
                    f"ours on Lambda arm64, {r['memory_mb']} MB ({r['vcpus']} vCPU)",
                    f"{r['usd_per_million_tokens']:.4f}",
                ],
                ["OpenAI text-embedding-3-small", f"{r['openai_text_embedding_3_small_usd']:.4f}"],
            ],
        )
        lines += [
            f"Memory from {r['memory_source']}; {r['tokens_per_s_assumed']} tokens/s "
            f"assumed at that vCPU share (interpolated between our 1- and 2-thread runs); "
            f"prices: {p['source']}, ${p['arm64_gb_second_usd']:.10f}/GB-s + "
            f"${p['requests_usd_per_million']}/1M requests ({r['inputs_per_request']} "
            f"inputs per request), as of {p['date']}. Excludes API Gateway and DynamoDB. "
            f"{r['note']}.",
            "",
        ]
        others = r.get("usd_per_million_tokens_at_memory_mb") or {}
        if others:
            lines += [
                "At other memory settings (USD per 1M tokens): "
                + ", ".join(f"{mb} MB {usd:.4f}" for mb, usd in others.items())
                + ".",
                "",
            ]
    return lines + _failed(results, "cost")


def _batch(results: dict[str, Any]) -> list[str]:
    return batch_report.render(results) + _failed(results, "batch")


def _with_unit(value: Any, goal: str) -> str:
    """The measured figure in the goal's unit: "4.2 ms", "0.55 s", "2.4x", "33.4 MB"."""
    if value is None:
        return ""
    if goal.endswith("x"):
        return f"{value}x"
    unit = goal.split(" ")[-1]
    return f"{value} {unit}" if unit in ("ms", "s", "MB", "min") else str(value)


def _targets(results: dict[str, Any]) -> list[str]:
    body = [
        [
            t["target"],
            t["goal"],
            _with_unit(t["measured"], t["goal"]),
            {True: "yes", False: "NO", None: "not measured"}[t["met"]],
        ]
        for t in results.get("targets", [])
    ]
    return ["### Targets (measured vs target; informative, never a test)", ""] + _table(
        ["target", "goal", "measured", "met"], body
    )


def _machine(results: dict[str, Any]) -> list[str]:
    m = results.get("machine", {})
    sv, tv, bv = m.get("service_venv", {}), m.get("torch_venv", {}), m.get("bench_venv", {})
    a = results.get("artifact", {})
    return [
        f"Run {results.get('started_utc')} ({results.get('mode')} mode, {results.get('wall_s')} s)"
        f" on {m.get('nproc')} cores, {m.get('cpu_model')}, Linux {m.get('kernel')}; "
        f"service Python {sv.get('python')} (onnxruntime {sv.get('onnxruntime')}), "
        f"torch Python {tv.get('python')} (torch {tv.get('torch')}, sentence-transformers "
        f"{tv.get('sentence_transformers')}), fastembed {bv.get('fastembed')} on Python "
        f"{bv.get('python')}. Artifact {a.get('model_id')} int8 {a.get('int8_model_mb')} MB"
        f" (fp32 export {a.get('fp32_model_mb')} MB), sha {str(a.get('sha256'))[:12]}.",
        "",
    ]


def render(results: dict[str, Any]) -> str:
    parts = [
        _machine(results),
        _targets(results),
        _throughput(results),
        _bakeoff(results),
        _handler(results),
        _cold(results),
        _memory(results),
        _long_inputs(results),
        _encodings(results),
        _load(results),
        _usage(results),
        _metrics_overhead(results),
        _cost(results),
        _batch(results),
        _models(results),
        bill_report.render(results) if "bill" in results else [],
    ]
    return "\n".join(line for part in parts for line in part)
