"""Lineside: a sync server and offline-first PWA for factory quality control after a PO."""
from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask

__version__ = "0.1.0"
MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "migrations")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app. No migrations and no network here: ``flask db upgrade`` makes the schema."""
    app = Flask(__name__, instance_path=os.environ.get("LINESIDE_INSTANCE_PATH") or None,
                static_folder=None)
    from .config import load_config

    app.config.update(load_config(app.instance_path, config))
    from . import all_models, db_setup, errors, extensions, input_guard, requestlog, tasks, web  # noqa: F401

    requestlog.init_app(app)  # first: every later hook and handler sees the request id
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    from .accounts.routes import blp as accounts_blp
    from .catalog.routes import blp as catalog_blp
    from .health import blp as health_blp
    from .metrics import blp as metrics_blp

    extensions.db.init_app(app)
    db_setup.init_app(app)
    extensions.migrate.init_app(app, extensions.db, directory=MIGRATIONS_DIR, render_as_batch=True,
                                compare_type=True)
    extensions.api.init_app(app, spec_kwargs=_spec_kwargs())
    errors.register_error_handlers(app)
    input_guard.init_app(app)
    tasks.init_app(app)
    web.init_app(app)

    app.register_blueprint(health_blp)
    app.register_blueprint(metrics_blp)
    extensions.api.register_blueprint(accounts_blp)
    extensions.api.register_blueprint(catalog_blp)
    for blp in _domain_blueprints():
        extensions.api.register_blueprint(blp)
    _register_sync_entities()

    from .cli import register_cli

    register_cli(app)
    return app


def _domain_blueprints():
    """Blueprints of the domain packages, in the order their endpoints appear in the docs."""
    from .inspect.routes import blp as inspect_blp
    from .inspect.routes import extra_blps as inspect_extra
    from .review.routes import blp as review_blp
    from .storage.routes import blobs_blp
    from .sync.routes import blp as sync_blp
    from .timeline.routes import blp as timeline_blp

    return [inspect_blp, *inspect_extra, sync_blp, blobs_blp, review_blp, timeline_blp]


def _register_sync_entities() -> None:
    """Each domain registers its syncable entities and their rules with sync (the order pull pages follow)."""
    from .catalog import sync as catalog_sync
    from .inspect import sync as inspect_sync
    from .sync import registry
    from .timeline import sync as timeline_sync

    inspect_sync.register()
    timeline_sync.register()
    catalog_sync.register()
    registry.register_own()


def _spec_kwargs() -> dict[str, Any]:
    return {
        "info": {"description": "Lineside API. Errors are application/problem+json with a stable `code`; "
                                "see the error code table in the README."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }
