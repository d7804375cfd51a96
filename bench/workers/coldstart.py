"""One cold start: import, load, first answer, timed by phase. Prints one JSON line and exits.

`ours`: the `handler` package (where Lambda's init starts: it sets what must precede the
libraries), the libraries the handler needs (list given by the orchestrator, found by a warm-up
run), then `handler.app` (our modules, the model load, the app), then its first HTTP API v2 event.
`floor`: what any design serving this model pays: numpy, ONNX Runtime and tokenizers, the
model loaded (no hash check, as deployed), one sentence embedded; no web framework, no AWS.
`st`: `import sentence_transformers`, load the model, encode one sentence.
Each also reports `cpu_s`, the process's CPU seconds (every thread) up to its answer: on a
shared machine it moves less than wall time, and a 1-vCPU Lambda pays for each of them.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

SENTENCE = "The food was delicious and the waiter was friendly."


def third_party_roots() -> list[str]:
    """Top-level non-stdlib packages now imported: what the 'import' phase should contain."""
    roots = {name.split(".")[0] for name in sys.modules}
    stdlib = set(sys.stdlib_module_names) | {"__main__", "bench", "handler"}
    return sorted(r for r in roots if r not in stdlib and not r.startswith("_"))


def ours(preload: list[str]) -> dict[str, object]:
    importlib.import_module("handler")
    # what handler.app imports first: it changes how fastapi imports (handler/framework.py)
    importlib.import_module("handler.framework")

    for name in preload:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional extra a library probed for; the app did not need it
            pass
    imported = time.perf_counter()
    from handler.app import handler

    loaded = time.perf_counter()
    from bench.events import LambdaContext, bench_key_headers, v2_embeddings_event

    event = v2_embeddings_event(
        {"input": SENTENCE, "model": "all-MiniLM-L6-v2"}, bench_key_headers()
    )
    response = handler(event, LambdaContext())
    answered = time.perf_counter()
    if response.get("statusCode") != 200:
        raise SystemExit(f"first event answered {response.get('statusCode')}: {response}")
    return {
        "import_s": imported - STARTED,
        "load_s": loaded - imported,
        "first_answer_s": answered - loaded,
        "cpu_s": time.process_time(),
        "roots": third_party_roots(),
    }


def floor(model_dir: str, threads: int) -> dict[str, object]:
    from handler.embedder import load_embedder

    imported = time.perf_counter()
    embedder = load_embedder(model_dir, threads=threads, verify=False)
    loaded = time.perf_counter()
    embedder.embed([SENTENCE])
    return _phases(imported, loaded)


def sentence_transformers(st_dir: str, threads: int) -> dict[str, object]:
    import sentence_transformers as st
    import torch

    imported = time.perf_counter()
    torch.set_num_threads(threads)
    model = st.SentenceTransformer(st_dir, device="cpu")
    loaded = time.perf_counter()
    model.encode([SENTENCE])
    return _phases(imported, loaded)


def _phases(imported: float, loaded: float) -> dict[str, object]:
    """The phases of a start that has just answered: imports, load, first answer, CPU."""
    answered = time.perf_counter()
    return {
        "import_s": imported - STARTED,
        "load_s": loaded - imported,
        "first_answer_s": answered - loaded,
        "cpu_s": time.process_time(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=("ours", "floor", "st"), required=True)
    parser.add_argument(
        "--preload", default="", help="comma-separated modules for the import phase"
    )
    parser.add_argument("--st-dir", default="")
    parser.add_argument("--model-dir", default="", help="floor: the artifact")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.engine == "ours":
        result = ours([m for m in args.preload.split(",") if m])
    elif args.engine == "floor":
        result = floor(args.model_dir, args.threads)
    else:
        result = sentence_transformers(args.st_dir, args.threads)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
