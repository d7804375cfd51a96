"""What a batch shard asks of its owner's key before it runs: is the key still active, and
which of a group of lines fit the key's monthly budget (handler/usage/budget.py).

The worker calls `owner_active` before a shard (a revoked key's batch is cancelled: its
remaining lines are not run, nor billed) and `admit` before each model pass (the lines over
the budget get OpenAI's `insufficient_quota` line error instead of vectors). Per-minute
limits do not apply to batch work (see budget.py). Failure policy: DynamoDB errors propagate,
so the shard's message is retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from handler.batch.lines import LineResult, PreparedLine, _refused
from handler.errors import quota_exhausted
from handler.records import ANONYMOUS
from handler.usage.budget import LineBudget
from handler.usage.keys import ApiKey, KeyStore, Limits, effective_limits

if TYPE_CHECKING:
    from handler.usage.service import UsageService


class LineAdmission(Protocol):
    def owner_active(self, batch: dict[str, Any]) -> bool: ...

    def admit(
        self, batch: dict[str, Any], lines: Sequence[PreparedLine]
    ) -> dict[int, LineResult]: ...

    def refund_undelivered(
        self, batch: dict[str, Any], first_line: int, end_line: int | None
    ) -> None: ...


class OpenAdmission:
    """No keys (AUTH_ENABLED=false, or a worker built without the usage module): every
    line runs."""

    def owner_active(self, batch: dict[str, Any]) -> bool:
        return True

    def admit(self, batch: dict[str, Any], lines: Sequence[PreparedLine]) -> dict[int, LineResult]:
        return {}

    def refund_undelivered(
        self, batch: dict[str, Any], first_line: int, end_line: int | None
    ) -> None:
        return None


class BudgetAdmission:
    """The owner's key from the keys table (read per call, so a revocation is seen by the
    next shard) and its lines against the monthly budget."""

    def __init__(self, keys: KeyStore, budget: LineBudget, defaults: Limits) -> None:
        self.keys = keys
        self.budget = budget
        self.defaults = defaults

    @staticmethod
    def _keyless(batch: dict[str, Any]) -> bool:
        """Created with auth off (no key to revoke), or before batches kept their key's hash
        (such a batch runs as it always did: reading its key would need a table scan)."""
        return batch["owner"] == ANONYMOUS or not batch.get("key_hash")

    def _owner(self, batch: dict[str, Any]) -> ApiKey | None:
        key = self.keys.owner(batch["owner"], batch["key_hash"])
        if key is None:
            return None
        return replace(key, limits=effective_limits(key.limits, self.defaults))

    def owner_active(self, batch: dict[str, Any]) -> bool:
        return self._keyless(batch) or self.keys.still_active(batch["owner"], batch["key_hash"])

    def admit(self, batch: dict[str, Any], lines: Sequence[PreparedLine]) -> dict[int, LineResult]:
        """The error lines of those of `lines` over the budget, by line number; the rest
        are charged to the month (once, however often the shard runs)."""
        key = self._owner(batch) if lines and not self._keyless(batch) else None
        if key is None or key.limits.monthly_tokens is None:
            return {}
        batch_id = batch["id"]
        tokens = [line.prompt_tokens for line in lines]
        admitted = self.budget.admit(key, batch_id, lines[0].line_no, tokens)
        refused = {}
        for line, ok in zip(lines, admitted, strict=True):
            if not ok:
                error = quota_exhausted(
                    f"Monthly token budget of {key.limits.monthly_tokens} tokens reached for "
                    f"{key.key_id}; this request of {line.prompt_tokens} tokens was not run.",
                    "0",
                )
                refused[line.line_no] = _refused(batch_id, line.line_no, line.custom_id, error)
        return refused

    def refund_undelivered(
        self, batch: dict[str, Any], first_line: int, end_line: int | None
    ) -> None:
        """Give back what `admit` charged for groups from `first_line` up to `end_line`
        (exclusive; None: the batch's end) of a shard that stopped there: admitted by a run
        that died before its part counted, then never run again (the batch was cancelled,
        failed or expired meanwhile)."""
        if self._keyless(batch):
            return
        key = self.keys.owner(batch["owner"], batch["key_hash"])  # revoked keys too: a refund
        if key is not None:
            self.budget.refund_from(key, batch["id"], first_line, end_line)


def admission_for(usage: UsageService) -> LineAdmission:
    """The admission of the usage module's keys and budgets; open when auth is off."""
    if not usage.auth_enabled or usage.keys is None or usage.budget is None:
        return OpenAdmission()
    return BudgetAdmission(usage.keys, usage.budget, usage.default_limits)
