"""The Files API with the real openai client over HTTP: upload, list, retrieve, content,
delete; a file is its owner's alone."""

from __future__ import annotations

import io

import openai
import pytest

from tests.batch.batch_support import Stack, jsonl, request_line

pytestmark = pytest.mark.integration


def test_upload_list_retrieve_content_delete(stack: Stack) -> None:
    client = stack.client()
    # GIVEN a JSONL file over the 1 MB that python-multipart keeps in memory before spooling
    rows = [request_line(f"r{i}", {"model": "m", "input": "x" * 200}) for i in range(12_000)]
    data = jsonl(rows)
    assert 2 * 1024 * 1024 < len(data) < 6 * 1024 * 1024

    created = client.files.create(file=("docs.jsonl", io.BytesIO(data)), purpose="batch")

    assert created.id.startswith("file-") and created.object == "file"
    assert (created.bytes, created.filename, created.purpose) == (len(data), "docs.jsonl", "batch")
    assert client.files.retrieve(created.id) == created
    assert client.files.content(created.id).content == data
    listed = client.files.list()
    assert [f.id for f in listed.data] == [created.id]
    deleted = client.files.delete(created.id)
    assert (deleted.id, deleted.deleted) == (created.id, True)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)
    assert client.files.list().data == []


def test_a_file_past_its_retention_is_gone_before_s3_deletes_it(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = stack.client()
    created = client.files.create(file=("a.jsonl", io.BytesIO(b"{}\n")), purpose="batch")
    days = stack.settings.batch_file_retention_days
    assert created.expires_at == created.created_at + days * 86400  # as OpenAI's File says

    files = stack.service.files
    monkeypatch.setattr(files, "clock", lambda: created.expires_at + 1)  # the object remains
    for fetch in (client.files.retrieve, client.files.content):
        with pytest.raises(openai.NotFoundError):
            fetch(created.id)
    assert client.files.list().data == []


def test_list_pages_newest_first(stack: Stack) -> None:
    client = stack.client()
    ids = [
        client.files.create(file=(f"f{i}.jsonl", io.BytesIO(b"{}\n")), purpose="batch").id
        for i in range(3)
    ]
    first = client.files.list(limit=2, order="asc")
    assert [f.id for f in first.data] == ids[:2] and first.has_more
    second = client.files.list(limit=2, order="asc", after=ids[1])
    assert [f.id for f in second.data] == ids[2:] and not second.has_more
    # the SDK's auto-pagination walks every page
    assert sorted(f.id for f in client.files.list(limit=1)) == sorted(ids)


def test_another_key_gets_404_for_every_route(stack: Stack) -> None:
    mine = stack.client("alice").files.create(
        file=("a.jsonl", io.BytesIO(b"{}\n")), purpose="batch"
    )
    theirs = stack.client("bob")
    for call in (theirs.files.retrieve, theirs.files.content, theirs.files.delete):
        with pytest.raises(openai.NotFoundError) as caught:
            call(mine.id)
        assert caught.value.body["message"] == f"No such File object: {mine.id}"  # type: ignore[index]
    assert theirs.files.list().data == []
    assert stack.client("alice").files.retrieve(mine.id).id == mine.id  # still there


@pytest.mark.parametrize(
    ("purpose", "param"),
    [("fine-tune", "purpose"), ("", "purpose")],
)
def test_bad_purpose_is_a_400(stack: Stack, purpose: str, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        stack.client().files.create(file=("a.jsonl", io.BytesIO(b"{}\n")), purpose=purpose)  # type: ignore[arg-type]
    assert caught.value.body["param"] == param  # type: ignore[index]


def test_missing_file_and_wrong_content_type_are_400s(stack: Stack) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {stack.secrets['alice']}"}
    no_file = httpx.post(
        f"{stack.base_url}/files", files={"purpose": (None, "batch")}, headers=headers
    )
    assert no_file.status_code == 400
    assert no_file.json()["error"]["code"] == "missing_required_parameter"
    as_json = httpx.post(f"{stack.base_url}/files", json={"purpose": "batch"}, headers=headers)
    assert as_json.status_code == 400 and as_json.json()["error"]["param"] == "file"
    no_key = httpx.get(f"{stack.base_url}/files")
    assert no_key.status_code == 401
