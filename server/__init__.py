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
    logging.basicConfig(level=app.config["LOG_LEVEL"])
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    from . import all_models, db_setup, errors, extensions, input_guard, tasks, web  # noqa: F401
    from .accounts.routes import blp as accounts_blp
    from .catalog.routes import blp as catalog_blp
    from .health import blp as health_blp

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
    extensions.api.register_blueprint(accounts_blp)
    extensions.api.register_blueprint(catalog_blp)
    for blp in _optional_blueprints():
        extensions.api.register_blueprint(blp)

    from .cli import register_cli

    register_cli(app)
    return app


def _optional_blueprints():
    """Blueprints of the domain packages, in the order their endpoints appear in the docs."""
    import importlib

    for module in ("server.inspect.routes", "server.sync.routes", "server.sync.blob_routes",
                   "server.review.routes", "server.timeline.routes"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue  # that package is not installed in this build
            raise
        for name in ("blp", "blobs_blp", "extra_blps"):
            obj = getattr(mod, name, None)
            if obj is None:
                continue
            yield from (obj if isinstance(obj, (list, tuple)) else [obj])


def _spec_kwargs() -> dict[str, Any]:
    return {
        "info": {"description": "Lineside API. Errors are application/problem+json with a stable `code`; "
                                "see the error code table in the README."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }
