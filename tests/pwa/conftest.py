"""Browser-test fixtures: the real app served on loopback, and headless Chromium.

The server is the real Flask app (werkzeug, threaded) on a free 127.0.0.1 port, with a
fresh SQLite database migrated by Alembic and seeded with the demo. Chromium is Debian's
(``/usr/bin/chromium``, override with ``CHROMIUM_PATH``); the tests skip when it or
Playwright is missing.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.pwa.live import CHROMIUM_ARGS, PHONE, LiveServer

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("pwa"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        from tests.support.databases import in_ci

        if in_ci():  # CI installs Debian's chromium: a missing browser is a broken CI, not a skip
            pytest.fail(f"no Chromium at {CHROMIUM}")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def phone(browser):
    """A fresh browser profile the size of a phone (390 × 844), service workers allowed."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  service_workers="allow", locale="en-GB")
    yield context
    context.close()
