"""Shared pytest configuration: soak runs are opt-in."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``soak`` tests unless they were asked for with ``-m soak``."""
    if "soak" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="soak run: opt in with -m soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)
