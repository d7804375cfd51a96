"""Which int8 kernels ran: the dot-product and matrix-multiply instructions qemu translated.

qemu-user's `-d in_asm` log (QEMU_LOG=in_asm) lists every guest instruction the first time its
block is translated, with its 32-bit encoding. Counting the int8 ones by encoding (not by the
disassembler's mnemonics, which older capstone builds lack) shows which MLAS kernel family the
emulated CPU got: SDOT/UDOT (dot product, Graviton2), SMMLA/UMMLA/USMMLA (i8mm, Graviton3) or
neither (plain NEON widening multiplies).

    python -m tools.arm64.insns QEMU_LOG > counts.json
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

# (mask, value) of AdvSIMD encodings, Arm ARM C4.1.x; Q (bit 30) is masked out where free.
ENCODINGS = {
    "sdot": [(0xBFE0FC00, 0x0E809400), (0xBFC0F400, 0x0F80E000)],  # vector, by element
    "udot": [(0xBFE0FC00, 0x2E809400), (0xBFC0F400, 0x2F80E000)],
    "usdot": [(0xBFE0FC00, 0x0E809C00)],
    "smmla": [(0xFFE0FC00, 0x4E80A400)],
    "ummla": [(0xFFE0FC00, 0x6E80A400)],
    "usmmla": [(0xFFE0FC00, 0x4E80AC00)],
}
LINE = re.compile(r"^0x([0-9a-f]+):\s+([0-9a-f]{8})\b")


def classify(word: int) -> str | None:
    for name, patterns in ENCODINGS.items():
        if any(word & mask == value for mask, value in patterns):
            return name
    return None


def count(log: Path) -> dict[str, int]:
    """Distinct guest addresses per int8 instruction class (a retranslated block counts once)."""
    seen: dict[int, str] = {}
    with log.open(errors="replace") as lines:
        for line in lines:
            match = LINE.match(line)
            if match and (name := classify(int(match.group(2), 16))):
                seen[int(match.group(1), 16)] = name
    counts = Counter(seen.values())
    return {name: counts.get(name, 0) for name in ENCODINGS}


if __name__ == "__main__":
    json.dump(count(Path(sys.argv[1])), sys.stdout)
    print()
