"""OpenAI's Batch API for /v1/embeddings: files in S3, batch and shard state in DynamoDB,
shards on an SQS queue, workers that embed a shard each.

    files.py     FileStore: uploaded and result files (S3 objects + DynamoDB items)
    table.py     the one DynamoDB table's layout and its creation
    batches.py   BatchStore: batch items, their conditional transitions
    shards.py    shard items: byte ranges, checkpoints, the transaction that counts a shard
    objects.py   OpenAI's File and Batch objects rendered from items
    jsonl.py     stream a JSONL file's request lines (numbers, byte ranges, capped lines)
    planner.py   split an input file into shards (lines and bytes) by streaming its lines
    lines.py     one batch line -> one output or error line (validated like the sync route)
    parts.py     a shard's parts in S3: output, errors, and a manifest with their usage
    part_run.py  one run of a shard: its next lines answered as a part, bounded in time
    leases.py    per-key fairness: at most SHARDS_PER_KEY shards of one key at once
    assembly.py  resumable finalization: result files concatenated in bounded steps
    worker.py    process a queue message: plan a batch, run a shard, finalize; give up
    service.py   the wiring from Settings, and the local worker loop
    expiry.py    the sweep that expires batches past their window whose shards never ran
    lambda_worker.py   the worker function: SQS messages, and the schedule's expiry sweep
"""
