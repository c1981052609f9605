"""Shared fixtures. Tests that need the real data use the copy `make data` fetched."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from occupancy_utils import data
from occupancy_utils.paths import DATA_FILE


@pytest.fixture(scope="session")
def data_file() -> Path:
    if not DATA_FILE.is_file():
        pytest.fail(f"{DATA_FILE} is missing: run `make data` (make test does it first)")
    return DATA_FILE


@pytest.fixture(scope="session")
def frame(data_file: Path) -> pd.DataFrame:
    return data.load(data_file)


@pytest.fixture()
def raw_lines(data_file: Path) -> list[str]:
    return data_file.read_text().splitlines()
