"""The real openai-node client for the tests, installed on first use into build/node-clients.

tests/clients/node/ holds the pinned package.json, its package-lock.json and the scripts; they
are copied to build/node-clients (ES modules resolve `openai` from the script's own folder) and
`npm ci` runs there when the lockfile changed or nothing is installed yet.

    out = run_node("openai_client.mjs", ["embed", model, inputs_json], env)
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIR = ROOT / "tests" / "clients" / "node"
INSTALL_DIR = ROOT / "build" / "node-clients"


class NodeClientsError(RuntimeError):
    pass


def node_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def ensure_installed(install_dir: Path = INSTALL_DIR) -> Path:
    """install_dir with the scripts and node_modules matching the lockfile."""
    install_dir.mkdir(parents=True, exist_ok=True)
    with open(install_dir / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test sessions may race to install
        lockfile = (SOURCE_DIR / "package-lock.json").read_bytes()
        stamp = install_dir / "node_modules" / ".installed-lock.json"
        if not stamp.exists() or stamp.read_bytes() != lockfile:
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(SOURCE_DIR / name, install_dir / name)
            npm = shutil.which("npm")
            if npm is None:
                raise NodeClientsError("npm is needed to install the openai-node client")
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=install_dir,
                check=True,
            )
            stamp.write_bytes(lockfile)
        for script in SOURCE_DIR.glob("*.mjs"):  # always the current scripts
            shutil.copyfile(script, install_dir / script.name)
    return install_dir


def run_node(
    script: str, args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a script of tests/clients/node with `env`; raises NodeClientsError on failure."""
    install_dir = ensure_installed()
    node = shutil.which("node")
    if node is None:
        raise NodeClientsError("node is not on PATH")
    done = subprocess.run(
        [node, str(install_dir / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise NodeClientsError(f"node {script} {args[:1]} failed: {done.stderr[-3000:]}")
    return done
