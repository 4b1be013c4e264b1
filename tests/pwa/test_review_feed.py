"""The reviewer's feed with real drift: charts, reasons in words, acknowledging, filtering."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture(scope="module")
def drifted(live_server):
    result = live_server.app.test_cli_runner().invoke(args=["drift-demo"])
    assert result.exit_code == 0, result.output
    return live_server


def test_the_feed_shows_drift_charts_reasons_in_words_and_acknowledges(drifted, phone):
    from server.extensions import db
    from server.review.models import DriftAlert

    live_server = drifted
    page = phone.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/")
    page.get_by_label("Email").fill("reviewer@demo.lineside.test")
    page.get_by_label("Password").fill("demo-reviewer")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/#/review")

    chart = page.get_by_test_id("drift-chart").first
    expect(chart).to_be_visible(timeout=15_000)
    page.wait_for_function("() => { const i = document.querySelector('[data-testid=drift-chart]');"
                           " return i && i.complete && i.naturalWidth > 0; }")

    reasons = page.get_by_test_id("flag-reasons")
    expect(reasons.first).to_contain_text("Out of tolerance")
    assert all("_" not in r for r in reasons.all_inner_texts())

    feed = page.get_by_test_id("alert-feed")
    first = feed.locator("li[data-alert]").first
    alert_id = first.get_attribute("data-alert")
    first.get_by_role("button", name="Acknowledge").click()
    expect(first).to_contain_text("Acknowledged")
    with live_server.app.app_context():
        assert db.session.scalar(select(DriftAlert.status).where(DriftAlert.id == uuid.UUID(alert_id))) == "acknowledged"
        db.session.remove()

    # Filters: by PO (the demo's one) the queue stays; "Accepted" photos: none yet.
    filters = page.get_by_test_id("review-filters")
    filters.get_by_label("PO").select_option(label="PO-2026-0042")
    expect(page.get_by_test_id("review-queue")).to_be_visible()
    filters.get_by_label("Status").select_option("accepted")
    expect(page.get_by_test_id("review-empty")).to_be_visible()
    filters.get_by_label("Status").select_option("pending")
    expect(page.get_by_test_id("review-queue")).to_be_visible()
    assert errors == []
