"""Refuse text that no database can store: NUL characters and lone UTF-16 surrogates.

PostgreSQL rejects both inside text, and they have no business in a form field. Checking
once, for every JSON body and query string, answers a clear 422 instead of a database error.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, request

from .errors import ValidationFailed


def _bad_text(value: str) -> str | None:
    if "\x00" in value:
        return "Text may not contain NUL characters."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Text must be valid Unicode (no lone surrogates)."
    return None


def find_bad_text(value: Any, path: str = "") -> tuple[str, str] | None:
    """The first ``(path, reason)`` of unstorable text in a parsed JSON value, or None."""
    if isinstance(value, str):
        reason = _bad_text(value)
        return (path or "body", reason) if reason else None
    if isinstance(value, dict):
        for k, v in value.items():
            found = find_bad_text(k, path) if isinstance(k, str) and _bad_text(k) else None
            found = found or find_bad_text(v, f"{path}.{k}" if path else str(k))
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = find_bad_text(v, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


def init_app(app: Flask) -> None:
    @app.before_request
    def _refuse_unstorable_text():
        for key, val in request.args.items(multi=True):
            reason = _bad_text(key) or _bad_text(val)
            if reason:
                raise ValidationFailed(errors={"query": {key: [reason]}})
        # A sync push is judged per mutation (one bad mutation must not block a phone's queue).
        if request.is_json and request.content_length and request.path != "/api/v1/sync/push":
            data = request.get_json(silent=True)
            found = find_bad_text(data)
            if found:
                raise ValidationFailed(errors={"json": {found[0]: [found[1]]}})
