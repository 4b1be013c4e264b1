"""The photo analysis result with its uncertainty, reasons and light colour, on the phone and for reviewers."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

ANALYSIS = {"status": "review", "calibrated": True, "lab": [61.2, -17.5, 12.9], "delta_e_cie2000": 1.86,
            "delta_e_u": 0.52, "length_mm": 120.34, "length_u_mm": 0.41, "width_mm": 80.1, "width_u_mm": 0.38,
            "light_cct_k": 5230, "confidence": 0.82,
            "reasons": ["colour ΔE00 1.9 ± 0.5 too close to the tolerance 2.0 to decide"],
            "reason_codes": ["colour_uncertain"]}


def _sign_in(page, base, email, password):
    page.goto(base + "/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.locator("#signin button[type=submit]").click()
    page.wait_for_function("() => window.lineside?.ctx?.session")


def test_the_inspector_sees_the_result_with_uncertainty_light_and_reasons(live_server, phone):
    from server.demo import demo_id

    inspection = str(demo_id("inspection:final:B"))
    page = phone.new_page()
    _sign_in(page, live_server.url, "inspector@demo.lineside.test", "demo-inspector")
    page.wait_for_selector(f"[data-testid='inspection-{inspection}']")
    page.evaluate("""async ([inspection, analysis]) => {  // a photo as pulled after its analysis
        const { tx } = await import('/app/lib/db.js');
        await tx(['records'], 'readwrite', (t) => t.objectStore('records').put({ key: 'photo:analysed', entity: 'photo',
          id: 'analysed', rev: 9, deleted: false, inspection_id: inspection,
          fields: { inspection_id: inspection, item_key: 'unit_photo', analysis, analysis_status: analysis.status } }));
    }""", [inspection, ANALYSIS])
    page.goto(live_server.url + f"/#/inspection/{inspection}")
    result = page.get_by_test_id("analysis")
    expect(result).to_contain_text("Analysis: needs a person to decide", timeout=15_000)
    expect(result).to_contain_text("confidence 82 %", timeout=15_000)
    expect(result.get_by_test_id("analysis-de")).to_have_text("ΔE00 1.9 ± 0.5", timeout=15_000)
    expect(result.get_by_test_id("analysis-length")).to_have_text("120.3 ± 0.4 mm", timeout=15_000)
    expect(result.get_by_test_id("analysis-cct")).to_have_text("5230 K", timeout=15_000)
    expect(result.get_by_test_id("analysis-reasons")).to_have_text(ANALYSIS["reasons"][0], timeout=15_000)

    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Language").select_option("zh-CN")
    page.goto(live_server.url + f"/#/inspection/{inspection}")
    result = page.get_by_test_id("analysis")
    expect(result).to_contain_text("分析：需要人工判断", timeout=15_000)
    expect(result.get_by_test_id("analysis-reasons")).to_have_text("颜色太接近公差，无法判断", timeout=15_000)


def test_the_reviewer_sees_the_result_with_uncertainty_and_light(live_server, phone):
    from server.demo import demo_id
    from server.extensions import db
    from server.inspect.models import Photo

    photo_id = demo_id("photo:A:unit")
    with live_server.app.app_context():
        photo = db.session.get(Photo, photo_id)
        photo.analysis, photo.analysis_status = dict(ANALYSIS), "review"
        photo.flagged, photo.flag_reasons, photo.review_state = True, ["needs_review"], "open"
        db.session.commit()
        db.session.remove()
    page = phone.new_page()
    _sign_in(page, live_server.url, "reviewer@demo.lineside.test", "demo-reviewer")
    page.goto(live_server.url + f"/#/review/{photo_id}")
    result = page.get_by_test_id("review-analysis")
    expect(result.get_by_test_id("analysis-de")).to_have_text("ΔE00 1.9 ± 0.5", timeout=15_000)
    expect(result.get_by_test_id("analysis-cct")).to_have_text("5230 K", timeout=15_000)
    expect(result.get_by_test_id("analysis-reasons")).to_contain_text("too close to the tolerance", timeout=15_000)
