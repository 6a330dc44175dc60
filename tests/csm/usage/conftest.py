from __future__ import annotations

import pytest

from csm.models import TrackingSource


@pytest.fixture
def source(db):
    """A tracking source (its write key is not needed by tests that call the services)."""
    source = TrackingSource(name="app")
    source.new_key()
    source.save()
    return source
