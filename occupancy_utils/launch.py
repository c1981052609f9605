"""What the book's launch buttons need: Colab's first cell and Binder's requirements.

A notebook opened in Colab has no copy of the repository and no package; the
first code cell of every chapter (:data:`BOOTSTRAP_CELL`, hidden in the book)
then clones the repository, installs the package with the extras Colab lacks
and fetches the data. Where the package is importable (JupyterLab, Binder,
``make book``) it does nothing. Binder installs ``binder/requirements.txt``,
which is ``requirements.txt`` with torch's CPU build (:func:`binder_requirements`),
then runs ``binder/postBuild``.
"""

from __future__ import annotations

import re

REPOSITORY = "https://github.com/occupancy-book/occupancy-book"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

#: The first code cell of every chapter. It cannot call the package (it may not
#: be installed yet), so it is plain Python; ``OCCUPANCY_REPO`` points it at
#: another clone (the tests use the local checkout).
BOOTSTRAP_CELL = f'''\
# Colab (or any kernel without the book's package): clone the book, install its
# package and fetch the data. In JupyterLab, on Binder and in `make book` it does nothing.
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("occupancy_utils") is None:
    _repo = os.environ.get("OCCUPANCY_REPO", "{REPOSITORY}")
    _clone = os.path.abspath("occupancy-book")
    if not os.path.isdir(_clone):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", _repo, _clone], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    "--no-build-isolation", "-e", f"{{_clone}}[colab]"], check=True)
    sys.path.insert(0, _clone)
    importlib.import_module("occupancy_utils.data").ensure()'''

BOOTSTRAP_TAGS = ("remove-cell",)


def binder_requirements(requirements: str) -> str:
    """``binder/requirements.txt`` made from ``requirements.txt``: the same pins, torch on CPU.

    PyPI's Linux torch wheel bundles CUDA (several GB) that Binder's machines
    cannot use; PyTorch's CPU index serves the same release without it.
    Returns the file's text.
    """
    out = ["# Generated from requirements.txt by occupancy_utils.launch.binder_requirements;",
           "# the same pins, with torch's CPU build (Binder has no GPU). Do not edit by hand.",
           f"--extra-index-url {TORCH_CPU_INDEX}"]
    torch_seen = False
    for line in requirements.splitlines():
        pin = re.fullmatch(r"torch==([0-9][0-9.]*)", line.strip())
        if pin:
            out.append(f"torch=={pin.group(1)}+cpu")
            torch_seen = True
        elif line.strip() and not line.lstrip().startswith("#"):
            out.append(line.strip())
    if not torch_seen:
        raise ValueError("requirements.txt: no `torch==X.Y.Z` pin to swap for the CPU build")
    return "\n".join(out) + "\n"

