"""Regenerate docs/review-document.png, the README's picture of a document page with the gold diff.

    .venv/bin/python docs/make_screenshot.py

The run shown is synthetic: the seed article's gold labels, perturbed
(extract.testing.synthetic_runs), so that every kind of verdict appears. It is not
model output.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from extract.core.gold import load_gold
from extract.review import build_site
from extract.testing.synthetic_runs import synthetic_run

REPO = Path(__file__).resolve().parents[1]
DOCUMENT = "001_fdcfd5f3d50c3716"
CHROMIUM = os.environ.get("EXTRACT_CHROMIUM", "/usr/bin/chromium")


def main() -> int:
    gold = load_gold(REPO / "gold")
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        run = Path(tmp) / "perturbed.jsonl"
        run.write_text("".join(r.to_json() + "\n" for r in synthetic_run(gold, seed=1).results))
        build_site(run, Path(tmp) / "site", gold=gold)
        ctx = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            viewport={"width": 1280, "height": 800},
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
        )
        try:
            page = ctx.new_page()
            page.goto((Path(tmp) / "site" / "docs" / f"{DOCUMENT}.html").as_uri())
            # Show the link between a value and its span: pin the first place value.
            page.locator(".cards .v.fam-place[data-ev]").first.click()
            page.evaluate("window.scrollTo(0, 0); document.getElementById('text').scrollTop = 0")
            out = REPO / "docs" / "review-document.png"
            page.screenshot(path=str(out))
        finally:
            ctx.close()
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
