"""The inspector's list: date, PO, batch, product, due date and progress; today's first."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture(scope="module")
def today_b(live_server):
    """Final inspection B is due today; inline A is tomorrow (the demo's)."""
    from server.demo import demo_id
    from server.extensions import db
    from server.inspect.models import Inspection

    with live_server.app.app_context():
        db.session.get(Inspection, demo_id("inspection:final:B")).scheduled_for = datetime.now(timezone.utc)
        db.session.commit()
        db.session.remove()
    return live_server


def test_the_list_puts_today_first_with_po_batch_product_due_and_progress(today_b, phone):
    from server.demo import demo_id

    live_server = today_b
    b, a = str(demo_id("inspection:final:B")), str(demo_id("inspection:inline:A"))
    page = phone.new_page()
    page.goto(live_server.url + "/")
    page.get_by_label("Email").fill("inspector@demo.lineside.test")
    page.get_by_label("Password").fill("demo-inspector")
    page.locator("#signin button[type=submit]").click()
    page.wait_for_selector(f"[data-testid='inspection-{b}']")
    cards = page.locator("[data-testid=inspection-list] a.inspection-card")
    expect(cards.nth(0)).to_have_attribute("data-testid", f"inspection-{b}")
    expect(cards.nth(1)).to_have_attribute("data-testid", f"inspection-{a}")
    first = cards.nth(0)
    expect(first.get_by_test_id("insp-date")).to_have_text("Today")
    expect(first).to_contain_text("PO PO-2026-0042")
    expect(first).to_contain_text("Batch LOT-B")
    expect(first).to_contain_text("Enamel tray 120 × 80, sage")
    expect(first).to_contain_text(re.compile(r"Ship by \w+ \d+"))
    expect(first.get_by_test_id("insp-progress")).to_contain_text(re.compile(r"^\s*0 of 12 required done"))
    expect(first.get_by_test_id("insp-status")).to_have_text("Assigned")

    first.click()
    page.locator("fieldset.item.yn").first.locator("label.choice-yes").click()
    expect(page.get_by_test_id("saved")).to_contain_text("Saved on this phone")
    page.get_by_role("link", name="Back").click()
    first = page.locator(f"[data-testid='inspection-{b}']")
    expect(first.get_by_test_id("insp-status")).to_have_text("In progress")
    expect(first.get_by_test_id("insp-progress")).to_contain_text(re.compile(r"^\s*1 of 12 required done"))

    # In Chinese on a 360 px phone the dates stay on one line and nothing overflows.
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Language").select_option("zh-CN")
    page.set_viewport_size({"width": 360, "height": 740})
    page.get_by_role("link", name="检验").click()
    page.wait_for_selector(f"[data-testid='inspection-{a}']")
    expect(page.locator(f"[data-testid='inspection-{b}'] [data-testid=insp-date]")).to_have_text("今天")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    heights = page.evaluate("""() => [...document.querySelectorAll('.inspection-card .date')].map((el) => {
        const r = el.getClientRects(); return r.length; })""")
    assert heights and all(n == 1 for n in heights), heights
