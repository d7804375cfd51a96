"""Just enough PNG reading to judge a screenshot: 8-bit RGB or RGBA, not interlaced (what
Chromium writes), with the standard library alone."""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {2: 3, 6: 4}  # colour type -> bytes per pixel: RGB, RGBA


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    rows: list[bytes]  # RGB bytes, one entry per row
    pixel_bytes: int

    def pixels(self, top: int = 0, bottom: int | None = None) -> Counter[bytes]:
        """How often each RGB colour occurs in rows top..bottom."""
        counts: Counter[bytes] = Counter()
        step = self.pixel_bytes
        for row in self.rows[top:bottom]:
            counts.update(row[i : i + 3] for i in range(0, len(row), step))
        return counts


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(kind: int, line: bytearray, prior: bytes, bpp: int) -> bytearray:
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up = prior[i]
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            upleft = prior[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + _paeth(left, up, upleft)) & 0xFF
    return line


def read_png(data: bytes) -> Image:
    """Decodes `data`; raises ValueError for anything but 8-bit RGB/RGBA without interlace."""
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PNG")
    pos, header, idat = len(SIGNATURE), b"", bytearray()
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour not in CHANNELS or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}")
    bpp = CHANNELS[colour]
    raw, stride = zlib.decompress(bytes(idat)), width * bpp
    rows, prior = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = _unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), prior, bpp)
        rows.append(bytes(line))
        prior = bytes(line)
    return Image(width, height, rows, bpp)


def write_png(width: int, height: int, rgb_rows: list[bytes]) -> bytes:
    """An 8-bit RGB PNG (filter 0) from rows of RGB bytes: for tests."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rgb_rows)
    return (
        SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
