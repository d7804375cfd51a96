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
import sys
import tempfile
import urllib.request
from typing import IO, Any

from tools.local_service import LOCAL_ENV, LocalService, LocalServiceError


class MotoServerError(LocalServiceError):
    pass


class MotoServer(LocalService):
    name = "moto server (S3, SQS)"
    error = MotoServerError

    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        self.log: IO[bytes] = tempfile.TemporaryFile()

    def start(self, timeout: float = 30.0) -> MotoServer:
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self._spawn(command, self.log)

        def answers() -> bool:
            with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1):
                return True

        self._wait_ready(answers, timeout, lambda: "its log: " + self._log_tail())
        return self

    def _log_tail(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        super().stop()
        if not self.log.closed:
            self.log.close()

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    with MotoServer(port=args.port) as moto:
        moto.serve_until_interrupted("")
    return 0


if __name__ == "__main__":
    sys.exit(main())
