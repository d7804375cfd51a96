"""Run moto's server mode (S3 and SQS, and every other API moto knows) as a separate process
on a free loopback port: the batch API's local S3 and SQS, over real HTTP.

Why moto and not LocalStack: `localstack-core` (2026.3.0) on the host, without Docker, needs
its `[runtime]` extra, and then did not start offline: it imports `cbor2._decoder`, gone from
the cbor2 release pip resolves, and after pinning cbor2 it failed building its TLS
certificate (`X509.add_extensions`, removed from pyOpenSSL). moto[server] is already how the
usage tests fake SQS, installs in seconds and serves S3 multipart uploads, ranged GETs and SQS
visibility timeouts, which is what the batch flow uses.

    with MotoServer() as moto:                # starts it, waits until it answers
        s3 = moto.client("s3")                # or point AWS_ENDPOINT_URL_S3 at moto.endpoint_url

`python -m tools.moto_server [--port N]` serves until ^C.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import urllib.request
from types import TracebackType
from typing import IO, Any

from tools.dynamodb_local import LOCAL_ENV, _die_with_parent, free_port


class MotoServerError(RuntimeError):
    pass


class MotoServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] = tempfile.TemporaryFile()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> MotoServer:
        # Its log (a line per request) goes to a file: a pipe nobody reads fills up and
        # blocks the server mid-request.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                self.log.seek(0)
                error = self.log.read().decode(errors="replace")
                raise MotoServerError(f"moto server exited: {error[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise MotoServerError(f"moto server not ready after {timeout}s") from None
                time.sleep(0.1)

    def client(self, service: str) -> Any:
        """A boto3 client for this endpoint with dummy credentials."""
        import boto3

        return boto3.session.Session().client(
            service,
            region_name=LOCAL_ENV["AWS_DEFAULT_REGION"],
            endpoint_url=self.endpoint_url,
            aws_access_key_id=LOCAL_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_ENV["AWS_SECRET_ACCESS_KEY"],
        )

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        self.process = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    with MotoServer(port=args.port) as moto:
        print(f"moto server (S3, SQS) at {moto.endpoint_url}; ^C stops it", flush=True)
        try:
            while moto.process is not None and moto.process.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
