"""Small helpers the bill's report tables share (bench/bill_report.py and
bench/bill_report_levers.py): markdown tables, workload and key labels, dollars."""

from __future__ import annotations

from typing import Any

KEYS = {
    "no_limits": "no limits",
    "limits": "RPM/TPM + monthly",
    "kinesis_ledger": "no limits, Kinesis ledger (UsageLedger=Kinesis)",
}


def table(header: list[str], body: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in body]
    return lines + [""]


def label(row: dict[str, Any], big_inputs: int) -> str:
    return {
        "short": "1 short input",
        "inputs_32": "32 inputs",
        "big": f"{big_inputs} inputs",
        "batch": "1 batch line",
    }[row["workload"]]


def usd(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"
