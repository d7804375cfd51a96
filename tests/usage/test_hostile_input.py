"""Bad or hostile input gets a 400 naming the parameter, never a 5xx: every GET /v1/usage
query parameter, and generated requests to both metered routes (hypothesis)."""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from handler.usage.keys import KeyStore, Limits
from handler.usage.service import UsageService
from tests.usage.usage_support import Tables

MODEL = "all-MiniLM-L6-v2"
MakeApp = Callable[..., tuple[FastAPI, UsageService]]
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the tree
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture
def keyed_client(make_app: MakeApp, moto_tables: Tables) -> Any:
    secret, _ = KeyStore(moto_tables.client, moto_tables.keys).create(
        "fuzz", Limits(rpm=100_000, tpm=100_000_000)
    )
    app, _ = make_app(moto_tables)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {secret}"
        yield client


def assert_envelope(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert len(error["message"]) < 2000 and "Traceback" not in error["message"]


@pytest.mark.functional
@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("start_date=0001-01-01&end_date=0001-01-05", "start_date"),  # was an OverflowError
        ("end_date=0001-01-05", "end_date"),
        ("start_date=2026-01-01&end_date=9999-12-31", "end_date"),
        ("start_date=1999-12-31&end_date=2000-01-02", "start_date"),
        ("start_date=2026-02-02&end_date=2026-02-01", "start_date"),  # reversed
        ("start_date=2024-01-01&end_date=2026-01-01", "start_date"),  # over 366 days
        ("start_date=2026-02-30", "start_date"),  # no such day
        ("start_date=20261130", "start_date"),  # fromisoformat's basic format
        ("start_date=2026-W48-1", "start_date"),  # and its week dates
        ("end_date=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-01-01", "end_date"),  # fullwidth digits
        ("start_date=yesterday", "start_date"),
        ("start_date=2026-11-01&start_date=2026-11-02", "start_date"),  # repeated
        ("from=2026-11-01", "from"),  # unknown
        ("start_date=" + "9" * 10_000, "start_date"),
    ],
)
def test_bad_usage_query_is_a_400_naming_the_parameter(
    keyed_client: TestClient, query: str, param: str
) -> None:
    response = keyed_client.get(f"/v1/usage?{query}")
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert len(error["message"]) < 200  # a 10,000-character value is not echoed whole


@pytest.mark.functional
def test_good_usage_queries_still_answer(keyed_client: TestClient) -> None:
    today = datetime.now(UTC).date().isoformat()
    for query in ("", "start_date=&end_date=", f"end_date={today}", f"start_date={today}"):
        response = keyed_client.get(f"/v1/usage?{query}")
        assert response.status_code == 200, response.text
        assert response.json()["end_date"] == today
    edge = keyed_client.get("/v1/usage?start_date=2100-12-31&end_date=2100-12-31")
    assert edge.status_code == 200 and len(edge.json()["data"]) == 1


_DATEISH = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.from_regex(r"[0-9]{1,5}-[0-9]{1,3}-[0-9]{1,3}", fullmatch=True),
    st.text(max_size=30),
)
_NAMES = st.one_of(st.sampled_from(["start_date", "end_date"]), st.text(max_size=12))


@pytest.mark.functional
def test_fuzzed_usage_queries_never_get_a_5xx(keyed_client: TestClient) -> None:
    @FUZZ
    @given(st.lists(st.tuples(_NAMES, _DATEISH), max_size=4))
    def check(params: list[tuple[str, str]]) -> None:
        response = keyed_client.get("/v1/usage", params=params)
        statuses.add(response.status_code)
        assert_envelope(response)
        if response.status_code == 400:
            assert response.json()["error"]["param"] is not None

    statuses: set[int] = set()
    check()
    assert statuses == {200, 400}


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_TEXT = st.text(alphabet=string.printable + "éß中😀\x00", max_size=40)
_BODIES = st.one_of(
    _JSON,
    st.fixed_dictionaries(
        {"input": st.one_of(_TEXT, st.lists(_TEXT, max_size=4), _JSON)},
        optional={
            "model": st.one_of(st.just(MODEL), st.just("text-embedding-3-small"), _JSON),
            "encoding_format": st.one_of(st.sampled_from(["float", "base64"]), _JSON),
            "dimensions": st.one_of(st.integers(-2, 400), _JSON),
            "user": st.one_of(st.text(max_size=300), _JSON),
        },
    ),
    st.fixed_dictionaries(
        {
            "model": st.just(MODEL),
            "input": st.one_of(
                st.lists(st.integers(-5, 40_000), max_size=8),
                st.lists(st.lists(st.integers(-5, 40_000), max_size=6), max_size=3),
            ),
        }
    ),
)


@pytest.mark.functional
def test_fuzzed_embeddings_requests_never_get_a_5xx(keyed_client: TestClient) -> None:
    statuses: set[int] = set()

    @FUZZ
    @given(_BODIES)
    def check(body: Any) -> None:
        raw = json.dumps(body)  # NaN and Infinity go out as such, as some clients send them
        headers = {"Content-Type": "application/json"}
        response = keyed_client.post("/v1/embeddings", content=raw, headers=headers)
        statuses.add(response.status_code)
        assert_envelope(response)

    @FUZZ
    @given(st.binary(max_size=200))
    def check_raw(raw: bytes) -> None:
        headers = {"Content-Type": "application/json"}
        assert_envelope(keyed_client.post("/v1/embeddings", content=raw, headers=headers))

    check()
    assert {200, 400} <= statuses  # the generator reaches the model and the validation alike
    check_raw()
