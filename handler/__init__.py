"""The embeddings function. The package's import is where a container's init starts."""

import os
import time

IMPORT_STARTED = time.perf_counter()  # handler.app reports init duration from here
# pydantic looks for plugins in every installed distribution's entry points when it builds
# its first model (importlib.metadata: ~20 ms of a cold start's CPU, measured with `make
# bench`'s cold_start section). The function installs none; a deployment that does can set
# the variable itself, and that value wins.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
