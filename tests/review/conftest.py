"""Review test helpers: analysed photo rows, a drift scenario, a webhook receiver and an SMTP server."""
from __future__ import annotations

import json
import socket
import threading
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from server.demo import DEMO_LAB


@pytest.fixture
def app_config(app_config):
    """Loopback webhooks allowed (the receiver runs on 127.0.0.1) and a short drift baseline."""
    return {**app_config, "WEBHOOK_ALLOW_PRIVATE": True, "DRIFT_BASELINE_POINTS": 20,
            "WEBHOOK_TIMEOUT_SECONDS": 2}


def add_photo(inspection_id, *, lab=None, status="pass", sequence=None, flagged=False, reasons=(),
              by_inspector=False, confidence=0.95, length_mm=None, width_mm=None, age_minutes=0,
              storage_key=None, delta_e=None):
    """An analysed photo row as the analysis job leaves it (no commit)."""
    from server.extensions import db
    from server.inspect.models import Photo
    from server.models import utcnow

    analysis = {"status": status, "calibrated": True, "lab": list(lab) if lab is not None else None,
                "delta_e_cie2000": delta_e, "length_mm": length_mm, "width_mm": width_mm,
                "confidence": confidence, "reasons": list(reasons), "quality": {}}
    created = utcnow() - timedelta(minutes=age_minutes)
    photo = Photo(id=uuid.uuid4(), inspection_id=inspection_id, sha256="0" * 64, size_bytes=1000,
                  content_type="image/jpeg", upload_state="analysed", storage_key=storage_key,
                  analysis=analysis, analysis_status=status, flagged=flagged, flag_reasons=list(reasons),
                  flagged_by_inspector=by_inspector, review_state="open" if (flagged or by_inspector) else "none",
                  sequence=sequence, created_at=created, taken_at=created)
    db.session.add(photo)
    db.session.flush()
    return photo


def darkening_series(n_baseline=20, n_drift=25, seed=4, step=0.12):
    """Lab values: a steady baseline around the golden sample, then a slow darkening and yellowing."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_baseline + n_drift):
        k = max(0, i - n_baseline + 1)
        mean = np.array(DEMO_LAB) + np.array([-step, 0.0, step * 2 / 3]) * k
        out.append((mean + rng.normal(0, 0.15, 3)).round(3).tolist())
    return out


def run_drift(demo, series, *, start_sequence=1):
    """Add analysed photos of demo batch LOT-A in order, calling the analysis hook after each."""
    from server.review.service import on_photo_analysed

    photos = []
    for i, lab in enumerate(series):
        photo = add_photo(demo("inspection:inline:A"), lab=lab, sequence=start_sequence + i)
        on_photo_analysed(photo)
        photos.append(photo)
    return photos


class Receiver:
    """A webhook receiver on loopback that records requests and answers with ``status``."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        self.event = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append({"headers": dict(self.headers), "body": body})
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                outer.event.set()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/lineside"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self):
        return [json.loads(r["body"]) for r in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server(app):
    """A local SMTP server (aiosmtpd) on a free loopback port, wired into the app's config."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    yield box
    controller.stop()
    app.config.update(SMTP_HOST="")


def make_webhook(client, headers, url, events=("drift.alert.opened", "drift.alert.escalated",
                                               "drift.alert.resolved", "drift.alert.acknowledged")):
    from server.demo import demo_id

    r = client.post("/api/v1/review/webhooks", headers=headers, json={
        "brand_id": str(demo_id("org:brand")), "url": url, "event_types": list(events)})
    assert r.status_code == 201, r.get_json()
    return r.get_json()
