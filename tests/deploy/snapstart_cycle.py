"""Run the built function through a SnapStart cycle the way awslambdaric does, then serve.

awslambdaric's on_init_complete runs `run_before_snapshot()`, asks the Runtime API for
/runtime/restore/next, then runs `run_after_restore()`. The emulator has no restore
endpoint, so this calls the same two hook runners around an import of the built handler,
under the lambda-runtime interpreter with the layers on PYTHONPATH:

    echo EVENT | build/lambda-runtime/bin/python tests/deploy/snapstart_cycle.py
      -> {"swapped": [...], "response": {...}}   (the hooks' log lines go to stderr)
"""

from __future__ import annotations

import json
import logging
import os
import sys

PARTS = ("lookup", "gate", "recorder", "reader")


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
    event = json.load(sys.stdin)
    os.environ["METRICS_LOG"] = "/dev/stderr"  # its EMF line, off the JSON answer on stdout
    from awslambdaric import lambda_runtime_hooks_runner

    import handler.app as app  # the init phase: the hooks register here

    before = {part: id(getattr(app.usage, part)) for part in PARTS}
    lambda_runtime_hooks_runner.run_before_snapshot()
    lambda_runtime_hooks_runner.run_after_restore()
    swapped = [part for part in PARTS if id(getattr(app.usage, part)) != before[part]]
    json.dump({"swapped": swapped, "response": app.handler(event, None)}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
