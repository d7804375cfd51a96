"""UploadStore.assemble when a part's object is gone (issue 17, item 11). On AWS a role without
s3:ListBucket gets AccessDenied, not NoSuchKey, for a missing object, and moto enforces no
IAM, so S3's answer is injected here: the race with a cancellation is a PartRefused (the
route's 400), a real permission error while the upload is pending stays an error."""

from __future__ import annotations

import io
from typing import Any

import pytest
from botocore.exceptions import ClientError

from handler.batch.uploads import PartRefused, UploadStore
from tests.batch.batch_support import Stack

pytestmark = pytest.mark.integration


class DeniedGets:
    """The real S3 client, but every GetObject answers AccessDenied, as S3 answers a role
    without s3:ListBucket for a key that does not exist."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def get_object(self, **kwargs: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject"
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.s3, name)


def denied_store(stack: Stack) -> UploadStore:
    store = stack.service.uploads
    denied = UploadStore(store.files, store.max_parts, store.lifetime)
    denied.s3 = DeniedGets(store.s3)
    return denied


def test_access_denied_after_a_cancel_is_the_race_not_a_500(stack: Stack) -> None:
    store = stack.service.uploads
    upload = store.create("owner-a", 3, "x.jsonl", "batch", "application/jsonl")
    part = store.add_part(upload, io.BytesIO(b"{}\n"), 3)
    assert store.cancel(upload)
    with pytest.raises(PartRefused):
        denied_store(stack).assemble(upload, [part])


def test_access_denied_while_pending_is_a_real_error(stack: Stack) -> None:
    store = stack.service.uploads
    upload = store.create("owner-b", 3, "x.jsonl", "batch", "application/jsonl")
    part = store.add_part(upload, io.BytesIO(b"{}\n"), 3)
    with pytest.raises(ClientError):
        denied_store(stack).assemble(upload, [part])
