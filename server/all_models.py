"""Import every model module so the metadata is complete (Alembic autogenerate, tests)."""
from .accounts import models as accounts_models  # noqa: F401
from .catalog import models as catalog_models  # noqa: F401
from .inspect import models as inspect_models  # noqa: F401
from .storage import models as storage_models  # noqa: F401
from .sync import models as sync_models  # noqa: F401
from .sync import revisions  # noqa: F401  (registers the revision hook)
from .sync import indexes  # noqa: F401  (the pull's indexes on the inspection tables)


def _optional() -> None:
    import importlib

    for module in ("server.review.models", "server.timeline.models"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not (exc.name and module.startswith(exc.name)):
                raise


_optional()
