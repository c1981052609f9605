"""A stored search's key changes with the code that computes it, and with nothing else."""

from __future__ import annotations

import functools
import importlib
import textwrap
import uuid

import pytest

from occupancy_utils import bnn_study, cache_key, crf_study, lstm_study

TRAIN = '''
"""Training (a stand-in for training.py)."""
import functools
import re
from pathlib import Path

from . import helpers

STEP = 0.5
GAP = 300.0
PATTERN = re.compile("a+")
WHERE = Path("/somewhere/data.csv")
doubled = functools.partial(helpers.scale, factor=2)


def fit(x, gap=GAP, where=WHERE):
    """Fit on x."""
    return helpers.scale(x) * STEP + doubled(gap) + len(PATTERN.findall("aa"))  # a comment
'''
HELPERS = '''
"""Helpers."""


def scale(x, factor=1):
    """Scale."""
    return x * 2 * factor


def table(x):
    """A table: presentation, not computation."""
    return [x]
'''


def _package(tmp_path, monkeypatch, train: str = TRAIN, helpers: str = HELPERS):
    """Write the stand-in package anew (fresh name each time) and return its objective."""
    name = f"keytest_{uuid.uuid4().hex[:12]}"  # never a module imported before
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "train.py").write_text(textwrap.dedent(train))
    (root / "helpers.py").write_text(textwrap.dedent(helpers))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cache_key, "PACKAGE", name)
    importlib.invalidate_caches()
    module = importlib.import_module(f"{name}.train")
    return module.fit


def _digests(tmp_path, monkeypatch, **sources) -> dict[str, str]:
    digests = cache_key.code_digests(_package(tmp_path, monkeypatch, **sources))
    return {k.split(".", 1)[1]: v for k, v in digests.items()}  # without the package name


def test_the_key_follows_the_code_the_objective_reaches(tmp_path, monkeypatch):
    base = _digests(tmp_path, monkeypatch)
    # not helpers.table (presentation), not WHERE (a path says where, not what)
    assert set(base) == {"train.fit", "train.STEP", "train.PATTERN", "train.doubled",
                         "helpers.scale"}


def test_docstrings_comments_layout_and_tables_keep_the_key(tmp_path, monkeypatch):
    base = _digests(tmp_path, monkeypatch)
    edited_train = (TRAIN.replace('"""Fit on x."""', '"""Fit on x, now explained at length."""')
                    .replace("# a comment", "# another comment")
                    .replace("return helpers.scale(x) * STEP", "return (helpers.scale(x)\n"
                             "            * STEP)")
                    .replace('Path("/somewhere/data.csv")', 'Path("/elsewhere/data.csv")'))
    edited_helpers = HELPERS.replace("return [x]", "return [x, x]").replace('"""Scale."""', "")
    assert _digests(tmp_path, monkeypatch, train=edited_train, helpers=edited_helpers) == base


@pytest.mark.parametrize("edit", [
    ("return x * 2", "return x * 3"), ("STEP = 0.5", "STEP = 0.25"),
    ("GAP = 300.0", "GAP = 200.0"),                       # reaches fit as a default value
    ("factor=2)", "factor=3)"),                           # bound in a module-level partial
    ('re.compile("a+")', 're.compile("a*")'),             # a constant that is not plain data
    ("def scale(x, factor=1):", "def scale(x, factor=2):")])
def test_editing_computing_code_or_a_constant_changes_the_key(tmp_path, monkeypatch, edit):
    base = _digests(tmp_path, monkeypatch)
    old, new = edit
    edited = _digests(tmp_path, monkeypatch, train=TRAIN.replace(old, new),
                      helpers=HELPERS.replace(old, new))
    assert edited != base


REGISTRY_TRAIN = '''
from . import helpers

KINDS = {"double": helpers.Doubler, "nested": [helpers.halve]}


def fit(x, kind="double"):
    return KINDS[kind]().run(x)
'''
REGISTRY_HELPERS = '''
class Doubler:
    def run(self, x):
        return x * 2


def halve(x):
    return x / 2
'''


@pytest.mark.parametrize("edit", [("return x * 2", "return x * 4"),
                                  ("return x / 2", "return x / 3")])
def test_code_reached_through_a_registry_keys_the_search(tmp_path, monkeypatch, edit):
    """A dict of classes (``networks.NETWORKS``) or a list inside it is followed: editing
    a class or function it holds changes the key, as the rolling re-scoring needs."""
    base = _digests(tmp_path, monkeypatch, train=REGISTRY_TRAIN, helpers=REGISTRY_HELPERS)
    assert {"helpers.Doubler", "helpers.Doubler.run", "helpers.halve"} <= set(base)
    old, new = edit
    assert _digests(tmp_path, monkeypatch, train=REGISTRY_TRAIN,
                    helpers=REGISTRY_HELPERS.replace(old, new)) != base


def test_the_families_keys_hold_training_code_and_no_presentation():
    objectives = {
        "crf": functools.partial(crf_study.group_objective, protocol="clean", max_epochs=3,
                                 patience=2, seed=0, val_fraction=0.2),
        "bnn": bnn_study.objective, "lstm": lstm_study.search_objective}
    for family, objective in objectives.items():
        names = set(cache_key.code_digests(objective))
        assert {"occupancy_utils.training.fit_many" if family == "crf"
                else "occupancy_utils.training.fit", "occupancy_utils.splits.make_folds",
                "occupancy_utils.splits.scaled_parts"} <= names, family
        assert not any(n.startswith(("occupancy_utils.figures", "occupancy_utils.tables",
                                     "occupancy_utils.plots")) for n in names), family
        assert not any(n.endswith(("_table", "findings")) for n in names), family


def test_search_key_holds_every_part_and_describes_changes():
    objective = functools.partial(bnn_study.objective, protocol="clean", seed=0,
                                  settings={"max_epochs": 3})
    key = cache_key.search_key(objective, grid={"lr": [0.1]}, settings={"a": 1}, schema=1,
                               device="cpu")
    assert set(key) == {"grid", "settings", "schema", "bound", "code", "libraries", "device",
                        "python"}
    assert key["bound"] == {"protocol": "clean", "seed": 0, "settings": {"max_epochs": 3}}
    assert key["libraries"]["torch"] != "missing"
    assert cache_key.describe_change(key, key) == ""
    other = {**key, "device": "cuda", "schema": 2,
             "libraries": {**key["libraries"], "numpy": "0.1"},
             "code": {**key["code"], "occupancy_utils.training.fit": "x"}}
    change = cache_key.describe_change(key, other)
    assert "device \"cpu\" -> \"cuda\"" in change and "schema 1 -> 2" in change
    assert "numpy" in change and "-> 0.1" in change and "code of training.fit" in change
    assert cache_key.key_digest(key) != cache_key.key_digest(other)


def test_schema_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="schema must be a positive integer"):
        cache_key.search_key(bnn_study.objective, grid={}, settings={}, schema=0, device="cpu")


def test_code_without_a_source_file_is_digested_from_its_bytecode():
    namespace: dict = {}
    exec("def f(x):\n    return x + 1\n", namespace)  # noqa: S102 - no source file on purpose
    exec("def g(x):\n    return x + 2\n", namespace)  # noqa: S102
    assert cache_key.source_digest(namespace["f"]) != cache_key.source_digest(namespace["g"])
    assert cache_key.source_digest(namespace["f"]) == cache_key.source_digest(namespace["f"])


def test_thread_counts_do_not_key_a_search():
    """`make book WORKERS=2` and a JupyterLab run share the stored search."""
    keys = [cache_key.search_key(functools.partial(lstm_study.search_objective,
                                                   variant="regression", threads=n),
                                 grid={}, settings={}, schema=1, device="cpu")
            for n in (0, 1, 8)]
    assert keys[0] == keys[1] == keys[2] and "threads" not in keys[0]["bound"]
    other = cache_key.search_key(functools.partial(lstm_study.search_objective,
                                                   variant="classification", threads=1),
                                 grid={}, settings={}, schema=1, device="cpu")
    assert other["bound"] != keys[0]["bound"]



def test_a_file_edited_since_import_is_not_keyed_on_the_wrong_lines(tmp_path, monkeypatch):
    """inspect reads a module's file as it is now, at the line numbers of the import: after
    an edit above a function it would digest the neighbour's source (this keyed stored
    searches wrongly once). The digest refuses instead of naming the wrong code."""
    import importlib
    import linecache

    path = tmp_path / "edited_module.py"
    path.write_text("def first(x):\n    return x + 1\n\n\ndef second(x):\n    return x * 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("edited_module")
    before = cache_key.source_digest(module.second)
    lam = lambda x: x  # noqa: E731 - a lambda has no name to check
    assert cache_key.source_digest(lam) == cache_key.source_digest(lam)
    path.write_text("def extra(y):\n    return y\n\n\n" + path.read_text())
    linecache.checkcache(str(path))
    with pytest.raises(RuntimeError, match="edited_module.second changed since it was imported"):
        cache_key.source_digest(module.second)
    assert before
