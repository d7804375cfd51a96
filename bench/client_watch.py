"""Watch every botocore client a process builds from now on: botocore's
`Session.create_client` is the one door every client goes through, boto3's included, so the
bench's meters (bench/meter.py, bench/shard_profile.py) hook it before the code under
measurement builds its clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def watch_new_clients(watch: Callable[[Any], None]) -> Callable[[], None]:
    """Call `watch(client)` on each botocore client built from now on; returns `restore`,
    after which new clients are not watched (those built before still are)."""
    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(session, *args, **kwargs)
        watch(client)
        return client

    botocore.session.Session.create_client = create_client

    def restore() -> None:
        botocore.session.Session.create_client = original

    return restore
