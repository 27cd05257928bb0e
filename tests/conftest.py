"""Shared test settings: where the committed fixtures live."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
AUDIO = FIXTURES / "audio"


@pytest.fixture(scope="session")
def audio_dir() -> Path:
    return AUDIO
