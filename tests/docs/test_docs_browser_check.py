"""The judgement behind `make docs-check`: a blank or unstyled page fails, a rendered one
passes; the PNG reader decodes every row filter Chromium may use."""

from __future__ import annotations

import random
import struct
import zlib

import pytest

from tools.docs.browser_check import INDIGO, PAGES, dom_problems, screenshot_problems
from tools.docs.png import SIGNATURE, read_png, write_png

pytestmark = pytest.mark.unit

WHITE = b"\xff\xff\xff"


def page_like(width: int = 320, height: int = 200) -> bytes:
    """An indigo header over text-like noise on white: what a rendered page looks like."""
    rng = random.Random(7)
    rows = [INDIGO * width for _ in range(48)]
    for _ in range(height - 48):
        rows.append(
            b"".join(
                bytes(rng.randrange(256) for _ in range(3)) if rng.random() < 0.2 else WHITE
                for _ in range(width)
            )
        )
    return write_png(width, height, rows)


def test_a_rendered_page_passes() -> None:
    assert screenshot_problems(read_png(page_like())) == []


def test_a_blank_page_fails() -> None:
    blank = read_png(write_png(320, 200, [WHITE * 320] * 200))
    problems = screenshot_problems(blank)
    assert any("one colour" in p for p in problems)
    assert any("indigo" in p for p in problems)


def test_an_unstyled_page_fails_on_its_header() -> None:
    image = read_png(page_like())
    unstyled = read_png(write_png(320, 200, [WHITE * 320] * 48 + image.rows[48:]))
    assert screenshot_problems(unstyled) == ["the header is not the theme's indigo (0% of it)"]


def _filtered_png(rows: list[bytes], bpp: int = 3) -> bytes:
    """Rows encoded with filters None, Sub, Up, Average and Paeth in turn."""

    def paeth(a: int, b: int, c: int) -> int:
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        return a if pa <= pb and pa <= pc else (b if pb <= pc else c)

    raw, prior = bytearray(), bytes(len(rows[0]))
    for y, row in enumerate(rows):
        kind = y % 5
        out = bytearray()
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b, c = prior[i], prior[i - bpp] if i >= bpp else 0
            predictor = (0, a, b, (a + b) // 2, paeth(a, b, c))[kind]
            out.append((x - predictor) & 0xFF)
        raw += bytes([kind]) + out
        prior = row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", len(rows[0]) // bpp, len(rows), 8, 2, 0, 0, 0)
    return (
        SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw)))
        + chunk(b"IEND", b"")
    )


def test_the_png_reader_undoes_every_filter() -> None:
    rng = random.Random(3)
    rows = [bytes(rng.randrange(256) for _ in range(3 * 9)) for _ in range(10)]
    assert read_png(_filtered_png(rows)).rows == rows


def test_the_dom_must_hold_the_page_words_and_the_theme() -> None:
    home = PAGES[0]
    rendered = '<div class="md-header"><div class="md-content"><nav class="md-nav">' + " ".join(
        home.words
    )
    assert dom_problems(rendered, home) == []
    assert dom_problems('<div class="md-header md-content md-nav"></div>', home) == [
        f"the DOM lacks {w!r}" for w in home.words
    ]
