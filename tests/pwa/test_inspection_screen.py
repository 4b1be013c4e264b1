"""The inspection screen's counting and forms: photo-derived measurements, the defect class."""
from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture
def screen(live_server, phone):
    from server.demo import demo_id

    inspection = str(demo_id("inspection:final:B"))
    page = phone.new_page()
    page.goto(live_server.url + "/")
    page.get_by_label("Email").fill("inspector@demo.lineside.test")
    page.get_by_label("Password").fill("demo-inspector")
    page.locator("#signin button[type=submit]").click()
    page.wait_for_selector(f"[data-testid='inspection-{inspection}']")
    page.wait_for_function("() => { const s = window.lineside.syncState; return !s.running && s.lastSync && !s.error"
                           " && s.pending === 0; }", timeout=20_000)
    page.goto(live_server.url + f"/#/inspection/{inspection}")
    page.wait_for_selector("[data-testid=units-seen]")
    return page, inspection


def test_photo_measurements_are_not_an_extra_unit(screen):
    from server.demo import demo_id

    page, inspection = screen
    # What the server sends for a photo analysed without a unit: a measurement filed under index 0.
    page.evaluate("""async ([inspection, spec]) => {
        const { tx } = await import('/app/lib/db.js');
        await tx(['records'], 'readwrite', (t) => t.objectStore('records').put({ key: 'measurement:from-photo',
          entity: 'measurement', id: 'from-photo', rev: 1, deleted: false, inspection_id: inspection,
          fields: { inspection_id: inspection, dimension_spec_id: spec, unit_index: 0, value_entered: 120.4,
            unit_entered: 'mm', value_si: 120.4, in_tolerance: true, source: 'photo', photo_id: 'p1' } }));
    }""", [inspection, str(demo_id("spec:length"))])
    page.reload()
    for unit in range(1, 6):
        field = page.get_by_test_id(f"measure-length-{unit}")
        field.fill(f"120.{unit}")
        field.blur()
        expect(page.get_by_test_id("saved")).to_contain_text("Saved on this phone")
    expect(page.get_by_test_id("units-seen")).to_have_text("5 / 125")
    expect(page.get_by_test_id("photo-measurements")).to_have_text(re.compile(r"^Length: 120\.4 mm\s+· In tolerance$"))
    assert page.get_by_text("Unit 0").count() == 0


def test_a_defect_class_chosen_first_is_kept(screen):
    page, inspection = screen
    page.get_by_label("Class").select_option("critical")
    page.get_by_label("Defect", exact=True).fill("scratch")  # the library's default for a scratch is minor
    page.get_by_label("Defect", exact=True).dispatch_event("change")
    expect(page.get_by_label("Class")).to_have_value("critical")
    page.get_by_role("button", name="Log defect").click()
    expect(page.get_by_test_id("defect-list")).to_contain_text("Critical")
    stored = page.evaluate("async (i) => (await window.lineside.getAll('records')).filter((r) => r.entity === 'defect'"
                           " && r.inspection_id === i && r.fields.code === 'scratch').map((r) => r.fields.defect_class)",
                           inspection)
    assert stored == ["critical"]
    # Without a choice of their own, the library's default still fills in.
    page.get_by_label("Defect", exact=True).fill("dent")
    page.get_by_label("Defect", exact=True).dispatch_event("change")
    expect(page.get_by_label("Class")).to_have_value("major")
