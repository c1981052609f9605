"""A notebook opened as it is picks a profile that finishes in minutes, and says which.

Also: the parameters cells declare exactly what the profiles set (one place for
values), and chapter 7 run too early stops with one line naming what to run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import nbformat
import pytest

from occupancy_utils import book, comparison, profiles
from occupancy_utils.paths import ROOT
from occupancy_utils.results import MissingResults


def _record(root, profile, notebook, finished, seconds=60.0):
    path = root / profile / profiles.EXECUTED
    path.parent.mkdir(parents=True, exist_ok=True)
    record = json.loads(path.read_text()) if path.is_file() else {}
    record[notebook] = {"finished": finished, "seconds": seconds}
    path.write_text(json.dumps(record))


def test_auto_without_stored_results_is_quick(tmp_path, capsys):
    values = profiles.resolve("04_crf", {"profile": "auto", "seed": None}, results_root=tmp_path)
    assert values["profile"] == "quick"
    assert values == profiles.notebook_parameters("quick", "04_crf")
    line = capsys.readouterr().out.strip()
    assert line.startswith("Profile quick: no build has stored results") and "\n" not in line


def test_auto_takes_the_last_build_that_ran_the_chapter(tmp_path, capsys):
    now = time.time()
    _record(tmp_path, "full", "04_crf", now - 3600, seconds=1500)
    _record(tmp_path, "quick", "04_crf", now - 7200)
    _record(tmp_path, "quick", "06_lstm", now)  # another chapter's later build does not count
    values = profiles.resolve("04_crf", {"profile": "auto"}, results_root=tmp_path)
    assert values["profile"] == "full"
    assert values["max_epochs"] == profiles.notebook_parameters("full", "04_crf")["max_epochs"]
    out = capsys.readouterr().out
    assert out.startswith("Profile full: the stored results") and "25 min" in out
    _record(tmp_path, "quick", "04_crf", now)  # a later quick build wins
    assert profiles.resolve("04_crf", {"profile": "auto"}, results_root=tmp_path,
                            announce=False)["profile"] == "quick"


def test_record_execution_is_read_back(tmp_path):
    path = profiles.record_execution("quick", "03_time_series_splits", 4.0, tmp_path)
    assert path == tmp_path / "quick" / profiles.EXECUTED
    profile, entry = profiles.last_execution("03_time_series_splits", tmp_path)
    assert profile == "quick" and entry["seconds"] == 4.0
    # a later full build, then a quick one that found the chapter cached: quick is the last
    profiles.record_execution("full", "03_time_series_splits", 60.0, tmp_path)
    assert profiles.last_execution("03_time_series_splits", tmp_path)[0] == "full"
    profiles.record_execution("quick", "03_time_series_splits", None, tmp_path)
    profile, entry = profiles.last_execution("03_time_series_splits", tmp_path)
    assert profile == "quick" and entry["seconds"] == 4.0  # the cached run's time is kept
    assert profiles.last_execution("04_crf", tmp_path) is None
    path.write_text("{not json")  # a damaged record is as good as none, never a traceback
    assert profiles.last_execution("03_time_series_splits", tmp_path)[0] == "full"


def test_values_set_by_hand_or_papermill_are_kept(tmp_path, capsys):
    values = profiles.resolve("04_crf", {"profile": "quick", "max_epochs": 2, "patience": None},
                              results_root=tmp_path)
    assert values["max_epochs"] == 2
    assert values["patience"] == profiles.notebook_parameters("quick", "04_crf")["patience"]
    out = capsys.readouterr().out
    assert "named in the parameters" in out and "kept as set: max_epochs" in out


def test_unknown_profile_is_named(tmp_path):
    with pytest.raises(ValueError, match="profile must be 'auto' or one of"):
        profiles.resolve("04_crf", {"profile": "fast"}, results_root=tmp_path)


def _declared(path) -> dict[str, str]:
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    out = {}
    for line in cell.source.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            name, value = line.split("=", 1)
            out[name.strip()] = value.split("#")[0].strip()
    return out


@pytest.mark.parametrize("path", book.notebook_paths(), ids=lambda p: p.stem)
def test_parameters_live_in_the_profiles_only(path):
    """Each declared name is set by both profiles, and the cell holds no second value."""
    declared = _declared(path)
    assert declared.pop("profile") == '"auto"'
    assert set(declared.values()) == {"None"}, f"{path.name}: values belong in params/*.yaml"
    for profile in profiles.PROFILES:
        given = set(profiles.notebook_parameters(profile, path.stem)) - {"profile"}
        assert given == set(declared), f"{profile}/{path.stem}: {given ^ set(declared)}"


@pytest.mark.parametrize("path", book.notebook_paths(), ids=lambda p: p.stem)
def test_the_cell_after_parameters_resolves_them(path):
    nb = nbformat.read(path, as_version=4)
    i = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    assert f'profiles.resolve("{path.stem}", globals())' in nb.cells[i + 1].source


def test_comparison_names_every_chapter_still_to_run(tmp_path, monkeypatch):
    monkeypatch.setattr(comparison, "results_dir", lambda profile: tmp_path / profile)
    (tmp_path / "quick").mkdir()
    (tmp_path / "quick" / "02_feature_dropping.json").write_text('{"models": {}}')
    with pytest.raises(MissingResults) as err:
        comparison.load_models("quick")
    message = str(err.value)
    assert "run 04_crf, 05_bnn, 06_lstm first in the quick profile" in message
    assert err.value._render_traceback_() == [f"MissingResults: {message}"]


@pytest.mark.slow
def test_chapter_7_run_first_stops_with_one_line(tmp_path):
    """Through a real kernel, as a reader who opens chapter 7 first would see it."""
    out = tmp_path / "out.ipynb"
    env = {**os.environ, "OCCUPANCY_RESULTS_DIR": str(tmp_path / "results")}
    res = subprocess.run([sys.executable, "-m", "papermill", str(ROOT / "notebooks" /
                          "07_comparison.ipynb"), str(out), "-k", book.KERNEL,
                          "--cwd", str(ROOT / "notebooks")], env=env, capture_output=True,
                         text=True)
    assert res.returncode != 0
    errors = [o for c in nbformat.read(out, as_version=4).cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert len(errors) == 1
    (line,) = errors[0]["traceback"]
    assert line.startswith("MissingResults: this chapter compares the models of")
    assert "run 02_feature_dropping, 04_crf, 05_bnn, 06_lstm first in the quick profile" in line
