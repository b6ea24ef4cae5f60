"""The report as a reader sees it: index.html in headless Chromium (Debian's package,
driven by Playwright with the system browser; no browser download).

Where Chromium or Playwright is missing the test is skipped, except where
STUDY_HARNESS_BROWSER=require (as .ci/run sets it, after installing Chromium): there it
fails, so a missing install cannot pass for a green run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from analysis import load, write_report

from .conftest import remedy_experiment
from .test_glance import divergence_experiment

REQUIRED = os.environ.get("STUDY_HARNESS_BROWSER") == "require"
VIEWPORT = {"width": 1280, "height": 800}


def _browser_or_skip() -> str:
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


def _open(index: Path, chromium: str) -> dict:
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


@pytest.mark.parametrize("kind", ["remedies", "divergence"])
def test_the_report_in_a_real_browser(kind, make_experiment, tmp_path):
    chromium = _browser_or_skip()
    folder = (
        remedy_experiment(make_experiment)
        if kind == "remedies"
        else divergence_experiment(tmp_path / "lrs", n=40)
    )
    out = write_report(load(folder), tmp_path / "report")
    seen = _open(out / "index.html", chromium)

    # Every image loads (they are embedded: nothing to fetch).
    assert seen["images"] and all(i["ok"] for i in seen["images"]), seen["images"]
    assert len(seen["images"]) == len(list(out.glob("*.png")))
    # Nothing is fetched from the network: the page itself, and data: URLs at most.
    assert all(u.startswith(("file://", "data:")) for u in seen["requests"]), seen["requests"]
    assert sum(u.startswith("file://") for u in seen["requests"]) == 1
    # The console shows no errors, and no script failed.
    assert not [m for m in seen["console"] if m[0] in ("error", "warning")], seen["console"]
    assert not seen["errors"]
    # The key findings are on the first screen, with numbers.
    box = seen["findings"]
    assert box is not None and box["top"] >= 0 and box["bottom"] <= VIEWPORT["height"], box
    assert "Best:" in box["text"] and any(ch.isdigit() for ch in box["text"])
    # Contents links lead somewhere; CSV links name files that are there.
    for href in seen["links"]:
        if href.startswith("#"):
            assert href[1:] in seen["ids"]
        else:
            assert href.endswith(".csv") and (out / href).is_file()
    if kind == "remedies":
        # Narrow figures sit two to a row at 1280 px.
        tops = [i["top"] for i in seen["images"]]
        assert any(tops.count(t) >= 2 for t in tops), seen["images"]
