"""Background work with Celery: eager (in-process) by default, a broker when configured.

Tasks are defined with ``@shared_task`` in their domain package and run inside the
app context. ``celery -A server.tasks:celery_app worker`` starts a worker.
"""
from __future__ import annotations

from celery import Celery, Task
from flask import Flask


def init_app(app: Flask) -> Celery:
    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    eager = app.config["CELERY_EAGER"]
    celery = Celery(app.import_name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=app.config["CELERY_BROKER_URL"] or "memory://",
        result_backend=app.config["CELERY_RESULT_BACKEND"] or None,
        task_always_eager=eager,
        task_eager_propagates=False,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        # Redis: an unacknowledged task (its worker was killed) is handed out again after this
        broker_transport_options={"visibility_timeout": int(app.config["CELERY_VISIBILITY_TIMEOUT_SECONDS"])},
        result_backend_transport_options={"visibility_timeout": int(app.config["CELERY_VISIBILITY_TIMEOUT_SECONDS"])},
        # celery -A server.tasks:celery_app beat (one, anywhere): the periodic analysis sweep
        # (and the webhook retries that wait longer than the broker keeps a task unseen, see longest_countdown)
        beat_schedule={"analysis-sweep": {"task": "inspect.sweep_pending",
                                          "schedule": float(app.config["ANALYSIS_SWEEP_INTERVAL_SECONDS"])},
                       "webhooks-retry": {"task": "review.retry_due_webhooks", "schedule": 60.0}},
    )
    celery.set_default()
    app.extensions["celery"] = celery
    _import_task_modules()
    return celery


def longest_countdown() -> int:
    """The longest a task may wait for a retry on the broker (seconds).

    Redis hands an unacknowledged task out again after ``CELERY_VISIBILITY_TIMEOUT_SECONDS``,
    and a task waiting for its countdown is unacknowledged: a longer wait would be run twice.
    Longer waits are left to a periodic job instead (the analysis sweep, ``webhooks-retry``).
    """
    from flask import current_app

    return max(1, int(current_app.config["CELERY_VISIBILITY_TIMEOUT_SECONDS"]) - 60)


def _import_task_modules() -> None:
    import importlib

    for module in ("server.inspect.jobs", "server.review.jobs", "server.timeline.jobs"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not (exc.name and module.startswith(exc.name)):
                raise


def make_worker_app() -> Celery:
    """The Celery app for ``celery -A server.tasks:celery_app worker``."""
    from . import create_app

    return create_app().extensions["celery"]


def __getattr__(name: str):
    if name == "celery_app":
        return make_worker_app()
    raise AttributeError(name)
