"""Serving the PWA and the API docs page, with a strict Content-Security-Policy."""
from __future__ import annotations

import os

from flask import Flask, Response, abort, send_from_directory

PWA_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "pwa"))
DATA_DIR = os.path.join(os.path.dirname(__file__), "inspect", "data")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data: https: http:; "
       "connect-src 'self' https: http:; worker-src 'self'; manifest-src 'self'; object-src 'none'; "
       "base-uri 'self'; frame-ancestors 'none'; form-action 'self'")


def init_app(app: Flask) -> None:
    @app.after_request
    def _security_headers(resp: Response) -> Response:
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp

    @app.get("/")
    def pwa_index():
        resp = send_from_directory(PWA_DIR, "index.html", max_age=0)
        resp.headers["Cache-Control"] = "no-cache"
        return resp

    @app.get("/sw.js")
    def service_worker():
        resp = send_from_directory(PWA_DIR, "sw.js", max_age=0)
        resp.headers["Cache-Control"] = "no-cache"
        resp.headers["Service-Worker-Allowed"] = "/"
        return resp

    @app.get("/data/<path:name>")
    def shared_data(name: str):
        """Data files the server and the PWA both read (the AQL tables)."""
        resp = send_from_directory(DATA_DIR, name, max_age=0)
        resp.headers["Cache-Control"] = "no-cache"
        return resp

    @app.get("/app/<path:name>")
    def pwa_asset(name: str):
        if name.startswith(".") or "/." in name:
            abort(404)
        resp = send_from_directory(PWA_DIR, name, max_age=0)
        resp.headers["Cache-Control"] = "no-cache"
        return resp

    @app.get("/api/docs")
    def api_docs():
        return send_from_directory(os.path.join(PWA_DIR, "docs"), "api.html", max_age=0)
