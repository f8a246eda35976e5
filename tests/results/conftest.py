"""The results tests share the calling tests' clock."""

from tests.calling.conftest import clock  # noqa: F401
