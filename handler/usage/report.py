"""Daily usage of one key, read from the day aggregates (summed over a day's shards), in the
GET /v1/usage shape."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from handler.usage.store import PK, SK, Client

MAX_DAYS = 366
DEFAULT_DAYS = 30  # the window GET /v1/usage and `cli usage` show when no start is given
COUNTERS = ("requests", "inputs", "prompt_tokens", "total_tokens")


@dataclass(frozen=True)
class DayUsage:
    date: str
    requests: int = 0
    inputs: int = 0
    prompt_tokens: int = 0
    total_tokens: int = 0


def default_start(end: date) -> date:
    return end - timedelta(days=DEFAULT_DAYS - 1)


class UsageReader:
    def __init__(self, client: Client, table: str) -> None:
        self.client = client
        self.table = table

    def daily(self, key_id: str, start: date, end: date) -> list[DayUsage]:
        """One bucket per day from start to end inclusive, zeros where nothing was used."""
        found: dict[str, dict[str, int]] = {}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :lo AND :hi",
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
            "ExpressionAttributeValues": {
                ":pk": {"S": f"KEY#{key_id}"},
                ":lo": {"S": f"DAY#{start.isoformat()}"},
                ":hi": {"S": f"DAY#{end.isoformat()}#~"},  # "~" sorts after every shard
            },
        }
        while True:
            page = self.client.query(**kwargs)
            for item in page.get("Items", []):
                day = item[SK]["S"].removeprefix("DAY#")[:10]  # YYYY-MM-DD, any shard
                counts = found.setdefault(day, dict.fromkeys(COUNTERS, 0))
                for name in COUNTERS:
                    counts[name] += int(item.get(name, {"N": "0"})["N"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        days = (start + timedelta(days=n) for n in range((end - start).days + 1))
        return [DayUsage(date=d.isoformat(), **found.get(d.isoformat(), {})) for d in days]


def usage_body(key_id: str, start: date, end: date, days: list[DayUsage]) -> dict[str, Any]:
    """The documented GET /v1/usage response."""
    totals = {name: sum(getattr(d, name) for d in days) for name in COUNTERS}
    return {
        "object": "list",
        "key_id": key_id,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "data": [{"object": "usage.day", **asdict(d)} for d in days],
        "total": totals,
    }
