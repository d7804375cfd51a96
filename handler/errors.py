"""The one API error type, OpenAI's error envelope, and the one table of status codes.

Every failure a client sees is an APIError carrying `{"error": {"message", "type", "param",
"code"}}`; handler/http_errors.py renders it. Domain errors (the embedder's input errors) are
translated in `to_api_error`, the framework's routing errors in http_errors.py; nothing else
in the package decides a status code. This module imports no web framework: the batch worker
builds its error lines from it without loading FastAPI.
"""

from __future__ import annotations

from typing import Any

from handler.embedder import EmptyInputError, InputError, InputTooLongError, TokenIdError

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"
API_REFERENCE = "https://platform.openai.com/docs/api-reference"


class APIError(Exception):
    """An error answered to the client in OpenAI's envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        tokens: int = 0,
    ) -> None:
        super().__init__(message)
        # Tokens the request was found to hold before it was refused (an input or request
        # over its token limit): they are metered against the key's TPM (refused_tokens).
        self.tokens = tokens
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def envelope(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def invalid(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def invalid_field(path: str, param: str | None = None) -> APIError:
    """OpenAI's wording for a field with the wrong type or value."""
    return invalid(f"'{path}' is invalid. Please check the API reference: {API_REFERENCE}.", param)


def missing_parameter(name: str) -> APIError:
    return invalid(f"Missing required parameter: '{name}'.", name, "missing_required_parameter")


def model_not_found(model: str) -> APIError:
    return APIError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


def malformed_json() -> APIError:
    return invalid(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
        "using your HTTP library correctly. The API expects a JSON payload, but what was sent "
        "was not valid JSON.)"
    )


def unsupported_media_type(content_type: str) -> APIError:
    return APIError(
        415,
        f"Unsupported Content-Type {content_type or '(none)'!r}: send the request body as JSON "
        "with 'Content-Type: application/json'.",
        code="unsupported_media_type",
    )


def body_too_large(size: int, limit: int, path: str = "") -> APIError:
    """The 413 for a body over MAX_BODY_BYTES, with the advice that fits the route."""
    if "/v1/uploads" in path:
        advice = (
            "Send the file in smaller parts: on this service a part of at most 4 MiB "
            "(openai-python: upload_file_chunked(..., part_size=4 * 1024 * 1024))."
        )
    elif "/v1/files" in path:
        advice = "Send a larger file through the Uploads API (/v1/uploads)."
    else:
        advice = "Send fewer or shorter inputs per request."
    return APIError(
        413,
        f"The request body ({size} bytes) exceeds the limit of {limit} bytes. {advice}",
        code="request_too_large",
    )


def response_too_large(size: int, limit: int, at_least: bool = False) -> APIError:
    """`at_least`: `size` is a lower bound, known before the model ran."""
    return APIError(
        413,
        f"The response would be {'at least ' if at_least else ''}{size} bytes, over the "
        f"{limit}-byte limit of an AWS Lambda "
        "response. Request encoding_format='base64' (the openai client's default), accept gzip, "
        "ask for fewer `dimensions`, or send smaller batches.",
        param="input",
        code="response_too_large",
    )


MAX_ECHOED_PATH = 256  # a client's path is echoed in routing errors, at most this long


def _echoed(path: str) -> str:
    return path if len(path) <= MAX_ECHOED_PATH else path[:MAX_ECHOED_PATH] + "..."


def route_not_found(method: str, path: str) -> APIError:
    return APIError(404, f"Invalid URL ({method[:16]} {_echoed(path)})", code="unknown_url")


def method_not_allowed(method: str, path: str, allow: str) -> APIError:
    return APIError(
        405,
        f"Method {method[:16]} is not allowed for {_echoed(path)}; allowed: {allow}.",
        code="method_not_allowed",
        headers={"allow": allow} if allow else None,
    )


def internal_error(request_id: str) -> APIError:
    return APIError(
        500,
        "The server had an error while processing your request. Sorry about that! "
        f"Quote request id {request_id} if you report it.",
        type=SERVER_ERROR,
    )


def context_length_exceeded(tokens: int, limit: int, at_least: bool = False) -> APIError:
    # OpenAI's own wording, so clients that parse it keep working; "at least" when only a
    # prefix of a huge input was counted.
    more = "at least " if at_least else ""
    return invalid(
        f"This model's maximum context length is {limit} tokens, however you requested "
        f"{more}{tokens} tokens ({more}{tokens} in your prompt; 0 for the completion). "
        "Please reduce your prompt; or completion length.",
        param="input",
        code="context_length_exceeded",
    )


def token_id_out_of_vocabulary(index: int, token_id: object, vocab_size: int) -> APIError:
    return invalid(
        f"Input {index} contains token id {token_id!r}, outside this model's vocabulary "
        f"[0, {vocab_size}). Token ids must come from the served model's own tokenizer; "
        "send text instead. LangChain sends OpenAI tiktoken ids by default: use "
        "OpenAIEmbeddings(..., check_embedding_ctx_length=False).",
        param="input",
        code="invalid_token_id",
    )


def missing_api_key() -> APIError:
    # OpenAI's wording, minus where to get a key: ours come from `python -m handler.usage.cli`.
    return APIError(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). Ask this service's "
        "operator for a key.",
    )


def invalid_api_key() -> APIError:
    """Unknown and revoked keys look the same, and no part of the key is echoed back."""
    return APIError(
        401,
        "Incorrect API key provided. Ask this service's operator for a valid key.",
        code="invalid_api_key",
    )


def rate_limited(kind: str, message: str, retry_after: str) -> APIError:
    """429 for a per-minute limit; `kind` ("requests" or "tokens") is OpenAI's error type."""
    return APIError(
        429, message, type=kind, code="rate_limit_exceeded", headers={"retry-after": retry_after}
    )


def quota_exhausted(message: str, retry_after: str) -> APIError:
    """429 for a spent monthly budget, as OpenAI answers an exhausted quota; retrying within
    the month cannot succeed, so tell the openai client not to."""
    return APIError(
        429,
        message,
        type="insufficient_quota",
        code="insufficient_quota",
        headers={"retry-after": retry_after, "x-should-retry": "false"},
    )


def refused_tokens(exc: Exception) -> int:
    """The tokens a request refused after tokenizing was found to hold (0 if not known)."""
    if isinstance(exc, InputTooLongError):
        return exc.tokens
    return exc.tokens if isinstance(exc, APIError) else 0


def too_many_tokens(tokens: int, limit: int, why: str = "") -> APIError:
    error = invalid(
        f"Requested {tokens} tokens, max {limit} tokens per request" + (f" {why}" if why else ""),
        "input",
        "max_tokens_per_request",
    )
    error.tokens = tokens
    return error


def to_api_error(exc: Exception) -> APIError | None:
    """The APIError for a known domain error, or None for an unexpected one (the framework's
    routing errors are translated by handler/http_errors.py, which calls this first)."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, InputTooLongError):
        return context_length_exceeded(exc.tokens, exc.limit, exc.at_least)
    if isinstance(exc, TokenIdError):
        return token_id_out_of_vocabulary(exc.index, exc.token_id, exc.vocab_size)
    if isinstance(exc, EmptyInputError):
        return invalid_field(f"$.input[{exc.index}]", "input")
    if isinstance(exc, InputError):
        return invalid(str(exc), param="input")
    return None


# The Batch API's errors (handler/routes/files.py, handler/routes/batches.py).


def file_not_found(file_id: str, param: str | None = None) -> APIError:
    """Also what another key's file looks like: its existence is not revealed."""
    return APIError(404, f"No such File object: {file_id}", param=param)


def batch_not_found(batch_id: str) -> APIError:
    return APIError(404, f"No batch found with id '{batch_id}'.", param="batch_id")


def batch_not_cancellable(batch_id: str, status: str) -> APIError:
    return APIError(
        409,
        f"Batch {batch_id} cannot be cancelled: its status is '{status}'.",
        code="batch_not_cancellable",
    )


def not_multipart(content_type: str) -> APIError:
    return invalid(
        f"Expected a multipart/form-data body with 'file' and 'purpose'; got Content-Type "
        f"{content_type or '(none)'!r}.",
        "file",
    )


# The Uploads API's errors (handler/routes/uploads.py).


def upload_not_found(upload_id: str) -> APIError:
    """Also what another key's upload looks like."""
    return APIError(404, f"No such Upload object: {upload_id}", param="upload_id")


def upload_not_pending(upload_id: str, status: str) -> APIError:
    """Parts and completion are for pending uploads only; `status` is the upload's."""
    return invalid(
        f"Upload {upload_id} is {status}: only a pending Upload accepts parts, completion or "
        "cancellation.",
        code=f"upload_{status}",
    )


def upload_too_large(size: int, limit: int) -> APIError:
    return invalid(
        f"'bytes' is {size}: an Upload holds at most {limit} bytes on this service.", "bytes"
    )


def upload_part_overflow(upload_id: str, declared: int) -> APIError:
    return invalid(
        f"This part would take Upload {upload_id} past the {declared} bytes declared when "
        "it was created.",
        "data",
        code="upload_bytes_exceeded",
    )


def upload_too_many_parts(upload_id: str, limit: int) -> APIError:
    return invalid(
        f"Upload {upload_id} already has {limit} parts, the most this service accepts: "
        "send larger parts.",
        "data",
        code="upload_too_many_parts",
    )


def upload_part_not_found(part_id: str) -> APIError:
    return invalid(f"No such Part in this Upload: {part_id[:64]!r}.", "part_ids")


def upload_size_mismatch(upload_id: str, declared: int, received: int) -> APIError:
    return invalid(
        f"The parts of Upload {upload_id} hold {received} bytes, but {declared} were declared "
        "when it was created: the bytes completed must match the bytes declared.",
        "part_ids",
        code="upload_bytes_mismatch",
    )


def upload_md5_mismatch(expected: str, actual: str) -> APIError:
    return invalid(
        f"The md5 of the uploaded bytes is {actual}, not {expected[:64]!r}.",
        "md5",
        code="upload_md5_mismatch",
    )


def storage_limit_exceeded(stored: int, adding: int, limit: int) -> APIError:
    return APIError(
        400,
        f"File storage limit reached: this key stores {stored} bytes (open uploads included), "
        f"{adding} more would pass its {limit}-byte limit. Delete files you no longer need.",
        param="file",
        code="storage_limit_exceeded",
    )


def too_many_open_uploads(limit: int) -> APIError:
    return APIError(
        429,
        f"This key has {limit} uploads open, its limit: complete or cancel one first.",
        code="upload_limit_exceeded",
    )


def too_many_batches_in_flight(limit: int) -> APIError:
    return APIError(
        429,
        f"This key has {limit} batches in progress, its limit: wait for one to end (or "
        "cancel one) first.",
        code="batch_limit_exceeded",
    )
