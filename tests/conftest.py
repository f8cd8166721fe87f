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
