"""Call the function's handler directly, in this process, for each event read from stdin.

The deployment tests run it with the service's own venv and sources, with the same
environment as the emulated function, to get the answers the emulator must match:

    echo '[event, ...]' | .venv/bin/python tests/deploy/invoke_in_process.py  -> [response, ...]
"""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    events = json.load(sys.stdin)
    os.environ["METRICS_LOG"] = "/dev/stderr"  # the EMF lines, off the JSON answer on stdout
    from handler.app import handler  # the cold start, after the environment is in place

    json.dump([handler(event, None) for event in events], sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
