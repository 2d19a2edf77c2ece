"""Shared constants of the browser tests: where Chromium is, how it starts, where screenshots go."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOG_TAIL_LINES = 200
# How long Playwright actions and assertions wait (assertions default to 5 s): on a loaded 2-core machine
# the Airflow UI took longer to load its translations (seen failing: the page still showed "nav.home").
BROWSER_TIMEOUT_MS = 20_000


def screenshot(page: Any, name: str) -> Path:
    """Save the whole page as ``test-artifacts/browser/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path


def playwright_or_skip() -> Callable[[], Any]:
    """Playwright's ``sync_playwright``, or a skip naming what is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright for Python is not installed: `pip install 'playwright>=1.40'`")
    return sync_playwright


@contextmanager
def chromium(sync_playwright: Callable[[], Any]) -> Iterator[Any]:
    """Debian's Chromium, headless (Playwright's own browser downloads are never used)."""
    from playwright.sync_api import expect

    expect.set_options(timeout=BROWSER_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
