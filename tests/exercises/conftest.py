"""Shared fixtures for the exercises package tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from exercises.loader import load_content

FIXTURES = Path(__file__).parent / "fixtures"
GOOD = FIXTURES / "good"
BAD = FIXTURES / "bad"


@pytest.fixture(scope="session")
def good_content():
    """The small valid fixture content."""
    return load_content(GOOD)


@pytest.fixture
def content_copy(tmp_path):
    """A writable copy of the good fixture content."""
    root = tmp_path / "content"
    shutil.copytree(GOOD, root)
    return root
