"""The Uploads API with the real openai client over HTTP: a file over one request body sent in
parts, completed into a File that batches accept; OpenAI's errors for the ways it goes wrong."""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest

from tests.batch.batch_support import MODEL, Stack, corpus_free_rows, jsonl, request_line, wait_for

pytestmark = pytest.mark.integration

PART = 4 * 1024 * 1024  # fits Lambda's 6 MB payload after API Gateway's base64


def big_jsonl(min_bytes: int) -> bytes:
    rows, size, i = [], 0, 0
    while size < min_bytes:
        row = jsonl([request_line(f"r{i}", {"model": MODEL, "input": f"text {i} " + "x" * 300})])
        rows.append(row)
        size += len(row)
        i += 1
    return b"".join(rows)


def part_objects(stack: Stack) -> list[str]:
    listed = stack.service.files.s3.list_objects_v2(
        Bucket=stack.settings.batch_bucket, Prefix="uploads/"
    )
    return [o["Key"] for o in listed.get("Contents", [])]


def test_upload_file_chunked_over_6_mb_in_parts(stack: Stack) -> None:
    client = stack.client()
    # GIVEN a file over Lambda's 6 MB body limit and 4 MiB parts: 3 parts, the last short
    data = big_jsonl(9 * 1024 * 1024)
    assert len(data) > 2 * PART and len(data) > stack.settings.max_body_bytes

    upload = client.uploads.upload_file_chunked(
        file=data,
        filename="corpus.jsonl",
        bytes=len(data),
        mime_type="application/jsonl",
        purpose="batch",
        part_size=PART,
        md5=hashlib.md5(data).hexdigest(),
    )

    assert upload.status == "completed" and upload.object == "upload"
    assert upload.id.startswith("upload_") and upload.expires_at > upload.created_at
    assert (upload.bytes, upload.filename, upload.purpose) == (len(data), "corpus.jsonl", "batch")
    assert upload.file is not None and upload.file.bytes == len(data)
    assert client.files.retrieve(upload.file.id) == upload.file
    assert client.files.content(upload.file.id).content == data
    assert part_objects(stack) == []  # the parts' objects went with the completion


def test_parts_in_a_chosen_order_become_a_file_a_batch_runs(stack: Stack) -> None:
    client = stack.client()
    rows = corpus_free_rows(30)
    data = jsonl(rows)
    thirds = [data[: len(data) // 3], data[len(data) // 3 : 2 * len(data) // 3]]
    thirds.append(data[2 * len(data) // 3 :])
    upload = client.uploads.create(
        bytes=len(data), filename="b.jsonl", mime_type="application/jsonl", purpose="batch"
    )
    assert upload.status == "pending" and upload.file is None
    # parts may arrive in any order; completion names the order
    parts = {i: client.uploads.parts.create(upload_id=upload.id, data=thirds[i]) for i in (2, 0, 1)}
    assert all(p.object == "upload.part" and p.upload_id == upload.id for p in parts.values())

    done = client.uploads.complete(upload_id=upload.id, part_ids=[parts[i].id for i in range(3)])
    assert done.file is not None
    assert client.files.content(done.file.id).content == data

    # a retried completion (a lost response) gets the same answer
    again = client.uploads.complete(upload_id=upload.id, part_ids=[parts[i].id for i in range(3)])
    assert again == done

    batch = client.batches.create(
        input_file_id=done.file.id, endpoint="/v1/embeddings", completion_window="24h"
    )
    stack.start_workers(1)
    batch = wait_for(client, batch.id, ("completed", "failed"))
    assert batch.status == "completed" and batch.request_counts.completed == len(rows)


def raw(stack: Stack, method: str, path: str, name: str = "alice", **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {stack.secrets[name]}", **kw.pop("headers", {})}
    return httpx.request(method, f"{stack.base_url}{path}", headers=headers, timeout=30, **kw)


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert set(body) == {"message", "type", "param", "code"}
    return body


def new_upload(stack: Stack, size: int, name: str = "alice") -> str:
    response = raw(
        stack,
        "POST",
        "/uploads",
        name,
        json={"bytes": size, "filename": "a.jsonl", "purpose": "batch", "mime_type": "text/jsonl"},
    )
    assert response.status_code == 200, response.text
    upload_id: str = response.json()["id"]
    return upload_id


def add(stack: Stack, upload_id: str, data: bytes, name: str = "alice") -> httpx.Response:
    return raw(stack, "POST", f"/uploads/{upload_id}/parts", name, files={"data": ("p", data)})


def complete(stack: Stack, upload_id: str, body: dict[str, Any], name: str = "alice") -> Any:
    return raw(stack, "POST", f"/uploads/{upload_id}/complete", name, json=body)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"filename": "a", "purpose": "batch", "mime_type": "t"}, "bytes"),
        ({"bytes": 0, "filename": "a", "purpose": "batch", "mime_type": "t"}, "bytes"),
        ({"bytes": True, "filename": "a", "purpose": "batch", "mime_type": "t"}, "bytes"),
        (
            {"bytes": 200 * 1024 * 1024 + 1, "filename": "a", "purpose": "batch", "mime_type": "t"},
            "bytes",
        ),  # noqa: E501
        ({"bytes": 9, "filename": "a" * 257, "purpose": "batch", "mime_type": "t"}, "filename"),
        ({"bytes": 9, "filename": "a", "purpose": "fine-tune", "mime_type": "t"}, "purpose"),
        ({"bytes": 9, "filename": "a", "purpose": "batch"}, "mime_type"),
        (
            {
                "bytes": 9,
                "filename": "a",
                "purpose": "batch",
                "mime_type": "t",
                "expires_after": {"anchor": "x", "seconds": 1},
            },
            "expires_after",
        ),  # noqa: E501
    ],
)
def test_create_refuses_bad_fields(stack: Stack, body: dict[str, Any], param: str) -> None:
    assert error(raw(stack, "POST", "/uploads", json=body), 400)["param"] == param


def test_bytes_received_must_match_bytes_declared(stack: Stack) -> None:
    upload_id = new_upload(stack, 10)
    # more than declared: refused at the part
    assert error(add(stack, upload_id, b"x" * 11), 400)["code"] == "upload_bytes_exceeded"
    first = add(stack, upload_id, b"x" * 6).json()["id"]
    assert error(add(stack, upload_id, b"x" * 5), 400)["code"] == "upload_bytes_exceeded"
    assert error(add(stack, upload_id, b""), 400)["param"] == "data"
    # fewer than declared: refused at completion
    short = complete(stack, upload_id, {"part_ids": [first]})
    assert error(short, 400)["code"] == "upload_bytes_mismatch"
    second = add(stack, upload_id, b"y" * 4).json()["id"]
    unknown = complete(stack, upload_id, {"part_ids": [first, "part_nope"]})
    assert error(unknown, 400)["param"] == "part_ids"
    twice = complete(stack, upload_id, {"part_ids": [first, first]})
    assert error(twice, 400)["param"] == "part_ids"
    wrong_md5 = complete(stack, upload_id, {"part_ids": [first, second], "md5": "0" * 32})
    assert error(wrong_md5, 400)["code"] == "upload_md5_mismatch"
    # nothing of the refused completions is left behind, and the upload is still pending
    assert stack.client().files.list().data == []
    good = complete(stack, upload_id, {"part_ids": [first, second]})
    assert good.status_code == 200 and good.json()["status"] == "completed"
    assert stack.client().files.content(good.json()["file"]["id"]).content == b"x" * 6 + b"y" * 4
    # a completed upload takes no more parts, and no other completion
    assert error(add(stack, upload_id, b"z"), 400)["code"] == "upload_completed"
    other = complete(stack, upload_id, {"part_ids": [second, first]})
    assert error(other, 400)["code"] == "upload_completed"


def test_cancel_discards_the_parts(stack: Stack) -> None:
    client = stack.client()
    upload = client.uploads.create(bytes=4, filename="a", mime_type="t", purpose="batch")
    part = client.uploads.parts.create(upload_id=upload.id, data=b"abcd")
    assert len(part_objects(stack)) == 1

    cancelled = client.uploads.cancel(upload.id)

    assert cancelled.status == "cancelled" and cancelled.file is None
    assert part_objects(stack) == []
    assert client.uploads.cancel(upload.id).status == "cancelled"  # twice is not an error
    with pytest.raises(openai.BadRequestError) as caught:
        client.uploads.complete(upload_id=upload.id, part_ids=[part.id])
    assert caught.value.code == "upload_cancelled"
    assert error(add(stack, upload.id, b"a"), 400)["code"] == "upload_cancelled"


def test_another_key_gets_404_everywhere(stack: Stack) -> None:
    upload_id = new_upload(stack, 3)
    part_id = add(stack, upload_id, b"abc").json()["id"]
    theirs = stack.client("bob")
    with pytest.raises(openai.NotFoundError):
        theirs.uploads.parts.create(upload_id=upload_id, data=b"abc")
    with pytest.raises(openai.NotFoundError):
        theirs.uploads.complete(upload_id=upload_id, part_ids=[part_id])
    with pytest.raises(openai.NotFoundError) as caught:
        theirs.uploads.cancel(upload_id)
    assert caught.value.body["message"] == f"No such Upload object: {upload_id}"  # type: ignore[index]
    assert error(raw(stack, "POST", f"/uploads/{'u' * 500}/cancel"), 404)["param"] == "upload_id"
    assert httpx.post(f"{stack.base_url}/uploads/{upload_id}/cancel").status_code == 401
    # still alice's, untouched
    assert complete(stack, upload_id, {"part_ids": [part_id]}).json()["status"] == "completed"


def test_limits_on_parts_and_lifetime(stack: Stack) -> None:
    store = stack.service.uploads
    store.max_parts = 2  # BATCH_UPLOAD_MAX_PARTS
    upload_id = new_upload(stack, 10)
    ids = [add(stack, upload_id, b"ab").json()["id"] for _ in range(2)]
    assert error(add(stack, upload_id, b"ab"), 400)["code"] == "upload_too_many_parts"
    many = complete(stack, upload_id, {"part_ids": [*ids, "a", "b"]})
    assert error(many, 400)["param"] == "part_ids"
    bad_json = raw(stack, "POST", f"/uploads/{upload_id}/complete", content=b"{")
    assert error(bad_json, 400)["message"].startswith("We could not parse the JSON body")
    as_json = raw(stack, "POST", f"/uploads/{upload_id}/parts", json={"data": "x"})
    assert error(as_json, 400)["param"] == "data"

    # BATCH_UPLOAD_SECONDS: long enough for a part on a busy machine (whole seconds, so the
    # upload lives between 4 and 5 s), then wait it out
    store.lifetime = 5
    created = raw(
        stack,
        "POST",
        "/uploads",
        json={"bytes": 2, "filename": "a", "purpose": "batch", "mime_type": "t"},
    ).json()
    upload_id = created["id"]
    part_id = add(stack, upload_id, b"ab").json()["id"]
    time.sleep(max(0.0, created["expires_at"] - time.time()) + 0.2)
    assert error(add(stack, upload_id, b"a"), 400)["code"] == "upload_expired"
    late = complete(stack, upload_id, {"part_ids": [part_id]})
    assert error(late, 400)["code"] == "upload_expired"
    assert error(raw(stack, "POST", f"/uploads/{upload_id}/cancel"), 400)["code"] == (
        "upload_expired"
    )


def test_malformed_requests_are_4xx_in_the_envelope(stack: Stack) -> None:
    upload_id = new_upload(stack, 5)
    parts = f"/uploads/{upload_id}/parts"
    odd: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/uploads", {"content": b"[]"}),
        ("POST", "/uploads", {"content": b'{"bytes": 1e400}'}),
        ("POST", "/uploads", {"json": {"bytes": "5", "filename": 5, "purpose": None}}),
        ("POST", "/uploads", {"json": {"bytes": 10**30, "filename": "a", "purpose": "batch"}}),
        ("POST", parts, {"headers": {"content-type": "multipart/form-data"}, "content": b"x"}),
        (
            "POST",
            parts,
            {
                "headers": {"content-type": "multipart/form-data; boundary=b"},
                "content": b"--b\r\nx",
            },
        ),  # noqa: E501
        ("POST", parts, {"files": [("data", ("a", b"1")), ("data", ("b", b"2"))]}),
        ("POST", parts, {"data": {"data": "text, not a file"}}),
        ("POST", f"/uploads/{upload_id}/complete", {"json": {"part_ids": "part_x"}}),
        ("POST", f"/uploads/{upload_id}/complete", {"json": {"part_ids": []}}),
        ("POST", f"/uploads/{upload_id}/complete", {"json": {"part_ids": ["p"], "md5": "xyz"}}),
        ("POST", "/uploads/ü/complete", {"json": {"part_ids": ["p"]}}),
        ("GET", f"/uploads/{upload_id}/parts", {}),
    ]
    for method, path, kw in odd:
        response = raw(stack, method, path, **kw)
        assert 400 <= response.status_code < 500, (path, kw, response.text)
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    # and the upload is as it was
    assert (
        complete(
            stack, upload_id, {"part_ids": [add(stack, upload_id, b"12345").json()["id"]]}
        ).status_code
        == 200
    )  # noqa: E501


def test_concurrent_completions_make_one_file(stack: Stack) -> None:
    # GIVEN three parts and two completions racing with different orders
    chunks = [bytes([65 + i]) * 1_500_000 for i in range(3)]
    upload_id = new_upload(stack, sum(map(len, chunks)))
    ids = [add(stack, upload_id, chunk).json()["id"] for chunk in chunks]
    orders = [ids, ids[::-1]]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda o: complete(stack, upload_id, {"part_ids": o}), orders))

    # THEN one wins, the other is told the upload is completed, and one file exists
    assert sorted(a.status_code for a in answers) == [200, 400], [a.text for a in answers]
    won = next(i for i, a in enumerate(answers) if a.status_code == 200)
    assert error(answers[1 - won], 400)["code"] == "upload_completed"
    files = stack.client().files.list().data
    assert [f.id for f in files] == [answers[won].json()["file"]["id"]]
    expected = b"".join(chunks) if won == 0 else b"".join(chunks[::-1])
    assert stack.client().files.content(files[0].id).content == expected
