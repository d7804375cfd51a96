"""API keys, per-key quotas and exactly-once usage records, stored in DynamoDB.

`store` holds the table layout and the AWS contract (env vars, IAM actions); `keys`,
`quotas`, `recorder`, `fallback` and `replay` each do one job; `service` wires them from
Settings for the app; `cli` is the operator's command line.
"""
