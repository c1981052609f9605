"""Parameter profiles (params/quick.yaml, params/full.yaml) and how a notebook picks one.

A profile has a ``common`` section, given to every notebook, and one section
per notebook (keyed by the notebook's file stem), which overrides it. The
profiles are the one place where parameter values live: a notebook's
``parameters`` cell declares the names (at ``None``) and :func:`resolve` fills
them in, so a notebook run by papermill, opened in JupyterLab, Binder or Colab
all take their values from the same files.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .paths import PARAMS_DIR, RESULTS_DIR

PROFILES = ("quick", "full")
AUTO = "auto"
EXECUTED = "executed.json"  # per profile: which notebooks a `make book` ran, when, how long


def profile_path(profile: str) -> Path:
    """The YAML file of a profile; a ValueError names the allowed profiles otherwise."""
    if profile not in PROFILES:
        raise ValueError(f"PROFILE must be one of {PROFILES}, got {profile!r}")
    return PARAMS_DIR / f"{profile}.yaml"


def load_profile(profile: str) -> dict[str, Any]:
    """The whole profile as a mapping (``common`` plus one section per notebook)."""
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


## which profile a notebook runs -------------------------------------------------------

def _executed_path(profile: str, results_root: Path | None = None) -> Path:
    return (results_root or RESULTS_DIR) / profile / EXECUTED


def record_execution(profile: str, notebook: str, seconds: float | None,
                     results_root: Path | None = None) -> Path:
    """Note that a build ran ``notebook`` in ``profile`` (read by :func:`last_execution`).

    ``seconds`` is how long it ran; None for a notebook the build found cached,
    which keeps the time of the run that made it. Returns the record's path,
    written atomically, so an interrupted build never leaves half a record.
    """
    from .results import atomic_write  # pandas: only when a build records

    path = _executed_path(profile, results_root)
    record = _read_record(path)
    before = record.get(notebook) if isinstance(record.get(notebook), dict) else {}
    took = float(seconds) if seconds is not None else float(before.get("seconds", 0.0))
    record[notebook] = {"finished": time.time(), "seconds": round(took, 1)}
    text = json.dumps(record, indent=1, sort_keys=True)
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def _read_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def last_execution(notebook: str, results_root: Path | None = None
                   ) -> tuple[str, dict[str, Any]] | None:
    """The profile whose build ran ``notebook`` last, with its record; None if none did.

    The record lives in ``results/<profile>/``, so ``make clean`` removes it
    with the results it speaks for.
    """
    found: list[tuple[float, str, dict[str, Any]]] = []
    for profile in PROFILES:
        entry = _read_record(_executed_path(profile, results_root)).get(notebook)
        if isinstance(entry, dict) and isinstance(entry.get("finished"), int | float):
            found.append((float(entry["finished"]), profile, entry))
    if not found:
        return None
    _, profile, entry = max(found)
    return profile, entry


def choose_profile(notebook: str, requested: str, results_root: Path | None = None
                   ) -> tuple[str, str]:
    """The profile a notebook runs with, and a sentence saying why.

    ``requested`` is the ``profile`` parameter: a profile name is used as it is;
    ``"auto"`` (the default of a notebook opened as it is) takes the profile of
    the last build that ran this notebook, whose searches are then read from
    storage, or else ``"quick"``, so that an interactive run takes minutes.
    """
    if requested in PROFILES:
        return requested, (f"named in the parameters (by `make book`, papermill or by hand); "
                           f"values from params/{requested}.yaml")
    if requested != AUTO:
        raise ValueError(f"profile must be {AUTO!r} or one of {PROFILES}, got {requested!r}")
    root = results_root or RESULTS_DIR
    last = last_execution(notebook, results_root)
    if last is None:
        return "quick", ("no build has stored results for this chapter, so the quick profile: "
                         f"values from params/quick.yaml, results stored in {root / 'quick'} "
                         "(`make book` runs the full profile)")
    profile, entry = last
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry["finished"]))
    minutes = float(entry.get("seconds", 0.0)) / 60
    return profile, (f"the stored results of the last build that ran this chapter "
                     f"({root / profile}, {when}, {minutes:.0f} min; its stored searches are "
                     f"reused where the code is unchanged); values from params/{profile}.yaml")


def resolve(notebook: str, given: Mapping[str, Any], results_root: Path | None = None,
            announce: bool = True) -> dict[str, Any]:
    """The values a notebook's parameters take; prints which profile and why.

    ``given`` holds the ``parameters`` cell's names after any papermill injection
    (a notebook passes ``globals()``). The profile comes from
    :func:`choose_profile`; every parameter of that profile's section that is
    missing or ``None`` in ``given`` takes the profile's value, and a value set
    by hand or by papermill is kept. Returns the names to set, ``profile``
    included (the chosen profile's name, never ``"auto"``).
    """
    requested = given.get("profile") or AUTO
    profile, why = choose_profile(notebook, str(requested), results_root)
    values = notebook_parameters(profile, notebook)
    chosen = {name: (given[name] if given.get(name) is not None else value)
              for name, value in values.items() if name != "profile"}
    kept = sorted(n for n in chosen if given.get(n) is not None and given[n] != values[n])
    if announce:
        note = f"; kept as set: {', '.join(kept)}" if kept else ""
        print(f"Profile {profile}: {why}{note}.")
    return {**chosen, "profile": profile}
