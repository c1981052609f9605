"""Source notebooks are clean narratives wired to the profiles and the table of contents."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import nbformat
import pytest
import yaml

from occupancy_utils import book, profiles
from occupancy_utils.paths import ROOT

NOTEBOOKS = book.notebook_paths()
IDS = [p.stem for p in NOTEBOOKS]


def test_seven_ordered_notebooks():
    assert [p.name[:3] for p in NOTEBOOKS] == [f"0{i}_" for i in range(1, 8)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name}: a cell has outputs"
            assert cell.execution_count is None, f"{path.name}: a cell has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_parameters_cell_with_profile(path: Path):
    """Every chapter has one ``parameters`` cell with a ``profile``; a ``seed`` only where
    the chapter draws random numbers (``test_every_declared_parameter_is_used``)."""
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    assert "profile =" in tagged[0].source
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert nb.metadata["kernelspec"]["name"] == book.KERNEL


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_profiles_only_set_declared_parameters(profile: str):
    """A typo in a profile would be injected silently by papermill; catch it here."""
    data = profiles.load_profile(profile)
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        declared = {line.split("=")[0].strip() for line in cell.source.splitlines()
                    if "=" in line and not line.lstrip().startswith("#")}
        given = profiles.notebook_parameters(profile, path.stem)
        assert set(given) <= declared, f"{profile}/{path.stem}: {set(given) - declared}"
    assert set(data) - {"common"} <= set(IDS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_declared_parameter_is_used(path):
    """A parameter no code reads is a setting that looks as if it mattered (a seed given to
    a chapter that draws no random number); every name of the ``parameters`` cell but
    ``profile`` is read by a later code cell."""
    nb = nbformat.read(path, as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    declared = {line.split("=")[0].strip() for line in nb.cells[index].source.splitlines()
                if "=" in line and not line.lstrip().startswith("#")}
    later = "\n".join(c.source for c in nb.cells[index + 1:] if c.cell_type == "code")
    unused = {n for n in declared - {"profile"} if not re.search(rf"\b{n}\b", later)}
    assert not unused, f"{path.stem}: parameters no later cell reads: {sorted(unused)}"


def test_toc_lists_every_notebook_and_page():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in files
    for f in [toc["root"], *files]:
        assert (ROOT / f"{f}.md").is_file() or (ROOT / f"{f}.ipynb").is_file(), f


def test_unknown_profile_is_named():
    with pytest.raises(ValueError, match="PROFILE"):
        profiles.profile_path("fast")


def test_git_diff_shows_notebooks_as_percent_text():
    """`make setup` makes `git diff` read notebooks as py:percent (CONTRIBUTING.md says why)."""
    assert "*.ipynb diff=notebook" in (ROOT / ".gitattributes").read_text().splitlines()
    makefile = (ROOT / "Makefile").read_text()
    command = re.search(r"^NOTEBOOK_TEXT := (.+)$", makefile, re.M).group(1)
    assert 'git config diff.notebook.textconv "$(NOTEBOOK_TEXT)"' in makefile
    argv = [a.replace("$(VENV)", str(ROOT / ".venv")) for a in command.split()]
    text = subprocess.run([*argv, str(NOTEBOOKS[2])], capture_output=True, text=True,
                          check=True).stdout
    assert text.startswith("# %% [markdown]\n# # 3. ")  # no metadata header to churn
    assert '# %% tags=["parameters"]\n' in text and 'profile = "auto"' in text
