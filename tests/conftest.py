"""Shared test fixtures: the test data the repository carries (tests/data, see its README)."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return DATA / "fixtures"


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    return DATA / "golden"


@pytest.fixture(autouse=True, scope="session")
def _private_table_cache(tmp_path_factory):
    """Keep the suite's annotation-table cache out of the user's ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("POSEMIX_CACHE_DIR", str(tmp_path_factory.mktemp("table-cache")))
    yield
    mp.undo()
