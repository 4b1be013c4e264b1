"""Prometheus metrics, served at ``GET /metrics`` to whoever holds ``METRICS_TOKEN``.

The endpoint answers 404 unless ``METRICS_TOKEN`` is set, and 401 without
``Authorization: Bearer <METRICS_TOKEN>``: metrics name tenants' volumes and must not be
public. Under gunicorn every worker is its own process: ``gunicorn.conf.py`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh folder before the workers start, each worker writes
its figures there, and ``/metrics`` adds them up (prometheus-client's multiprocess mode;
a dead worker's gauges are dropped by the ``child_exit`` hook). Without that variable (tests,
``flask run``) the figures are the one process's own.

What is measured (all names start with ``lineside_``):

* ``sync_push_seconds``, ``sync_pull_seconds``: request latency of a push and a pull page;
* ``sync_mutations_total{outcome,reason}``: pushed mutations by answer (applied, conflict,
  rejected with its reason, duplicate);
* ``sync_conflicts_total``: fields that lost a merge;
* ``sync_pull_changes``: changes per pull page;
* ``photo_uploads_total{outcome}`` and ``photo_upload_seconds``: upload completions;
* ``photo_analyses_total{outcome}`` and ``photo_analysis_seconds``: photo analyses;
* ``deliveries_total{channel,outcome}``: webhook attempts and alert e-mails.
"""
from __future__ import annotations

import functools
import hmac
import os
import time
from typing import Any, Callable

from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from .errors import LinesideError, NotFound, Unauthenticated

blp = Blueprint("metrics", __name__)

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10)

PUSH_SECONDS = Histogram("lineside_sync_push_seconds", "Time to answer a sync push", buckets=_LATENCY)
PULL_SECONDS = Histogram("lineside_sync_pull_seconds", "Time to answer a sync pull page", buckets=_LATENCY)
MUTATIONS = Counter("lineside_sync_mutations", "Pushed mutations by answer", ["outcome", "reason"])
CONFLICTS = Counter("lineside_sync_conflicts", "Fields that lost a merge")
PULL_CHANGES = Histogram("lineside_sync_pull_changes", "Changes per pull page",
                         buckets=(0, 1, 10, 50, 100, 250, 500, 1000, 2000))
UPLOADS = Counter("lineside_photo_uploads", "Photo upload completions by outcome", ["outcome"])
UPLOAD_SECONDS = Histogram("lineside_photo_upload_seconds", "Time to complete a photo upload", buckets=_LATENCY)
ANALYSES = Counter("lineside_photo_analyses", "Photo analyses by outcome", ["outcome"])
ANALYSIS_SECONDS = Histogram("lineside_photo_analysis_seconds", "Time to analyse a photo",
                             buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))
DELIVERIES = Counter("lineside_deliveries", "Webhook attempts and alert e-mails by outcome", ["channel", "outcome"])


def observe_push(seconds: float, results: list[dict]) -> None:
    PUSH_SECONDS.observe(seconds)
    counts: dict[tuple[str, str], int] = {}
    conflicts = 0
    for r in results:
        key = (str(r.get("status")), str(r.get("reason") or ""))
        counts[key] = counts.get(key, 0) + 1
        if r.get("status") == "conflict":
            conflicts += len(r.get("conflicts") or ())
    for (outcome, reason), n in counts.items():
        MUTATIONS.labels(outcome, reason).inc(n)
    if conflicts:
        CONFLICTS.inc(conflicts)


def observe_pull(seconds: float, changes: int) -> None:
    PULL_SECONDS.observe(seconds)
    PULL_CHANGES.observe(changes)


def outcome_of(counter: Counter, histogram: Histogram | None = None, *, outcome: Callable[[Any], str],
               **labels: str) -> Callable:
    """Decorate a function: count each call by ``outcome(result)`` (``refused`` when it raises a 4xx
    error, ``error`` for anything else it raises) and time it."""
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            start = time.perf_counter()
            result_label = "error"
            try:
                result = fn(*args, **kwargs)
                result_label = outcome(result)
                return result
            except LinesideError:
                result_label = "refused"  # bad input, answered 4xx
                raise
            finally:
                counter.labels(**labels, outcome=result_label).inc()
                if histogram is not None:
                    histogram.observe(time.perf_counter() - start)
        return inner
    return wrap


def _registry() -> CollectorRegistry | None:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


@blp.get("/metrics")
def metrics() -> Response:
    token = current_app.config.get("METRICS_TOKEN") or ""
    if not token:
        raise NotFound("Metrics are off: set METRICS_TOKEN to serve them.")
    sent = request.headers.get("Authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        raise Unauthenticated("Send Authorization: Bearer <METRICS_TOKEN>.")
    registry = _registry()
    body = generate_latest(registry) if registry is not None else generate_latest()
    return Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0], headers={"Cache-Control": "no-store"})
