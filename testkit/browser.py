"""Chromium from Debian (`apt-get install chromium`; infra/local/install.sh does it), driven by
Playwright from PyPI. Playwright's own browser download is never used: it cannot run here
(no network for it in CI) and a system browser is what the project's scripts can install."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

CHROMIUM = os.environ.get("EDP_CHROMIUM", "/usr/bin/chromium")
# Headless, and nothing that reaches out of the machine or waits on a first-run dialog.
ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def chromium_path() -> str:
    path = CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium")
    if not path:
        raise RuntimeError(
            f"no Chromium at {CHROMIUM}: `make services` installs Debian's chromium "
            "(infra/local/install.sh), or set EDP_CHROMIUM"
        )
    return path


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium; each `browser.new_context()` is a fresh profile (no cookies)."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=list(ARGS))
        try:
            yield browser
        finally:
            browser.close()
