"""The storage tests use the sync tests' demo inspection and synced phone."""
from tests.sync.conftest import insp, phone  # noqa: F401
