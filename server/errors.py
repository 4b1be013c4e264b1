"""Domain errors and their mapping to ``application/problem+json`` answers.

Services raise the exceptions below; one handler turns them into HTTP answers.
Every answer carries a stable ``code``. The codes:

| code                 | status | meaning                                                    |
|----------------------|--------|------------------------------------------------------------|
| bad_request          | 400    | the request could not be read (malformed JSON, bad query)  |
| unauthenticated      | 401    | no token, or an expired or revoked token                   |
| forbidden            | 403    | signed in, but the role may not do this                    |
| not_found            | 404    | no such resource, or it belongs to another tenant          |
| method_not_allowed   | 405    | the resource does not answer this HTTP method              |
| conflict             | 409    | the request clashes with the current state                 |
| release_blocked      | 409    | a shipment's release gate holds (see ``missing``)          |
| protocol_outdated    | 409    | the phone speaks an old sync protocol and must update      |
| gone                 | 410    | the sync cursor is too old or the scope changed: resync    |
| payload_too_large    | 413    | the body, the batch or the file is over its limit          |
| unsupported_media    | 415    | the file is not of an accepted type                        |
| validation_failed    | 422    | the body was read but some fields are wrong (see errors)   |
| rate_limited         | 429    | too many attempts; retry later                             |
| internal_error       | 500    | an unexpected failure; nothing was half-written            |
| unavailable          | 503    | a dependency (database, storage) is down; retry later      |
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"

_HTTP_CODES = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 410: "gone", 413: "payload_too_large", 414: "uri_too_long",
    415: "unsupported_media", 422: "validation_failed", 429: "rate_limited",
    500: "internal_error", 503: "unavailable",
}


class LinesideError(Exception):
    """Base of every domain error: a status, a stable code, a title and a detail."""

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(self, detail: str | None = None, *, errors: Any = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.extra = extra


class Unauthenticated(LinesideError):
    status, code, title = 401, "unauthenticated", "Sign-in required"


class Forbidden(LinesideError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(LinesideError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(LinesideError):
    status, code, title = 409, "conflict", "Conflict"


class ProtocolOutdated(LinesideError):
    status, code, title = 409, "protocol_outdated", "Please update the app"


class Gone(LinesideError):
    status, code, title = 410, "gone", "Resync needed"


class PayloadTooLarge(LinesideError):
    status, code, title = 413, "payload_too_large", "Too large"


class UnsupportedMedia(LinesideError):
    status, code, title = 415, "unsupported_media", "Unsupported file type"


class ValidationFailed(LinesideError):
    status, code, title = 422, "validation_failed", "Some fields are not valid"


class RateLimited(LinesideError):
    status, code, title = 429, "rate_limited", "Too many attempts"


class Unavailable(LinesideError):
    """A dependency is down; give ``retry_after_seconds=`` for a ``Retry-After`` header."""

    status, code, title = 503, "unavailable", "Temporarily unavailable"


def problem(status: int, *, code: str | None = None, title: str | None = None,
            detail: str | None = None, errors: Any = None, headers: dict | None = None,
            **extra: Any) -> Response:
    """Build one ``application/problem+json`` response."""
    body: dict[str, Any] = {
        "type": f"https://lineside.invalid/problems/{code or _HTTP_CODES.get(status, 'error')}",
        "title": title or _HTTP_CODES.get(status, "error").replace("_", " ").capitalize(),
        "status": status,
        "detail": detail or title or "",
        "code": code or _HTTP_CODES.get(status, "error"),
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    from .requestlog import current_request_id

    rid = current_request_id()
    if rid is not None:
        body["request_id"] = rid  # the same id as the X-Request-Id header and the log lines
    resp = Response(json.dumps(body), status=status, mimetype=PROBLEM)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def register_error_handlers(app: Flask) -> None:
    """Every error leaves as problem+json: domain errors, HTTP errors, and the unexpected."""

    @app.errorhandler(LinesideError)
    def _domain(exc: LinesideError) -> Response:
        from .extensions import db

        # Nothing half-written: what the refused request added or changed is dropped now, not only
        # when the app context ends (which, in a shell, a worker or the tests, may be much later).
        db.session.rollback()
        headers = {}
        if exc.extra.get("retry_after_seconds") is not None:  # 429 and 503 say when to come back
            headers["Retry-After"] = str(max(1, int(exc.extra["retry_after_seconds"])))
        return problem(exc.status, code=exc.code, title=exc.title, detail=exc.detail,
                       errors=exc.errors, headers=headers, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        errors = None
        detail = exc.description
        # flask-smorest (webargs) puts marshmallow messages on exc.data
        data = getattr(exc, "data", None) or {}
        if isinstance(data, dict) and "messages" in data:
            errors = data["messages"]
            detail = "Some fields are not valid; see errors."
        headers = {}
        valid_methods = getattr(exc, "valid_methods", None)
        if status == 405 and valid_methods:
            headers["Allow"] = ", ".join(valid_methods)
        if status == 413:
            detail = "The request body is over the size limit."
        return problem(status, title=exc.name, detail=detail, errors=errors, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

        from .extensions import db

        try:
            db.session.rollback()
        except Exception:  # pragma: no cover - the session may be unusable
            pass
        if isinstance(exc, IntegrityError):
            # A rule the service did not check first (a reference or a uniqueness the database enforces).
            log.warning("integrity error reached the handler: %s", exc.orig)
            return problem(409, detail="The change clashes with existing data (a duplicate or a missing reference); "
                                       "nothing was written.")
        if isinstance(exc, (OperationalError, InterfaceError)) and _looks_unreachable(exc):
            log.warning("database unavailable: %s", exc)
            return problem(503, detail="The database is unreachable; nothing was applied. Retry later.",
                           headers={"Retry-After": "5"})
        log.exception("unexpected error")
        return problem(500, title="Internal error",
                       detail="Something went wrong on the server; nothing was half-written.")


def _looks_unreachable(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("connection", "could not connect", "server closed", "terminating",
                                   "database is locked", "timeout", "unable to open"))
