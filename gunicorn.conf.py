"""gunicorn settings for Lineside. Environment: PORT, BIND, WEB_CONCURRENCY, GUNICORN_THREADS."""
import os

bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = 60
graceful_timeout = 20
accesslog = "-"
errorlog = "-"
# Behind a proxy: trust X-Forwarded-* only from the proxy's address.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):
    # Each worker would otherwise sign tokens and links with its own idea of the key;
    # a key generated into the instance folder only suits one process on one machine.
    if workers > 1 and not os.environ.get("SECRET_KEY"):
        raise SystemExit("Refusing to start several workers without an explicit SECRET_KEY. "
                         "Set SECRET_KEY (the same on every machine) or use WEB_CONCURRENCY=1.")
