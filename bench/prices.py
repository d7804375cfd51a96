"""Every list price the bench uses, in one table with its date and source.

us-east-1, on-demand, the first pricing tier (no free tier, no Savings Plans). This machine
has no internet, so nothing is re-read at run time: the figures are the ones the project
records as of PRICE_DATE; check them against the source pages before quoting a dollar figure.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICE_DATE = "2026-12-05"
PRICE_REGION = "us-east-1"


@dataclass(frozen=True)
class Price:
    usd: float  # per `per` units
    per: float
    unit: str
    source: str

    @property
    def each(self) -> float:
        """USD for one unit."""
        return self.usd / self.per


_LAMBDA = "https://aws.amazon.com/lambda/pricing/"
_DDB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
_DDB_PROVISIONED = "https://aws.amazon.com/dynamodb/pricing/provisioned/"
# Lambda bills the init phase of on-demand functions on managed runtimes (since 2025-08-01)
# at the same GB-second rate as the handler; SnapStart's cache and restore are priced apart.
_INIT = "https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/"
_APIGW = "https://aws.amazon.com/api-gateway/pricing/"
_CW = "https://aws.amazon.com/cloudwatch/pricing/"
_OPENAI = "https://openai.com/api/pricing/"
_KINESIS = "https://aws.amazon.com/kinesis/data-streams/pricing/"

PRICES: dict[str, Price] = {
    "lambda_arm64_gb_second": Price(0.0000133334, 1, "GB-second, arm64", _LAMBDA),
    "lambda_x86_gb_second": Price(0.0000166667, 1, "GB-second, x86_64", _LAMBDA),
    "lambda_request": Price(0.20, 1e6, "invocation", _LAMBDA),
    "lambda_init_arm64_gb_second": Price(0.0000133334, 1, "GB-second of init, arm64", _INIT),
    "snapstart_cache_gb_second": Price(0.0000015046, 1, "GB-second a SnapStart snapshot is "
                                       "cached (per published version)", _LAMBDA),
    "snapstart_restore_gb": Price(0.0001397998, 1, "GB restored from a SnapStart snapshot",
                                  _LAMBDA),
    "dynamodb_write_unit": Price(0.625, 1e6, "on-demand write request unit", _DDB),
    "dynamodb_read_unit": Price(0.125, 1e6, "on-demand read request unit", _DDB),
    "dynamodb_wcu_hour": Price(0.00065, 1, "provisioned write capacity unit-hour",
                               _DDB_PROVISIONED),
    "dynamodb_rcu_hour": Price(0.00013, 1, "provisioned read capacity unit-hour",
                               _DDB_PROVISIONED),
    "sqs_request": Price(0.40, 1e6, "standard queue request (64 KB chunk)",
                         "https://aws.amazon.com/sqs/pricing/"),
    "s3_put": Price(0.005, 1e3, "PUT, COPY, POST, LIST request (S3 Standard)",
                    "https://aws.amazon.com/s3/pricing/"),
    "s3_get": Price(0.0004, 1e3, "GET and all other requests (S3 Standard)",
                    "https://aws.amazon.com/s3/pricing/"),
    "http_api_request": Price(1.00, 1e6, "HTTP API request (metered per 512 KB)", _APIGW),
    "rest_api_request": Price(3.50, 1e6, "REST API request", _APIGW),
    "function_url_request": Price(0.0, 1e6, "Lambda Function URL request (no charge)", _LAMBDA),
    "logs_ingest_gb": Price(0.50, 1, "GB of CloudWatch Logs ingested (standard)", _CW),
    "xray_trace": Price(5.00, 1e6, "X-Ray trace recorded", "https://aws.amazon.com/xray/pricing/"),
    "transfer_out_gb": Price(0.09, 1, "GB transferred out to the internet",
                             "https://aws.amazon.com/ec2/pricing/on-demand/"),
    # The ledger designs that amortise below one write unit (bench/bill_floor.py), provisioned
    # mode: a shard takes 1,000 records/s.
    "kinesis_shard_hour": Price(0.015, 1, "Kinesis Data Streams shard-hour (provisioned)",
                                _KINESIS),
    "kinesis_put_unit": Price(0.014, 1e6, "Kinesis PUT payload unit (25 KB, provisioned)",
                              _KINESIS),
    "openai_3_small_token": Price(0.02, 1e6, "text-embedding-3-small token", _OPENAI),
    "openai_3_small_batch_token": Price(0.01, 1e6, "text-embedding-3-small Batch API token",
                                        _OPENAI),
}  # fmt: skip


def table() -> list[dict[str, object]]:
    """The table as rows, for the results JSON and the report."""
    return [
        {"name": name, "usd": p.usd, "per": p.per, "unit": p.unit, "source": p.source}
        for name, p in PRICES.items()
    ]
