"""The PO timeline in real Chromium at phone size: risk list -> PO view -> act on an alert -> offline."""
from __future__ import annotations

import pytest
from sqlalchemy import select

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


def _sign_in(page, url, email, password):
    page.goto(url + "/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_reviewer_acknowledges_a_delay_alert_and_reads_the_po_offline(live_server, phone, artifacts_dir):
    from server.demo import demo_id
    from server.extensions import db
    from server.timeline.models import PoAlert

    po_id = demo_id("po:42")
    with live_server.app.app_context():
        alert = db.session.scalar(select(PoAlert).where(PoAlert.purchase_order_id == po_id,
                                                        PoAlert.kind == "delay_risk", PoAlert.status == "open"))
        assert alert is not None, "the demo PO opens with a delay-risk alert"
        alert_id = alert.id
        db.session.remove()

    shots = artifacts_dir / "pwa"
    shots.mkdir(exist_ok=True)
    page = phone.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _sign_in(page, live_server.url, "reviewer@demo.lineside.test", "demo-reviewer")

    page.get_by_role("link", name="Purchase orders").click()
    card = page.get_by_test_id(f"po-{po_id}")
    expect(card).to_contain_text("PO-2026-0042")
    expect(card.get_by_test_id("risk")).to_contain_text("High risk")
    expect(card).to_contain_text("2 open alerts")
    page.screenshot(path=shots / "10-po-list.png", full_page=True)

    card.click()
    attention = page.get_by_test_id("attention")
    delay = attention.get_by_test_id("att-alert-delay_risk")
    expect(delay).to_contain_text("Delay risk")
    expect(delay).to_contain_text("cargo cut-off")
    # The delay alert comes before everything else that needs attention.
    expect(attention.locator("li").first).to_have_attribute("data-testid", "att-alert-delay_risk")

    milestones = page.get_by_test_id("milestones").locator("li")
    kinds = milestones.evaluate_all("els => els.map(e => e.dataset.kind)")
    order = ["golden_sample_approved", "materials_procured", "production_scheduled", "production_start",
             "inline_inspection", "production_complete", "final_inspection", "packing_list_complete",
             "export_documents_ready", "container_booked", "cargo_cutoff", "departed", "delivered"]
    assert [k for k in order if k in kinds] == list(dict.fromkeys(kinds)), kinds
    complete = page.locator("[data-kind=production_complete]")
    expect(complete).to_contain_text("At risk")
    expect(complete).to_contain_text("Planned")
    # Planned and forecast dates are shown; this one is forecast after its plan.
    planned, forecast = complete.locator("dd").nth(0).inner_text(), complete.locator("dd").nth(1).inner_text()
    assert planned[:4].isdigit() and forecast[:4].isdigit() and forecast > planned
    # The progress bar's width is set through element.style, in proportion to units produced.
    width = page.locator(".meter-fill").first.evaluate("e => e.style.width")
    assert width.endswith("%") and 30 <= float(width[:-1]) <= 60
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=shots / "11-po-timeline.png", full_page=True)

    delay.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_test_id("action-status")).to_contain_text("Alert acknowledged")
    expect(page.get_by_test_id("att-alert-delay_risk")).to_contain_text("Acknowledged")
    with live_server.app.app_context():
        stored = db.session.get(PoAlert, alert_id)
        assert (stored.status, stored.acknowledged_by_id) == ("acknowledged", demo_id("user:reviewer"))
        db.session.remove()

    # Offline: the shell comes from the service worker and the PO view from the last answer.
    page.wait_for_function("async () => !!(await navigator.serviceWorker.ready).active"
                           " && !!navigator.serviceWorker.controller")
    phone.set_offline(True)
    page.reload()
    expect(page.get_by_test_id("po-offline")).to_contain_text("No connection")
    expect(page.get_by_test_id("as-of")).to_contain_text("As of")
    expect(page.get_by_test_id("att-alert-delay_risk")).to_contain_text("Acknowledged")
    expect(page.locator("[data-kind=production_complete]")).to_contain_text("At risk")
    expect(page.get_by_role("button", name="Open issue").first).to_be_disabled()
    page.screenshot(path=shots / "12-po-timeline-offline.png", full_page=True)
    phone.set_offline(False)
    assert errors == []


def test_factory_manager_opens_an_issue_from_the_delay_alert(live_server, phone):
    from server.demo import demo_id
    from server.extensions import db
    from server.timeline.models import Issue, PoAlert

    po_id = demo_id("po:42")
    page = phone.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _sign_in(page, live_server.url, "manager@demo.lineside.test", "demo-manager")
    page.get_by_role("link", name="Purchase orders").click()
    page.get_by_test_id(f"po-{po_id}").click()
    page.get_by_test_id("att-alert-delay_risk").get_by_role("button", name="Open issue").click()
    expect(page.get_by_test_id("action-status")).to_contain_text("Issue opened")

    with live_server.app.app_context():
        alert = db.session.scalar(select(PoAlert).where(PoAlert.purchase_order_id == po_id,
                                                        PoAlert.kind == "delay_risk"))
        issues = db.session.scalars(select(Issue).where(Issue.alert_id == alert.id)).all()
        assert [(i.purchase_order_id, i.opened_by_id) for i in issues] == [(po_id, demo_id("user:manager"))]
        title = issues[0].title
        db.session.remove()
    expect(page.get_by_test_id("issues")).to_contain_text(title)
    assert errors == []


def test_inspector_sees_the_po_without_alerts_or_actions(live_server, phone):
    from server.demo import demo_id

    po_id = demo_id("po:42")
    page = phone.new_page()
    _sign_in(page, live_server.url, "inspector@demo.lineside.test", "demo-inspector")
    page.get_by_test_id("inspection-list").wait_for()
    expect(page.get_by_role("link", name="Purchase orders")).to_have_count(0)
    page.goto(f"{live_server.url}/#/timeline/{po_id}")
    expect(page.get_by_test_id("milestones")).to_contain_text("Production complete")
    expect(page.get_by_test_id("attention").locator("[data-testid^=att-alert]")).to_have_count(0)
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(page.get_by_role("button", name="Open issue")).to_have_count(0)
