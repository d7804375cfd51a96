"""`make docs-check`: the built site, served on loopback and opened in headless Chromium.

For the home page and the API page it checks the DOM Chromium built (the page's own words,
and Material's layout around them) and a screenshot: not one flat colour, and the theme's
indigo header painted, so a page whose stylesheet or content failed to load fails. The
screenshots and DOMs stay in --out for a person to look at.

Needs Debian's `chromium` on PATH (or CHROMIUM=/path); `apt-get install chromium`.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tools.docs.png import Image, read_png

WINDOW = (1280, 1000)
HEADER_ROWS = (8, 40)  # inside Material's 48 px header at a device scale factor of 1
# Material's indigo (mkdocs.yml's primary), the header's background as Chromium paints it
INDIGO = bytes((0x40, 0x51, 0xB5))
MAX_FLAT_SHARE = 0.97  # a blank page is one colour; a real one has text, a header, a nav
MIN_COLOURS = 16


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    words: tuple[str, ...]  # text only the rendered page itself holds


PAGES = (
    Page("home", "", ("serverless-embeddings", "Where to read", "sk-local-dev")),
    Page("api", "api/", ("POST /v1/embeddings", "context_length_exceeded", "encoding_format")),
)
THEME_MARKERS = ("md-header", "md-content", "md-nav")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base's name)
        pass


def chromium() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not found:
        sys.exit("docs-check needs Chromium: apt-get install chromium (or set CHROMIUM)")
    return found


def _run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless",
        "--no-sandbox",  # root in a container has no user namespace for the sandbox
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--force-device-scale-factor=1",
        "--virtual-time-budget=5000",  # let the theme's scripts settle before the capture
    ]
    return subprocess.run(
        [binary, *flags, *args], capture_output=True, text=True, timeout=120, check=True
    )


def screenshot_problems(image: Image) -> list[str]:
    """What makes a screenshot a blank or unstyled page; empty when it looks rendered."""
    problems = []
    colours = image.pixels()
    total = image.width * image.height
    flat_share = colours.most_common(1)[0][1] / total
    if flat_share > MAX_FLAT_SHARE:
        problems.append(f"{flat_share:.1%} of the pixels are one colour")
    if len(colours) < MIN_COLOURS:
        problems.append(f"only {len(colours)} colours")
    header = image.pixels(*HEADER_ROWS)
    indigo_share = header[INDIGO] / max(1, sum(header.values()))
    if indigo_share < 0.3:
        problems.append(f"the header is not the theme's indigo ({indigo_share:.0%} of it)")
    return problems


def dom_problems(dom: str, page: Page) -> list[str]:
    """Words or theme parts the page's DOM lacks."""
    missing = [w for w in page.words if w not in dom]
    missing += [m for m in THEME_MARKERS if f'class="{m}' not in dom and f" {m}" not in dom]
    return [f"the DOM lacks {m!r}" for m in missing]


def check(site: Path, out: Path) -> int:
    binary = chromium()
    out.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    failures = 0
    try:
        with tempfile.TemporaryDirectory() as profile:
            for page in PAGES:
                url = f"http://127.0.0.1:{server.server_address[1]}/{page.path}"
                shot = out / f"{page.name}.png"
                dom = _run_chromium(binary, Path(profile), "--dump-dom", url).stdout
                (out / f"{page.name}.html").write_text(dom)
                _run_chromium(binary, Path(profile), f"--screenshot={shot}", url)
                image = read_png(shot.read_bytes())
                problems = dom_problems(dom, page) + screenshot_problems(image)
                colours = len(image.pixels())
                verdict = "FAIL: " + "; ".join(problems) if problems else "ok"
                print(
                    f"{page.name:5} {url}  {image.width}x{image.height}, {colours} colours, "
                    f"DOM {len(dom):,} chars: {verdict}  ({shot})"
                )
                failures += bool(problems)
    finally:
        server.shutdown()
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the built docs site in headless Chromium")
    parser.add_argument("site", type=Path, help="the built site (build/site)")
    parser.add_argument("--out", type=Path, default=Path("build/docs-check"))
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        sys.exit(f"no site in {args.site}: run make docs")
    return check(args.site, args.out)


if __name__ == "__main__":
    sys.exit(main())
