"""gunicorn settings for Lineside. Environment: PORT, BIND, WEB_CONCURRENCY, GUNICORN_THREADS,
PROMETHEUS_MULTIPROC_DIR (where workers write their metrics; a fresh temporary folder by default)."""
import os
import shutil
import tempfile
from pathlib import Path

bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = 60
graceful_timeout = 20
# Request limits. What gunicorn refuses itself it answers with its own small HTML page (it cannot
# be made to answer problem+json), so its limits sit above the app's: a URL up to URL_MAX_CHARS
# (4096) and headers the app reads get a problem+json answer from the app (414, 431 ...); only
# beyond these gunicorn answers 400/414/431 in HTML. See README "Production notes".
limit_request_line = 8190  # gunicorn's maximum; the app refuses URLs over URL_MAX_CHARS with 414
limit_request_fields = 100
limit_request_field_size = 16380
accesslog = "-"
errorlog = "-"
# Behind a proxy: gunicorn trusts X-Forwarded-Proto/-SSL only from these addresses (the proxy's).
# The app itself reads the client address from X-Forwarded-For through TRUSTED_PROXY_COUNT.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):
    # Each worker would otherwise sign tokens and links with its own idea of the key;
    # a key generated into the instance folder only suits one process on one machine.
    if workers > 1 and not os.environ.get("SECRET_KEY"):
        raise SystemExit("Refusing to start several workers without an explicit SECRET_KEY. "
                         "Set SECRET_KEY (the same on every machine) or use WEB_CONCURRENCY=1.")


# Metrics (server/metrics.py): each worker writes its figures to files in one folder, which
# /metrics adds up. Set before the workers start (they import prometheus-client after the fork).
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="lineside-metrics-")
else:
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
    for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        stale.unlink()  # figures of an earlier run would be added to this one's


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
