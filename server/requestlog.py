"""Request ids, one log line per request, and the log format (plain text or JSON).

Every request gets an id: the caller's ``X-Request-Id`` when it is a sane token (letters,
digits, ``-``, ``_``, ``.``, at most 64 characters; a load balancer's id is kept), else a new
one. The id goes back in the ``X-Request-Id`` response header and in every problem+json
answer (``request_id``), and on every log line written while the request runs. When the
request ends one line (logger ``lineside.request``) says method, path, status, duration in
milliseconds and the signed-in user's id (``-`` when nobody signed in).

``LOG_FORMAT=json`` writes each log line as one JSON object (``time``, ``level``, ``logger``,
``message``, ``request_id`` and, on request lines, ``method``, ``path``, ``status``,
``duration_ms``, ``user_id``); the default ``text`` is for people.
"""
from __future__ import annotations

import json
import logging
import re
import time
import uuid
from datetime import datetime, timezone

from flask import Flask, Response, g, has_request_context, request

log = logging.getLogger("lineside.request")

HEADER = "X-Request-Id"
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_REQUEST_FIELDS = ("method", "path", "status", "duration_ms", "user_id")


def current_request_id() -> str | None:
    """The id of the request being served, or None outside a request."""
    if not has_request_context():
        return None
    return getattr(g, "request_id", None)


_base_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args, **kwargs) -> logging.LogRecord:
    """Every log record carries the current request's id (``-`` outside a request), whatever handles it."""
    record = _base_factory(*args, **kwargs)
    record.request_id = current_request_id() or "-"
    return record


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
               "level": record.levelname, "logger": record.name, "message": record.getMessage(),
               "request_id": getattr(record, "request_id", "-")}
        for key in _REQUEST_FIELDS:
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def configure_logging(level: str, fmt: str) -> None:
    """Set the root logger's level and format (``text`` or ``json``); every handler stamps request ids."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    root.setLevel(level)
    formatter = JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    if logging.getLogRecordFactory() is not _record_with_request_id:
        logging.setLogRecordFactory(_record_with_request_id)
    for handler in root.handlers:
        # pytest's capture handlers keep their own format; ours go on the stream handlers
        if type(handler) is logging.StreamHandler:
            handler.setFormatter(formatter)


def init_app(app: Flask) -> None:
    fmt = str(app.config.get("LOG_FORMAT") or "text").lower()
    if fmt not in ("text", "json"):
        raise ValueError(f"LOG_FORMAT must be 'text' or 'json', not {fmt!r}")
    configure_logging(app.config["LOG_LEVEL"], fmt)

    @app.before_request
    def _start() -> None:
        given = request.headers.get(HEADER, "")
        g.request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(resp: Response) -> Response:
        rid = getattr(g, "request_id", None)
        if rid is None:  # pragma: no cover - before_request always runs first
            return resp
        resp.headers[HEADER] = rid
        duration_ms = round((time.perf_counter() - g.request_started) * 1000, 1)
        principal = request.environ.get("lineside.principal")
        user_id = str(principal.id) if principal is not None else "-"
        log.info("%s %s %s %.1f ms user=%s", request.method, request.path, resp.status_code, duration_ms, user_id,
                 extra={"method": request.method, "path": request.path, "status": resp.status_code,
                        "duration_ms": duration_ms, "user_id": user_id})
        return resp
