"""Parameter profiles (params/quick.yaml, params/full.yaml) for papermill.

A profile has a ``common`` section, given to every notebook, and one section
per notebook (keyed by the notebook's file stem), which overrides it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .paths import PARAMS_DIR

PROFILES = ("quick", "full")


def profile_path(profile: str) -> Path:
    if profile not in PROFILES:
        raise ValueError(f"PROFILE must be one of {PROFILES}, got {profile!r}")
    return PARAMS_DIR / f"{profile}.yaml"


def load_profile(profile: str) -> dict[str, Any]:
    path = profile_path(profile)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("common", {}), dict):
        raise ValueError(f"{path}: expected a mapping with a 'common' section")
    return data


def notebook_parameters(profile: str, notebook: str) -> dict[str, Any]:
    """Parameters for one notebook: common, then its own section, then the profile name."""
    data = load_profile(profile)
    own = data.get(notebook) or {}
    if not isinstance(own, dict):
        raise ValueError(f"{profile_path(profile)}: section {notebook!r} must be a mapping")
    return {**data.get("common", {}), **own, "profile": profile}
