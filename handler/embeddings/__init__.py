"""The one embeddings pipeline, shared by POST /v1/embeddings and every batch line:
parse -> resolve the model -> check -> tokenize -> (charge) -> run -> encode -> usage record.

`models.py` resolves a request's `model` to what serves it; `pipeline.py` is the sequence.
Its steps live beside it on the floor below (handler/embedding_request.py parses,
handler/embedding_checks.py checks and tokenizes, handler/embedding_response.py encodes) and
the record type on the ground floor (handler/records.py). No web or AWS code here: the route
hands in values (a body, an Accept-Encoding, a Gate), never the Starlette Request.
"""
