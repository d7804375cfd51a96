"""The embeddings function. The package's import is where a container's init starts."""

import time

IMPORT_STARTED = time.perf_counter()  # handler.app reports init duration from here
