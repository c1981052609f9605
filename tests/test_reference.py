"""The package documents itself: every module has a reference page, every public name a docstring.

The pages (book/reference/) are built by Sphinx autodoc with ``nitpicky`` and
``-W`` in the book build (tests/test_book.py); here: nothing is left out.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import occupancy_utils
from occupancy_utils.paths import ROOT

PAGES = ROOT / "book" / "reference"


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(occupancy_utils.__path__,
                                                        "occupancy_utils.")
                  if not m.ispkg)


def _documented() -> list[str]:
    return [name for page in sorted(PAGES.glob("*.md"))
            for name in re.findall(r"^\.\. automodule:: (\S+)$", page.read_text(), flags=re.M)]


def test_every_module_has_exactly_one_reference_entry():
    documented = _documented()
    assert sorted(documented) == sorted(set(documented)), "a module is documented twice"
    assert set(documented) == set(_modules())


def test_reference_pages_are_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    for page in PAGES.glob("*.md"):
        assert f"file: book/reference/{page.stem}\n" in toc, page.name


def _public(module) -> list[tuple[str, object]]:
    found = []
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            found.append((name, obj))
        elif inspect.isclass(obj):
            found.append((name, obj))
            for attr, member in vars(obj).items():
                if not attr.startswith("_") and inspect.isfunction(member):
                    found.append((f"{name}.{attr}", member))
    return found


@pytest.mark.parametrize("name", _modules())
def test_module_and_public_names_have_docstrings(name):
    module = importlib.import_module(name)
    assert (module.__doc__ or "").strip(), f"{name}: no module docstring"
    # a dataclass without a docstring gets its signature as one: that says nothing
    missing = [qual for qual, obj in _public(module)
               if not (obj.__doc__ or "").strip() or obj.__doc__.startswith(f"{qual}(")]
    assert not missing, f"{name}: no docstring on {', '.join(missing)}"
