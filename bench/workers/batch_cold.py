"""One batch worker container's cold start, in a fresh process (the `batch` section runs it a
few times): the import of handler.batch.lambda_worker (settings, clients, the default model
loaded, as Lambda's init does), then what the first shard pays over a warm one: its first
model pass (ONNX Runtime's first run) less the same pass warm. No AWS is reached: clients are
built, not called. Prints one JSON line.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "model_artifacts" / "corpus" / "heldout.txt"


def main() -> int:
    import handler.batch.lambda_worker as worker_fn
    from handler.batch.part_run import GROUP_INPUTS

    imported = time.perf_counter()
    texts = [t for t in CORPUS.read_text().splitlines() if t.strip()][:GROUP_INPUTS]
    embedder = worker_fn.models.embedder(worker_fn.models.default.id)

    def one_pass() -> float:
        started = time.perf_counter()
        embedder.run(embedder.tokenize(texts))
        return time.perf_counter() - started

    first = one_pass()
    cpu = time.process_time()
    warm = sorted(one_pass() for _ in range(3))[1]
    print(
        json.dumps(
            {
                "import_s": imported - STARTED,
                "first_pass_s": first,
                "warm_pass_s": warm,
                "first_pass_extra_s": max(0.0, first - warm),
                "cold_start_s": imported - STARTED + max(0.0, first - warm),
                "cpu_s": cpu,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
