"""The audit page in a real browser: Debian's Chromium, headless, driven by Playwright, opening the file from disk.

It checks what a person sees (the summary, one matrix row per participant and one column per round, the MISMATCH
round highlighted, full digests shortened on screen but copied whole, the round-close transaction, the gas chart's
axes, no command against the embedded chain that is gone), that no request leaves the machine, and saves a
screenshot in the test's temporary folder.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from federation import Federation, model
from test_accountable_rounds import _finalize_as

from fedledger import codec
from fedledger.explorer import report_data, write_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture
def page_file(tmp_path: Path) -> Path:
    """A task with an honest round 1 and a round 2 whose aggregator censored a valid update."""
    fed = Federation(tmp_path / "chain", participants=4)
    for who in range(4):
        fed.submit(who, codec.encode(model(1.0 + who)))
    fed.coordinator.close_round(fed.task)
    updates = [model(6.0 + who) for who in range(4)]
    for who, update in enumerate(updates):
        fed.submit(who, codec.encode(update))
    _finalize_as(
        fed, ["included", "malformed", "included", "included"], [updates[0], *updates[2:]], [10, 10, 10]
    )
    write_report(report_data(fed.ledger, fed.store, fed.task), tmp_path / "site")
    return tmp_path / "site" / "index.html"


def test_the_page_shows_the_audit_at_a_glance_without_touching_the_network(
    page_file: Path, tmp_path: Path
) -> None:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install playwright (make test installs it)"
    )
    assert Path(CHROMIUM).exists(), (
        "Debian's chromium is missing: make test installs it (apt-get install chromium)"
    )
    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        # Playwright starts the browser headless, with a fresh and empty profile of its own.
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            # Execute
            page.goto(page_file.as_uri())
            page.wait_for_load_state("load")
            summary = page.inner_text("#summary")
            status = page.inner_text("#status")
            rows = page.locator("#matrix tbody tr").count()
            columns = page.locator("#matrix thead th[data-round]").count()
            broken = page.locator(".link.broken").all_inner_texts()
            refuted = page.locator("#matrix td[data-check='mismatch']").count()
            digest = page.locator("#lineage .link[data-round='1'] code.full").first
            digest_text = digest.inner_text()
            shortened = digest.evaluate("e => e.scrollWidth > e.clientWidth")
            digest.click()  # user-select: all: one click selects the whole value
            selected = page.evaluate("() => window.getSelection().toString()")
            close_tx = page.inner_text("#timeline tr[data-round='1'] td.close code.full")
            y_ticks = page.locator("#gas text.ytick").all_text_contents()
            axes = page.locator("#gas text.axis").all_text_contents()
            check = page.inner_text("#check")
            page.screenshot(path=str(tmp_path / "explorer.png"), full_page=True)
        finally:
            browser.close()
    # Assert
    assert status == "MISMATCH"
    assert "1 of 2 closed rounds re-derived bit for bit; 1 mismatched" in summary
    assert rows == 4 and columns == 3  # 4 participants; rounds 1, 2 and the open round 3
    assert len(broken) == 1 and broken[0].startswith("round 2")
    assert refuted == 1
    data = json.loads(page_file.with_name("index.json").read_text())
    full = data["lineage"][1]["digest"]
    assert digest_text == full and selected == full and shortened  # whole in the page, short on screen
    assert close_tx == data["rounds"][0]["timeline"]["close_tx"]
    assert y_ticks[0] == "0" and len(y_ticks) >= 3 and sorted(axes) == ["gas", "round"]
    assert (
        "lived in-process" in check and data["contract"] not in check
    )  # no command against a chain that is gone
    assert requests == [page_file.as_uri()], f"the page made requests: {requests}"
    assert (tmp_path / "explorer.png").stat().st_size > 10_000
