"""OpenAI's Batch API for /v1/embeddings: files in S3, batch and shard state in DynamoDB,
shards on an SQS queue, workers that embed a shard each.

    files.py     FileStore: uploaded and result files (S3 objects + DynamoDB items)
    table.py     the one DynamoDB table's layout and its creation
    batches.py   BatchStore: batch and shard items, their conditional transitions
    objects.py   OpenAI's File and Batch objects rendered from items
    planner.py   split an input file into shards by streaming its lines
    lines.py     one batch line -> one output or error line (validated like the sync route)
    worker.py    process a queue message: plan a batch, run a shard, finalize
    service.py   the wiring from Settings, and the local worker loop
    expiry.py    the sweep that expires batches past their window whose shards never ran
    lambda_worker.py   the worker function: SQS messages, and the schedule's expiry sweep
"""
