"""Put a finished artifact directory in place so readers never see a half-written one.

Other processes (tests, the local server) read MODEL_DIR while a rebuild runs. On Linux the two
directories are swapped in one renameat2(RENAME_EXCHANGE) call; elsewhere the old directory is
renamed away first, which leaves a gap of one rename.
"""

from __future__ import annotations

import ctypes
import os
import shutil
from pathlib import Path

AT_FDCWD = -100
RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    return bool(result == 0)


def install_dir(built: Path, target: Path) -> None:
    """Replace `target` with `built` (same filesystem); `built` no longer exists afterwards."""
    if not target.exists():
        built.rename(target)
        return
    if _exchange(built, target):
        shutil.rmtree(built)  # now holds the previous artifact
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    target.rename(old)
    built.rename(target)
    shutil.rmtree(old)
