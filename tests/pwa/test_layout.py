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
    page.wait_for_selector(f"[data-testid='inspection-{demo_id('inspection:final:B')}']")  # downloaded
    page.goto(live_server.url + f"/#/inspection/{demo_id('inspection:final:B')}")
    page.wait_for_selector("#defect-form")
    small = page.evaluate("""() => [...document.querySelectorAll('main button, main select, main input:not([type=radio]):not([type=checkbox]):not([type=file]), #nav a, sync-status button')]
        .filter((el) => el.offsetParent !== null)
        .map((el) => [el.textContent.trim().slice(0, 30) || el.id || el.name, Math.round(el.getBoundingClientRect().height)])
        .filter(([, h]) => h < 44)""")
    assert small == []


def test_new_inspection_panels_fit_360_px_in_chinese(live_server, phone):
    from server.demo import demo_id

    page = phone.new_page()
    _sign_in(page, live_server.url, "inspector@demo.lineside.test", "demo-inspector")
    page.wait_for_selector(f"[data-testid='inspection-{demo_id('inspection:final:B')}']")  # downloaded
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Language").select_option("zh-CN")
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(live_server.url + f"/#/inspection/{demo_id('inspection:final:B')}")
    page.get_by_role("button", name="检查并签署").click()
    expect(page.get_by_test_id("signoff")).to_contain_text("签署本次检验")
    expect(page.locator("#label")).to_contain_text("外箱标签核对")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('main input, main select, main textarea, main button')]
        .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || (el.tagName === 'BUTTON' && el.textContent.trim())))
        .map((el) => el.outerHTML.slice(0, 80))""")
    assert unlabelled == []
