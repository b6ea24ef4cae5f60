"""The report as a reader sees it: index.html in headless Chromium (Debian's package,
driven by Playwright with the system browser; no browser download).

Where Chromium or Playwright is missing the test is skipped, except where
STUDY_HARNESS_BROWSER=require (as .ci/run sets it, after installing Chromium): there it
fails, so a missing install cannot pass for a green run."""

from __future__ import annotations

import pytest
from browser import VIEWPORT, browser_or_skip, open_page

from analysis import load, write_report

from .conftest import remedy_experiment
from .test_glance import divergence_experiment


@pytest.mark.parametrize("kind", ["remedies", "divergence"])
def test_the_report_in_a_real_browser(kind, make_experiment, tmp_path):
    chromium = browser_or_skip()
    folder = (
        remedy_experiment(make_experiment)
        if kind == "remedies"
        else divergence_experiment(tmp_path / "lrs", n=40)
    )
    out = write_report(load(folder), tmp_path / "report")
    seen = open_page(out / "index.html", chromium)

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
