"""Refuse input no handler should see: JSON nested too deep, and text no database can store.

* Every JSON body (and the sync push, whatever its Content-Type) is measured for nesting
  *before* it is parsed: more than ``JSON_MAX_DEPTH`` levels of arrays and objects answers
  422. A parser recursing into a "JSON bomb" would otherwise run out of stack (a 500).
* NUL characters and lone UTF-16 surrogates: PostgreSQL rejects both inside text, and they
  have no business in a form field. Checking once, for every JSON body and query string,
  answers a clear 422 instead of a database error.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
from flask import Flask, current_app, request

from .errors import ValidationFailed


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_DEPTH_STEP = np.zeros(256, dtype=np.int8)
_DEPTH_STEP[[ord("["), ord("{")]] = 1
_DEPTH_STEP[[ord("]"), ord("}")]] = -1
#: Request paths whose body is parsed as JSON whatever the Content-Type says.
JSON_PATHS = frozenset({"/api/v1/sync/push"})
#: Raw bytes (photo uploads to the local storage backend) are never read as JSON.
RAW_PREFIX = "/api/v1/blobs/storage/"


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text (brackets inside strings do not count).

    Linear in the size of ``raw`` and without recursion, so it is safe on any input; it does not
    check that the text is valid JSON.
    """
    if raw.count(b"[") + raw.count(b"{") == 0:
        return 0
    stripped = _JSON_STRING.sub(b"", raw) if b'"' in raw else raw
    steps = _DEPTH_STEP[np.frombuffer(stripped, dtype=np.uint8)]
    steps = steps[steps != 0].astype(np.int32)
    return int(np.cumsum(steps).max()) if steps.size else 0


def check_json_depth(raw: bytes, limit: int) -> None:
    """Raise ``ValidationFailed`` when ``raw`` nests arrays and objects more than ``limit`` levels deep."""
    # At most ``limit`` brackets in all cannot nest deeper than ``limit``: the common case costs two counts.
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return
    if json_depth(raw) > limit:
        raise ValidationFailed(f"The JSON body is nested more than {limit} levels deep.",
                               errors={"json": [f"Nested more than {limit} levels deep."]})


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


#: API endpoints anyone may call without signing in (their own token or link is the credential).
#: The iCalendar feed is keyed by the secret token in its address (calendar apps send no bearer token).
PUBLIC_ENDPOINTS = frozenset({"accounts.Login", "accounts.PasswordResetConfirm", "blobs.StorageObject",
                              "timeline.CalendarIcs"})
#: ... and those that take either a bearer token or a signed ``token`` query parameter.
TOKEN_QUERY_ENDPOINTS = frozenset({"review.BatchDriftSvg"})


def _sign_in_first() -> None:
    """Authenticate before any body or query is judged: an anonymous caller gets 401, never field errors."""
    if not request.path.startswith("/api/v1/") or request.method == "OPTIONS" or request.endpoint is None:
        return
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    if request.endpoint in TOKEN_QUERY_ENDPOINTS and request.args.get("token"):
        return
    from .auth import current_principal

    current_principal()  # raises Unauthenticated; cached for the view's own require()


def init_app(app: Flask) -> None:
    @app.before_request
    def _refuse_unstorable_text():
        limit = int(current_app.config["URL_MAX_CHARS"])
        if len(request.full_path) > limit:
            from .errors import problem

            return problem(414, title="URI too long", detail=f"The URL is over {limit} characters.")
        _sign_in_first()
        if request.path.startswith(RAW_PREFIX):
            return
        too_big_to_read = (request.path in JSON_PATHS and (request.content_length or 0)
                           > current_app.config["SYNC_PUSH_MAX_BYTES"])  # the push answers 413 itself
        if (request.is_json or request.path in JSON_PATHS) and not too_big_to_read:
            # A push is judged per mutation (a too-deep value rejects its own mutation, by its field's
            # declaration); the whole batch is refused only beyond what the parser reads.
            key = "SYNC_PUSH_JSON_MAX_DEPTH" if request.path in JSON_PATHS else "JSON_MAX_DEPTH"
            check_json_depth(request.get_data(cache=True), int(current_app.config[key]))
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
