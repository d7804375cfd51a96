"""Daily usage of one key, read from the day aggregates (summed over a day's shards), in the
GET /v1/usage shape."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from handler.errors import invalid
from handler.usage.store import PK, SK, Client, day_of, day_range, key_partition

MAX_DAYS = 366
QUERY_PARAMETERS = ("start_date", "end_date")  # all that GET /v1/usage takes
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)  # a sane range: no date overflow
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # fromisoformat also takes 20261130...
_SHOWN_CHARS = 40  # of a client's value echoed in an error
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


def _shown(raw: str) -> str:
    return repr(raw[:_SHOWN_CHARS] + ("..." if len(raw) > _SHOWN_CHARS else ""))


def _day(raw: str, name: str) -> date:
    if not _ISO_DAY.fullmatch(raw):
        raise invalid(f"'{name}' must be a date as YYYY-MM-DD; got {_shown(raw)}.", name)
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise invalid(f"'{name}' is not a calendar date: {_shown(raw)}.", name) from None
    if not EARLIEST <= day <= LATEST:
        raise invalid(f"'{name}' must be between {EARLIEST} and {LATEST}; got {raw}.", name)
    return day


def usage_window(query: Iterable[tuple[str, str]], today: date) -> tuple[date, date]:
    """(start, end) from GET /v1/usage's query parameters; a 400 naming the parameter for an
    unknown or repeated one, a malformed or out-of-range date, a reversed or too long range."""
    given: dict[str, str] = {}
    for name, value in query:
        if name not in QUERY_PARAMETERS:
            raise invalid(
                f"Unrecognized query parameter {_shown(name)}: use start_date and end_date.",
                name[:_SHOWN_CHARS],
            )
        if name in given:
            raise invalid(f"'{name}' is given more than once.", name)
        given[name] = value
    start = _day(given["start_date"], "start_date") if given.get("start_date") else None
    end = _day(given["end_date"], "end_date") if given.get("end_date") else today
    start = start or default_start(end)
    if start > end:
        raise invalid("'start_date' must not be after 'end_date'.", "start_date")
    if (end - start).days >= MAX_DAYS:
        raise invalid(f"Ask for at most {MAX_DAYS} days at a time.", "start_date")
    return start, end


class UsageReader:
    def __init__(self, client: Client, table: str) -> None:
        self.client = client
        self.table = table

    def daily(self, key_id: str, start: date, end: date) -> list[DayUsage]:
        """One bucket per day from start to end inclusive, zeros where nothing was used."""
        found: dict[str, dict[str, int]] = {}
        low, high = day_range(start.isoformat(), end.isoformat())
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :lo AND :hi",
            "ExpressionAttributeNames": {"#pk": PK, "#sk": SK},
            "ExpressionAttributeValues": {
                ":pk": {"S": key_partition(key_id)},
                ":lo": {"S": low},
                ":hi": {"S": high},
            },
        }
        while True:
            page = self.client.query(**kwargs)
            for item in page.get("Items", []):
                day = day_of(item[SK]["S"])
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
