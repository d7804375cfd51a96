"""Helpers shared by the handler tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handler.hooks import UsageRecord

EVENTS = Path(__file__).resolve().parents[2] / "events"
ALIAS = "text-embedding-3-small"  # every test app serves the model under this alias too


@dataclass
class ListRecorder:
    records: list[UsageRecord] = field(default_factory=list)

    def record(self, usage: UsageRecord) -> None:
        self.records.append(usage)


@dataclass(frozen=True)
class LiveServer:
    base_url: str  # ends in /v1, as OpenAI clients expect
    recorder: ListRecorder


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of events/<name>."""
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event
