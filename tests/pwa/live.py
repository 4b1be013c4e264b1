"""A real Lineside server on loopback for browser tests and the PWA benchmark."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from tests.support import databases

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
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
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
