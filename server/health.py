"""Liveness and readiness probes.

``GET /livez``
    The process answers: 200 ``{"status": "ok"}``, touching nothing else. A failing liveness
    probe means restart the process.
``GET /readyz``
    Can this instance do its work? Checks the database (``SELECT 1``), photo storage (the
    bucket or folder answers) and the task broker (a connection to ``CELERY_BROKER_URL``;
    ``in-process`` without one). 200 when the database and storage answer, else 503 (take the
    instance out of the load balancer). A broker that does not answer makes the status
    ``degraded`` but still 200 unless ``HEALTH_REQUIRE_BROKER`` is set: uploads still complete
    and their analyses wait in the database until the broker is back (the analysis sweep).
``GET /healthz``
    The same as ``/readyz`` (kept for existing monitors).
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from . import __version__
from .extensions import db

blp = Blueprint("health", __name__)


@blp.get("/livez")
def livez():
    return jsonify({"status": "ok", "version": __version__}), 200


@blp.get("/readyz")
@blp.get("/healthz")
def readyz():
    checks = {"database": _check_database(), "storage": _check_storage()}
    broker = _check_broker()
    required_ok = all(checks.values()) and (broker is not False or not current_app.config["HEALTH_REQUIRE_BROKER"])
    ok = all(checks.values()) and broker is not False
    body = {"status": "ok" if ok else "degraded", "version": __version__, **checks,
            "broker": "in-process" if broker is None else broker}
    return jsonify(body), (200 if required_ok else 503)


def _check_database() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()  # end the read: nothing to keep open between probes
        return True
    except Exception:
        db.session.rollback()
        current_app.logger.warning("health: database unreachable", exc_info=True)
        return False


def _check_storage() -> bool:
    from .storage.backends import get_storage

    try:
        return bool(get_storage().ping())
    except Exception:
        current_app.logger.warning("health: storage unreachable", exc_info=True)
        return False


def _check_broker() -> bool | None:
    """True when the broker accepts a connection, False when not, None without one (eager mode)."""
    celery = current_app.extensions.get("celery")
    if celery is None or celery.conf.task_always_eager:
        return None
    try:
        with celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=2)
        return True
    except Exception:
        current_app.logger.warning("health: broker unreachable", exc_info=True)
        return False
