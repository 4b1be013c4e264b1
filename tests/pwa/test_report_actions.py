"""A reviewer opens the report, downloads the CSV exports and shares (then revokes) a link, from the app."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


def test_report_csv_and_share_link_from_the_app(live_server, phone):
    from server.demo import demo_id

    photo_id = demo_id("photo:A:unit")
    page = phone.new_page()
    page.goto(live_server.url + "/")
    page.get_by_label("Email").fill("reviewer@demo.lineside.test")
    page.get_by_label("Password").fill("demo-reviewer")
    page.locator("#signin button[type=submit]").click()
    page.wait_for_function("() => window.lineside?.ctx?.session")
    page.goto(live_server.url + f"/#/review/{photo_id}")
    report = page.locator("#report")

    with page.expect_popup() as popup:
        report.get_by_role("button", name="Open report").click()
    opened = popup.value
    opened.wait_for_load_state()
    expect(opened.locator("#verdict")).to_contain_text("Verdict", timeout=15_000)

    with page.expect_download() as download:
        report.get_by_role("button", name="Measurements (CSV)").click()
    assert download.value.suggested_filename.endswith("-measurements.csv")
    assert download.value.path().read_text().splitlines()[0].count(",") >= 3

    report.get_by_role("button", name="Share link").click()
    url = report.get_by_test_id("share-url").inner_text()
    assert "/r/" in url
    shared = phone.new_page()
    shared.goto(url)
    expect(shared.locator("#verdict")).to_contain_text("Verdict", timeout=15_000)
    report.get_by_role("button", name="Revoke link").click()
    expect(report.get_by_test_id("report-status")).to_contain_text("Link revoked", timeout=15_000)
    shared.reload()
    expect(shared.get_by_role("heading")).to_have_text("This report link is no longer available", timeout=15_000)
