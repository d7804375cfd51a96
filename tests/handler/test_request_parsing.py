"""Unit: the embeddings request body is validated with OpenAI's rules and messages."""

from __future__ import annotations

import orjson
import pytest

from handler.embedding_request import check_content_type, parse_embedding_request
from handler.errors import APIError

pytestmark = pytest.mark.unit
MODEL = "all-MiniLM-L6-v2"


def parse(**body: object) -> object:
    return parse_embedding_request(orjson.dumps(body), max_inputs=2048)


def error_of(**body: object) -> APIError:
    with pytest.raises(APIError) as caught:
        parse(**body)
    return caught.value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("hello", ["hello"]),
        (["a", "b"], ["a", "b"]),
        ([1, 2, 3], [[1, 2, 3]]),
        ([[1, 2], [3]], [[1, 2], [3]]),
    ],
)
def test_the_four_input_shapes(raw: object, expected: object) -> None:
    request = parse(input=raw, model=MODEL)
    assert request.inputs == expected  # type: ignore[attr-defined]


def test_defaults_are_float_and_no_dimensions() -> None:
    request = parse(input="x", model=MODEL)
    assert (request.encoding_format, request.dimensions, request.user) == ("float", None, None)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "raw",
    [
        "",
        [],
        [""],
        ["a", ""],
        [[]],
        [[1], []],
        [True],
        [[1, True]],
        [-1],
        [1.5],
        [{"a": 1}],
        ["a", 1],
        [[1], "a"],
        5,
        {"text": "x"},
    ],
)
def test_bad_inputs_are_400_on_param_input(raw: object) -> None:
    error = error_of(input=raw, model=MODEL)
    assert (error.status, error.type, error.param) == (400, "invalid_request_error", "input")
    assert "is invalid" in error.message


def test_too_many_inputs() -> None:
    with pytest.raises(APIError) as caught:
        parse_embedding_request(orjson.dumps({"input": ["a"] * 3, "model": MODEL}), max_inputs=2)
    assert caught.value.status == 400
    assert caught.value.param == "input"
    assert "at most 2 inputs" in caught.value.message


def test_2048_inputs_are_allowed() -> None:
    request = parse(input=["a"] * 2048, model=MODEL)
    assert len(request.inputs) == 2048  # type: ignore[attr-defined]


@pytest.mark.parametrize("missing", ["input", "model"])
def test_missing_required_parameter(missing: str) -> None:
    body = {"input": "x", "model": MODEL}
    del body[missing]
    error = error_of(**body)
    assert error.envelope() == {
        "error": {
            "message": f"Missing required parameter: '{missing}'.",
            "type": "invalid_request_error",
            "param": missing,
            "code": "missing_required_parameter",
        }
    }


def test_bad_encoding_format() -> None:
    error = error_of(input="x", model=MODEL, encoding_format="int4")
    assert error.param == "encoding_format"
    assert error.message == (
        "'int4' is not one of ['float', 'base64', 'int8', 'uint8', 'binary', 'ubinary'] - "
        "'encoding_format'"
    )
    for value in (5, ["int8"], {"int8": 1}):  # not a string: the same 400, never a 500
        assert error_of(input="x", model=MODEL, encoding_format=value).param == "encoding_format"


@pytest.mark.parametrize("name", ["float", "base64", "int8", "uint8", "binary", "ubinary"])
def test_every_encoding_in_the_table_is_accepted(name: str) -> None:
    assert parse(input="x", model=MODEL, encoding_format=name).encoding_format == name  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "value"),
    [("dimensions", "12"), ("dimensions", 1.5), ("dimensions", True), ("user", 5), ("model", 3)],
)
def test_wrongly_typed_optional_fields(name: str, value: object) -> None:
    body: dict[str, object] = {"input": "x", "model": MODEL, name: value}
    assert error_of(**body).param == name


def test_malformed_json_and_non_object_bodies() -> None:
    for raw in (b"{not json", b"", b"[1, 2]", b'"text"'):
        with pytest.raises(APIError) as caught:
            parse_embedding_request(raw, max_inputs=2048)
        assert caught.value.status == 400


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON", ""]
)
def test_json_content_types_pass(content_type: str) -> None:
    check_content_type(content_type)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_other_content_types_are_415(content_type: str) -> None:
    with pytest.raises(APIError) as caught:
        check_content_type(content_type)
    assert caught.value.status == 415


@pytest.mark.parametrize(("name", "limit"), [("user", 256), ("model", 256)])
def test_client_strings_that_reach_records_are_bounded(name: str, limit: int) -> None:
    body: dict[str, object] = {"input": "x", "model": MODEL, name: "u" * limit}
    if name == "user":
        assert parse(**body).user == "u" * limit  # type: ignore[attr-defined]
    body[name] = "u" * (limit + 1)
    error = error_of(**body)
    assert (error.status, error.param) == (400, name)
    assert error.message == f"'{name}' must be at most {limit} characters long."


def test_null_input_and_empty_encoding_format_follow_openai() -> None:
    assert error_of(input=None, model=MODEL).code == "missing_required_parameter"
    assert parse(input="x", model=MODEL, encoding_format=None).encoding_format == "float"  # type: ignore[attr-defined]
    assert parse(input="x", model=MODEL, encoding_format="").encoding_format == "float"  # type: ignore[attr-defined]


def test_unknown_fields_are_ignored_as_openai_does() -> None:
    assert parse(input="x", model=MODEL, extra={"a": 1}).inputs == ["x"]  # type: ignore[attr-defined]
