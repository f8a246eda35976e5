"""Fixtures for the calling loop's tests: a clock the queue and the calling services share."""

from __future__ import annotations

import pytest

from phonebank.calling import queue
from phonebank.calling import services as calling
from tests.calling.helpers import NOW, Clock


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """Freeze the calling loop's ``utcnow`` at NOW (a Wednesday noon in New York)."""
    made = Clock(NOW)
    monkeypatch.setattr(queue, "utcnow", made)
    monkeypatch.setattr(calling, "utcnow", made)
    return made
