"""The review site in a real browser: headless Chromium (Debian's package) driven by Playwright.

The browser is the system's (``/usr/bin/chromium``, or ``EXTRACT_CHROMIUM``): Playwright
cannot download its own here. ``make test`` installs it first (``make browser``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from extract.core.records import Alignment
from extract.io.output import results_by_id
from extract.review import build_site
from extract.scoring.gold import load_gold
from tests.review_fixtures import GOLD, HOSTILE_ID, SCRIPT, hostile_run, seed_run

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("EXTRACT_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium with a fresh profile, started and stopped here."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"{CHROMIUM} not found: run `make browser` (apt-get install chromium), or deselect: -m 'not browser'"
        )
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="review-profile-") as profile:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1300, "height": 900},
            offline=True,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    p = browser.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.errors = errors
    yield p
    p.close()


@pytest.fixture(scope="module")
def seed_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("review")
    run = seed_run(folder / "run.jsonl")
    out = folder / "site"
    build_site(run, out, gold=GOLD, page_size=2)
    return run, out


def _doc_pages(out: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted((out / "docs").glob("*.html"))}


def test_highlighted_spans_equal_grounded_evidence(page: Any, seed_site: tuple[Path, Path]) -> None:
    run, out = seed_site
    pages = _doc_pages(out)
    total = 0
    for doc_id, result in results_by_id(run).items():
        page.goto(pages[doc_id].as_uri())
        shown = page.eval_on_selector_all("mark[data-s]", "ms => new Set(ms.flatMap(m => m.dataset.s.split(' '))).size")
        grounded = sum(span.alignment is not Alignment.NOT_FOUND for span in result.evidence)
        assert shown == grounded, doc_id
        total += grounded
    assert total > 0
    assert page.errors == []


def test_clicking_a_value_marks_its_span_and_back(page: Any, seed_site: tuple[Path, Path]) -> None:
    run, out = seed_site
    results = results_by_id(run)
    # a document of the (randomly perturbed) run with a grounded location to click on
    doc_id = next(
        i for i, r in results.items() if any(s.path.endswith(".location") and s.start is not None for s in r.evidence)
    )
    result = results[doc_id]
    text = load_gold(GOLD).articles[doc_id]
    page.goto(_doc_pages(out)[doc_id].as_uri())
    assert page.locator("mark.pin").count() == 0
    k = next(i for i, s in enumerate(result.evidence) if s.path.endswith(".location") and s.start is not None)
    span = result.evidence[k]
    page.locator(f'.cards .v[data-ev="{k}"]').click()
    pinned = page.eval_on_selector_all("mark.pin", "ms => ms.map(m => m.textContent).join('')")
    assert pinned == text[span.start : span.end]
    every = f"ms => ms.every(m => m.dataset.s.split(' ').includes('{k}'))"
    assert page.eval_on_selector_all("mark.pin", every)
    # The other way: clicking the highlighted place pins the value in its card.
    page.locator(".cards .v.pin").first.evaluate("el => el.classList.remove('pin')")
    page.locator(f'mark.fam-place[data-s~="{k}"]').first.click()
    assert page.locator(f'.cards .v.pin[data-ev="{k}"]').count() == 1
    assert page.errors == []


def _row_ids(page: Any) -> list[str]:
    return page.eval_on_selector_all("#rows tr", "rows => rows.map(r => r.dataset.id)")


def _every_row_id(page: Any) -> list[str]:
    """The ids on this page of the index and on every page after it."""
    seen = _row_ids(page)
    while not page.locator("#next").is_disabled():
        page.click("#next")
        seen += _row_ids(page)
    return seen


def test_index_filters_sort_and_pages(page: Any, seed_site: tuple[Path, Path]) -> None:
    run, out = seed_site
    results = results_by_id(run)
    page.goto((out / "index.html").as_uri())
    # page_size=2: six documents on three pages.
    assert len(results) == 6
    assert _row_ids(page) == list(results)[:2]
    page.click("#next")
    page.click("#next")
    assert _row_ids(page) == list(results)[4:]
    assert page.locator("#next").is_disabled()

    page.check("#f-ungrounded")
    ungrounded = [i for i, r in results.items() if any(s.alignment is Alignment.NOT_FOUND for s in r.evidence)]
    assert ungrounded and len(ungrounded) < len(results)
    assert sorted(_every_row_id(page)) == sorted(ungrounded)
    page.uncheck("#f-ungrounded")

    page.check("#f-failed")
    failed = [i for i, r in results.items() if r.status.value == "failed"]
    assert failed and _every_row_id(page) == failed
    page.uncheck("#f-failed")

    # Only the worst: failures first, then ascending F1.
    page.select_option("#f-worst", "10")
    worst = _row_ids(page)
    f1 = page.eval_on_selector_all("#rows tr td:nth-child(8)", "tds => tds.map(t => t.textContent)")
    while not page.locator("#next").is_disabled():
        page.click("#next")
        worst += _row_ids(page)
        f1 += page.eval_on_selector_all("#rows tr td:nth-child(8)", "tds => tds.map(t => t.textContent)")
    assert worst[: len(failed)] == failed and sorted(worst) == sorted(results)
    scored = f1[len(failed) :]
    assert scored == sorted(scored) and len(set(scored)) > 1
    target = next(i for i in results if i not in failed)
    page.fill("#f-id", target[:4])
    page.select_option("#f-worst", "0")
    assert _row_ids(page) == [target]
    assert page.errors == []


def test_injected_markup_never_runs(page: Any, tmp_path: Path) -> None:
    run, articles = hostile_run(tmp_path)
    out = tmp_path / "site"
    build_site(run, out, articles=articles)
    targets = [out / "index.html", *sorted((out / "docs").glob("*.html"))]
    assert len(targets) == 3
    for target in targets:
        page.goto(target.as_uri())
        page.wait_for_load_state("load")
        assert page.evaluate("window.__pwned") is None, target.name
        assert page.locator("img").count() == 0
        assert page.evaluate("document.scripts.length") == 2 if target.name == "index.html" else 1
    page.goto((out / "index.html").as_uri())
    assert HOSTILE_ID in page.inner_text("#rows")  # the id shows as text
    page.locator("#rows a", has_text="evil").click()
    body = page.inner_text("body")
    assert SCRIPT in body  # the article's script, shown as text
    assert page.evaluate("window.__pwned") is None
    assert page.errors == []
