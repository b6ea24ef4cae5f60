"""The report or course page as a reader sees it: headless Chromium (Debian's package,
driven by Playwright with the system browser; no browser download).

Where Chromium or Playwright is missing the tests are skipped, except where
STUDY_HARNESS_BROWSER=require (as .ci/run sets it, after installing Chromium): there they
fail, so a missing install cannot pass for a green run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REQUIRED = os.environ.get("STUDY_HARNESS_BROWSER") == "require"
VIEWPORT = {"width": 1280, "height": 800}


def browser_or_skip() -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        chromium = None
    if chromium is None:
        if REQUIRED:
            pytest.fail("STUDY_HARNESS_BROWSER=require, but chromium or playwright is missing")
        pytest.skip("no chromium or playwright here (.ci/run installs both)")
    return chromium


def open_page(index: Path, chromium: str) -> dict:
    """What the browser saw: requests, console messages, page errors, image states,
    the key-findings box and the positions of the figures."""
    from playwright.sync_api import sync_playwright

    seen: dict = {"requests": [], "console": [], "errors": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.on("request", lambda r: seen["requests"].append(r.url))
            page.on("console", lambda m: seen["console"].append((m.type, m.text)))
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            page.goto(index.as_uri(), wait_until="load")
            seen["images"] = page.evaluate(
                "[...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0,"
                " top: Math.round(i.getBoundingClientRect().top),"
                " left: Math.round(i.getBoundingClientRect().left)}))"
            )
            seen["findings"] = page.evaluate(
                "(() => { const b = document.querySelector('#key-findings');"
                " if (!b) return null; const r = b.getBoundingClientRect();"
                " return {top: r.top, bottom: r.bottom, text: b.innerText}; })()"
            )
            seen["links"] = page.evaluate(
                "[...document.querySelectorAll('a')].map(a => a.getAttribute('href'))"
            )
            seen["ids"] = page.evaluate("[...document.querySelectorAll('[id]')].map(e => e.id)")
        finally:
            browser.close()
    return seen
