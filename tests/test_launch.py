"""The book's launch buttons lead somewhere: Binder's configuration and Colab's first cell.

The slow tests replay both paths offline in a fresh virtual environment that
lacks the book's package: the third-party packages come from the project's
environment (the same pins ``binder/requirements.txt`` holds, checked below),
the package and the data must come from what Binder and Colab run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from occupancy_utils import book, launch
from occupancy_utils.data import CSV_NAME
from occupancy_utils.paths import ROOT

BINDER = ROOT / "binder"


def _pins(text: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", text, flags=re.M))


def test_binder_requirements_are_the_pins_with_cpu_torch():
    text = (BINDER / "requirements.txt").read_text()
    requirements = (ROOT / "requirements.txt").read_text()
    assert text == launch.binder_requirements(requirements), \
        "binder/requirements.txt is stale: regenerate it with launch.binder_requirements"
    ours, binder = _pins(requirements), _pins(text)
    assert binder.pop("torch") == ours.pop("torch") + "+cpu"
    assert binder == ours
    assert f"--extra-index-url {launch.TORCH_CPU_INDEX}" in text.splitlines()


def test_binder_requirements_need_a_torch_pin():
    with pytest.raises(ValueError, match="no `torch==X.Y.Z` pin"):
        launch.binder_requirements("numpy==2.3.5\n")


def test_binder_runs_python_3_11_and_a_post_build_script():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    post = BINDER / "postBuild"
    assert os.access(post, os.X_OK), "binder/postBuild must be executable"


@pytest.mark.parametrize("path", book.notebook_paths(), ids=lambda p: p.stem)
def test_every_chapter_starts_with_the_hidden_colab_cell(path):
    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert first.source == launch.BOOTSTRAP_CELL
    assert set(launch.BOOTSTRAP_TAGS) <= set(first.metadata.get("tags", []))
    assert "parameters" not in first.metadata.get("tags", [])


def test_colab_cell_does_nothing_where_the_package_is_installed(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"the cell ran {args[0]!r} although the package is importable")
    monkeypatch.setattr(subprocess, "run", refuse)
    exec(launch.BOOTSTRAP_CELL, {})  # noqa: S102 - the cell's own text, as a kernel runs it


## replays ---------------------------------------------------------------------------

def _snapshot(dest: Path) -> Path:
    """The checkout as a fresh git repository: committed and uncommitted files git knows of."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost"]
    subprocess.run(["git", "init", "-q", str(dest)], check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot"], cwd=dest, check=True)
    return dest


def _bare_env(path: Path, tmp: Path, data_file: Path) -> tuple[str, dict[str, str]]:
    """A new venv that sees the project's third-party packages but not the book's package."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                "['purelib'])"], capture_output=True, text=True,
                               check=True).stdout.strip())
    overlay = path / "project-packages"
    overlay.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        name = entry.name.lower()
        if (name.startswith(("occupancy", "__editable__")) or name.endswith(".pth")
                or name == "__pycache__"):
            continue
        (overlay / entry.name).symlink_to(entry)
    (site / "project-packages.pth").write_text(f"{overlay}\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OCCUPANCY_", "VIRTUAL_ENV", "PYTHON", "JUPYTER", "PIP_"))}
    env.update(PATH=f"{path / 'bin'}:{env.get('PATH', '')}", JUPYTER_DATA_DIR=str(tmp / "jd"),
               IPYTHONDIR=str(tmp / "ipython"), PIP_NO_INDEX="1",  # offline: nothing downloaded
               PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONHASHSEED="0",
               DATA_SOURCE=str(data_file))  # the validated copy: no download
    return str(python), env


def _run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    assert res.returncode == 0, f"{cmd[:4]} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def _text_outputs(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.outputs if o.output_type == "stream")


@pytest.mark.slow
def test_binder_post_build_then_chapter_1_from_notebooks(tmp_path, data_file):
    repo = _snapshot(tmp_path / "repo")
    python, env = _bare_env(tmp_path / "env", tmp_path, data_file)
    assert subprocess.run([python, "-c", "import occupancy_utils"], env=env,
                          cwd=tmp_path).returncode != 0, "the bare environment has the package"
    # repo2docker: pip install -r binder/requirements.txt (the pins above), then postBuild
    _run(["bash", "binder/postBuild"], cwd=repo, env=env)
    assert (repo / "data" / CSV_NAME).is_file()
    # Binder opens notebooks/NN_*.ipynb in JupyterLab: the kernel starts in notebooks/
    out = tmp_path / "01.ipynb"
    _run([python, "-m", "papermill", "notebooks/01_exploratory_analysis.ipynb", out,
          "--cwd", "notebooks", "--no-progress-bar"], cwd=repo, env=env)
    assert "Profile quick: no build has stored results" in _text_outputs(out)


@pytest.mark.slow
def test_colab_first_cell_installs_the_package_and_the_data(tmp_path, data_file):
    repo = _snapshot(tmp_path / "repo")
    python, env = _bare_env(tmp_path / "env", tmp_path, data_file)
    env["OCCUPANCY_REPO"] = str(repo)  # instead of the repository on GitHub
    content = tmp_path / "content"  # Colab's working directory
    content.mkdir()
    assert subprocess.run([python, "-c", "import occupancy_utils"], env=env,
                          cwd=content).returncode != 0, "the bare environment has the package"
    out = tmp_path / "02.ipynb"
    _run([python, "-m", "papermill", ROOT / "notebooks" / "02_feature_dropping.ipynb", out,
          "-k", "python3", "--cwd", content, "--no-progress-bar"], cwd=content, env=env)
    clone = content / "occupancy-book"
    assert (clone / "data" / CSV_NAME).is_file()
    where = _run([python, "-c", "import occupancy_utils; print(occupancy_utils.__file__)"],
                 env=env, cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(clone), where  # installed, from the clone
    assert "Profile quick: no build has stored results" in _text_outputs(out)
