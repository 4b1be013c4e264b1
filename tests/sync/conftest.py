"""Fixtures shared by the sync tests: the demo inline inspection and a phone that has synced once."""
from __future__ import annotations

import pytest

from tests.sync.support import SyncClient


@pytest.fixture
def insp(demo):
    """The demo inline inspection assigned to the demo inspector, as the phone names it."""
    return str(demo("inspection:inline:A"))


@pytest.fixture
def phone(client, as_inspector):
    """The demo inspector's phone after its first full pull."""
    p = SyncClient(client, as_inspector)
    p.pull_all()
    return p
