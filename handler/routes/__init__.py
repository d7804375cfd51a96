"""One router per resource: embeddings, models, health, usage; and the Batch API's files,
batches and uploads, served under BATCH_PREFIXES where a bucket is configured."""

BATCH_PREFIXES = ("/v1/files", "/v1/batches", "/v1/uploads")
