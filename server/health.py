"""``GET /healthz``: is the app up, and can it reach its database and storage?"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from . import __version__
from .extensions import db

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz():
    checks = {"database": _check_database(), "storage": _check_storage()}
    ok = all(checks.values())
    body = {"status": "ok" if ok else "degraded", "version": __version__, **checks}
    return jsonify(body), (200 if ok else 503)


def _check_database() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except Exception:
        db.session.rollback()
        current_app.logger.warning("health: database unreachable", exc_info=True)
        return False


def _check_storage() -> bool:
    try:
        from .storage.backends import get_storage
    except ModuleNotFoundError:
        return True
    try:
        return bool(get_storage().ping())
    except Exception:
        current_app.logger.warning("health: storage unreachable", exc_info=True)
        return False
