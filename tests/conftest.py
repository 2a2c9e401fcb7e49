"""Shared fixtures. Every test runs on the CPU or Reference platform unless marked gpu."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def root():
    return ROOT
