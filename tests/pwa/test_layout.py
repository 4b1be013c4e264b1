"""Layout on a 390 px phone: the manager's menu on one row, tap targets of at least 44 px."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


def _sign_in(page, base, email, password):
    page.goto(base + "/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.locator("#signin button[type=submit]").click()
    page.wait_for_function("() => window.lineside?.ctx?.session")


@pytest.mark.parametrize("who", [("manager@demo.lineside.test", "demo-manager"),
                                 ("reviewer@demo.lineside.test", "demo-reviewer")])
def test_the_menu_is_one_row_at_390_px(live_server, phone, who):
    page = phone.new_page()
    _sign_in(page, live_server.url, *who)
    nav = page.locator("#nav")
    expect(nav.get_by_role("link", name="Settings")).to_be_visible()
    rows = page.evaluate("""() => new Set([...document.querySelectorAll('#nav a')]
        .map((a) => Math.round(a.getBoundingClientRect().top))).size""")
    assert rows == 1
    overflow = page.evaluate("""() => [...document.querySelectorAll('#nav a')]
        .filter((a) => a.getBoundingClientRect().right > window.innerWidth).map((a) => a.textContent)""")
    assert overflow == [], page.evaluate("() => [...document.querySelectorAll('#nav a')].map((a) => [a.textContent, a.getBoundingClientRect().width])")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390


def test_tap_targets_are_at_least_44_px(live_server, phone):
    from server.demo import demo_id

    page = phone.new_page()
    _sign_in(page, live_server.url, "inspector@demo.lineside.test", "demo-inspector")
    page.goto(live_server.url + f"/#/inspection/{demo_id('inspection:inline:A')}")
    page.wait_for_selector("#defect-form")
    small = page.evaluate("""() => [...document.querySelectorAll('main button, main select, main input:not([type=radio]):not([type=checkbox]):not([type=file]), #nav a, sync-status button')]
        .filter((el) => el.offsetParent !== null)
        .map((el) => [el.textContent.trim().slice(0, 30) || el.id || el.name, Math.round(el.getBoundingClientRect().height)])
        .filter(([, h]) => h < 44)""")
    assert small == []
