"""Shared test fixtures: the read-only data beside the repository (../shared)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return SHARED / "fixtures"


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    return SHARED / "golden"


@pytest.fixture(autouse=True, scope="session")
def _private_table_cache(tmp_path_factory):
    """Keep the suite's annotation-table cache out of the user's ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("POSEMIX_CACHE_DIR", str(tmp_path_factory.mktemp("table-cache")))
    yield
    mp.undo()
