"""Serving the PWA and the API docs page, with a strict Content-Security-Policy.

The app shell lives in ``pwa/`` and is served as plain files (no build step): ``/`` is
``index.html``, ``/sw.js`` the service worker (scope ``/``), ``/manifest.webmanifest`` the
web app manifest, ``/app/<path>`` every other file of ``pwa/``, and ``/data/<file>`` the data
files the server and the PWA share (the AQL tables). Every answer carries a CSP without
``unsafe-inline``: the PWA sets no inline scripts or styles.
"""
from __future__ import annotations

import os
from urllib.parse import urlsplit

from flask import Flask, Response, abort, send_from_directory

PWA_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "pwa"))
DATA_DIR = os.path.join(os.path.dirname(__file__), "inspect", "data")

CSP_TEMPLATE = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:{storage}; "
                "connect-src 'self'{storage}; worker-src 'self'; manifest-src 'self'; object-src 'none'; "
                "base-uri 'self'; frame-ancestors 'none'; form-action 'self'")
CSP = CSP_TEMPLATE.format(storage="")


def storage_origins(config: dict) -> list[str]:
    """The origins the PWA loads photos from and uploads them to: none besides ``'self'`` for the local
    folder; the S3 endpoint (path style), the bucket's host (virtual-hosted style) or AWS's, for S3.
    ``STORAGE_PUBLIC_ORIGIN`` (space-separated) replaces the guess, e.g. for a CDN in front of the bucket."""
    if config.get("STORAGE_PUBLIC_ORIGIN"):
        return config["STORAGE_PUBLIC_ORIGIN"].split()
    url = urlsplit(config.get("STORAGE_URL") or "")
    if url.scheme != "s3":
        return []
    bucket = url.netloc
    endpoint = urlsplit(config.get("S3_ENDPOINT_URL") or "")
    if endpoint.scheme and endpoint.netloc:
        if config.get("S3_PATH_STYLE"):
            return [f"{endpoint.scheme}://{endpoint.netloc}"]
        return [f"{endpoint.scheme}://{bucket}.{endpoint.netloc}", f"{endpoint.scheme}://{endpoint.netloc}"]
    region = config.get("S3_REGION") or "us-east-1"
    return [f"https://{bucket}.s3.{region}.amazonaws.com", f"https://s3.{region}.amazonaws.com",
            f"https://{bucket}.s3.amazonaws.com"]


def csp_for(config: dict) -> str:
    """The Content-Security-Policy: images and connections only to this site and the photo storage."""
    origins = storage_origins(config)
    return CSP_TEMPLATE.format(storage="".join(f" {o}" for o in origins))


def _no_cache(resp: Response) -> Response:
    """Revalidate on every request: the service worker's versioned cache does the caching."""
    resp.headers["Cache-Control"] = "no-cache"
    return resp


def trust_proxies(app: Flask) -> None:
    """Read the client's address and scheme from ``X-Forwarded-For``/``-Proto``/``-Host``, as set by
    the ``TRUSTED_PROXY_COUNT`` reverse proxies in front of the app, and from nobody else.

    With 0 (the default) the forwarded headers are ignored: the connecting address is the client.
    Behind one TLS proxy set 1: the right-most ``X-Forwarded-For`` entry, the one the proxy added, is
    the client; entries a client wrote itself further left are never believed.
    """
    count = int(app.config.get("TRUSTED_PROXY_COUNT") or 0)
    if count > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)


def init_app(app: Flask) -> None:
    """Register the PWA routes and the security headers on every answer."""
    trust_proxies(app)

    csp = csp_for(app.config)

    @app.after_request
    def _security_headers(resp: Response) -> Response:
        resp.headers.setdefault("Content-Security-Policy", csp)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp

    @app.get("/")
    def pwa_index():
        """The app shell's page."""
        return _no_cache(send_from_directory(PWA_DIR, "index.html", max_age=0))

    @app.get("/sw.js")
    def service_worker():
        """The service worker, served from the root so its scope is the whole site."""
        resp = _no_cache(send_from_directory(PWA_DIR, "sw.js", max_age=0, mimetype="text/javascript"))
        resp.headers["Service-Worker-Allowed"] = "/"
        return resp

    @app.get("/manifest.webmanifest")
    def manifest():
        """The web app manifest (name, icons, theme, standalone display)."""
        return _no_cache(send_from_directory(PWA_DIR, "manifest.webmanifest", max_age=0,
                                             mimetype="application/manifest+json"))

    @app.get("/favicon.ico")
    def favicon():
        """Browsers ask for it whatever the page says: answer the PNG icon."""
        return _no_cache(send_from_directory(os.path.join(PWA_DIR, "icons"), "icon-192.png", max_age=0))

    @app.get("/data/<path:name>")
    def shared_data(name: str):
        """Data files the server and the PWA both read (the AQL tables)."""
        return _no_cache(send_from_directory(DATA_DIR, name, max_age=0))

    @app.get("/app/<path:name>")
    def pwa_asset(name: str):
        """A file of the app shell."""
        if name.startswith(".") or "/." in name:
            abort(404)
        mimetype = "text/javascript" if name.endswith(".js") else None
        return _no_cache(send_from_directory(PWA_DIR, name, max_age=0, mimetype=mimetype))

    @app.get("/api/docs")
    def api_docs():
        """A small API reference page, built from /api/openapi.json with local assets only."""
        return _no_cache(send_from_directory(os.path.join(PWA_DIR, "docs"), "api.html", max_age=0))
