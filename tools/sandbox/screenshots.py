"""Screenshots of the sandbox's web, rendered the way Firecrawl renders them: by a real browser.

Firecrawl's `screenshot` format answers with the address of a PNG it stored. The sandbox renders
the page it would have scraped with headless Chromium (Debian's `chromium`, or the binary named by
LEADGEN_SANDBOX_CHROMIUM), keeps the PNG in memory and serves it under a storage-like path. With
no browser on the machine it cannot render one and answers as Firecrawl does when every engine
failed, with a message that says what to install.

The browser sees the page's HTML only: every host name resolves to nothing, so a page's images and
scripts from the (imaginary) web stay blank, as a page whose assets failed would.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

MEDIA_PATH = "/storage/v1/object/public/media"
DEFAULT_VIEWPORT = (1920, 1080)  # Firecrawl's desktop viewport
RENDER_TIMEOUT_SECONDS = 60.0


class ScreenshotUnavailable(Exception):
    """No browser could render the page (missing, crashed or timed out)."""


def chromium_binary() -> str | None:
    named = os.environ.get("LEADGEN_SANDBOX_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _is_side(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 7680


@dataclass(frozen=True)
class ScreenshotOptions:
    width: int = DEFAULT_VIEWPORT[0]
    height: int = DEFAULT_VIEWPORT[1]
    full_page: bool = False

    @classmethod
    def from_format(cls, item: object) -> ScreenshotOptions:
        """The options of a `{"type": "screenshot", ...}` format (ValueError names what is wrong)."""
        if not isinstance(item, dict):
            return cls()
        full_page = item.get("fullPage", False)
        if not isinstance(full_page, bool):
            raise ValueError("screenshot.fullPage must be a boolean")
        viewport = item.get("viewport")
        if viewport is None:
            return cls(full_page=full_page)
        if not isinstance(viewport, dict):
            raise ValueError("screenshot.viewport must be an object with width and height")
        width, height = viewport.get("width"), viewport.get("height")
        if not all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 7680 for v in (width, height)
        ):
            raise ValueError("screenshot.viewport width and height must be integers from 1 to 7680")
        assert isinstance(width, int) and isinstance(height, int)
        return cls(width, height, full_page)


@dataclass
class MediaStore:
    """PNGs rendered by one sandbox, by file name."""

    files: dict[str, bytes] = field(default_factory=dict)

    def add(self, png: bytes) -> str:
        name = f"screenshot-{uuid.uuid4()}.png"
        self.files[name] = png
        return name


async def render_png(html: str, options: ScreenshotOptions) -> bytes:
    """The page as headless Chromium draws it (ScreenshotUnavailable when it cannot)."""
    binary = chromium_binary()
    if binary is None:
        raise ScreenshotUnavailable(
            "the sandbox renders screenshots with Chromium and found none: install Debian's "
            "chromium or set LEADGEN_SANDBOX_CHROMIUM to a Chromium binary"
        )
    # A full page is approximated by a tall window: the CLI cannot measure the document first.
    height = 4 * options.height if options.full_page else options.height
    with tempfile.TemporaryDirectory(prefix="leadgen-shot-") as folder:
        page, shot = Path(folder) / "page.html", Path(folder) / "shot.png"
        page.write_text(html, encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={folder}/profile",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--window-size={options.width},{height}",
            f"--screenshot={shot}",
            page.as_uri(),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await asyncio.wait_for(process.wait(), RENDER_TIMEOUT_SECONDS)
        except TimeoutError as exc:
            process.kill()
            await process.wait()
            raise ScreenshotUnavailable("the browser did not finish rendering the page in time") from exc
        if not shot.is_file() or shot.stat().st_size == 0:
            raise ScreenshotUnavailable(f"the browser exited with status {process.returncode} and no image")
        return shot.read_bytes()
