"""Browser-test fixtures: the real app served on loopback, and headless Chromium.

The server is the real Flask app (werkzeug, threaded) on a free 127.0.0.1 port, with a
fresh SQLite database migrated by Alembic and seeded with the demo. Chromium is Debian's
(``/usr/bin/chromium``, override with ``CHROMIUM_PATH``); the tests skip when it or
Playwright is missing.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.support import databases

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
PHONE = {"width": 390, "height": 844}


class LiveServer:
    """A running app: ``url``, the Flask ``app`` (for database checks) and ``stop()``."""

    def __init__(self, tmp: Path):
        from werkzeug.serving import make_server

        from server import create_app
        from server.demo import seed_demo
        from server.extensions import db

        url = databases.create_database("sqlite", tmp)
        databases.migrate(url)
        self.app = create_app({"DATABASE_URL": url, "TESTING": True, "STORAGE_URL": f"file://{tmp / 'storage'}",
                               "LOGIN_MAX_FAILURES_PER_ADDRESS": 1000})
        with self.app.app_context():
            seed_demo()
            db.session.remove()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)
        with self.app.app_context():
            from server.extensions import db

            db.engine.dispose()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("pwa"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
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
