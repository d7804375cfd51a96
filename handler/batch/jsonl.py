"""Stream a JSONL file's request lines: line numbers, byte ranges, bounded memory.

Linear in the file's length whatever its shape: a line that spans many chunks is kept as a
list of pieces (joined once), runs of blank lines are skipped by C code (a regex and
bytes.count), and a line longer than `max_line_bytes` keeps only its first
`max_line_bytes + 1` bytes, enough for the caller to see it is too large (a 200 MB line of
"{}" costs one chunk of memory, not 200 MB or the 30x orjson would need to parse it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

BOM = b"\xef\xbb\xbf"  # the UTF-8 byte order mark many Windows tools write first
_BLANK = re.compile(rb"[ \t\r\n\v\f]*")  # what bytes.strip() strips: a blank line's bytes


@dataclass(frozen=True)
class Line:
    number: int  # 1-based, as the file counts lines (blank ones included)
    start: int  # byte range [start, end) in the file; end includes the newline
    end: int
    raw: bytes  # without the newline; cut to max_line_bytes + 1 bytes when longer
    size: int  # the line's real length in bytes


class _Pending:
    """The pieces of a line that has not ended yet, up to the cap."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.pieces: list[bytes] = []
        self.kept = 0
        self.size = 0
        self.blank = True

    def add(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.blank and piece.strip():
            self.blank = False
        if self.kept <= self.cap:
            piece = piece[: self.cap + 1 - self.kept]
            self.pieces.append(piece)
            self.kept += len(piece)

    def take(self) -> tuple[bytes, int, bool]:
        raw, size, blank = b"".join(self.pieces), self.size, self.blank
        self.pieces, self.kept, self.size, self.blank = [], 0, 0, True
        return raw, size, blank


def split_lines(
    chunks: Iterable[bytes],
    first_number: int = 1,
    offset: int = 0,
    max_line_bytes: int = 1 << 62,
    file_start: bool = False,
) -> Iterator[Line]:
    """The non-blank lines of the bytes read as `chunks`, numbered from `first_number`, with
    byte offsets from `offset`; a last line without a newline counts too. `file_start`: the
    bytes begin the file, so a UTF-8 BOM before the first line is not part of it."""
    number, at = first_number, offset  # the line being read, and where it starts
    pending = _Pending(max_line_bytes)
    held = b"" if file_start else None  # the file's first bytes, until a BOM is ruled out
    for chunk in chunks:
        pos = 0
        if held is not None:
            head = held + chunk
            if len(head) < len(BOM) and BOM.startswith(head):
                held = head  # the BOM split across tiny chunks: decide with more bytes
                continue
            held = None
            skip = len(BOM) if head.startswith(BOM) else 0
            chunk, at = head[skip:], at + skip
        end = len(chunk)
        while pos < end:
            newline = chunk.find(b"\n", pos)
            if pending.size:  # a line begun in an earlier chunk
                if newline < 0:
                    pending.add(chunk[pos:])
                    break
                pending.add(chunk[pos:newline])
                raw, size, blank = pending.take()
                if not blank:
                    yield Line(number, at, at + size + 1, raw, size)
                number, at, pos = number + 1, at + size + 1, newline + 1
                continue
            # Skip blank lines in one C call: to the first byte that is not whitespace.
            text = _BLANK.match(chunk, pos).end()  # type: ignore[union-attr]
            last_newline = chunk.rfind(b"\n", pos, text)
            if last_newline >= 0:
                number += chunk.count(b"\n", pos, last_newline + 1)
                at += last_newline + 1 - pos
                pos = last_newline + 1
            if text == end:
                if pos < end:
                    pending.add(chunk[pos:])  # blank so far; the line may go on
                break
            newline = chunk.find(b"\n", text)
            if newline < 0:
                pending.add(chunk[pos:])
                break
            raw = chunk[pos:newline]
            size = len(raw)
            if size > max_line_bytes:
                raw = raw[: max_line_bytes + 1]
            yield Line(number, at, at + size + 1, raw, size)
            number, at, pos = number + 1, at + size + 1, newline + 1
    if held and held.strip():  # a file of a few bytes that merely began like a BOM
        yield Line(number, at, at + len(held), held, len(held))
    if pending.size:
        raw, size, blank = pending.take()
        if not blank:
            yield Line(number, at, at + size, raw, size)
