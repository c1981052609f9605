"""Where things live. Everything generated goes under results/ or _build/, never into sources."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
DATA_FILE = Path(os.environ.get("OCCUPANCY_DATA_FILE", DATA_DIR / "Occupancy_Estimation.csv"))
RESULTS_DIR = Path(os.environ.get("OCCUPANCY_RESULTS_DIR", ROOT / "results"))
PARAMS_DIR = ROOT / "params"


def results_dir(profile: str) -> Path:
    """results/<profile>/, created on demand."""
    path = RESULTS_DIR / profile
    path.mkdir(parents=True, exist_ok=True)
    return path
