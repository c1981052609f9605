import numpy as np
import pandas as pd
import pytest

from occupancy_utils import tables


def test_missing_numbers_show_as_dashes_and_the_rest_is_rounded():
    table = pd.DataFrame({"book": [0.123456, 0.5], "report": [np.nan, 0.28791],
                          "name": ["a", "b"]})
    shown = tables.with_dashes(table, digits=3)
    assert shown["report"].tolist() == [tables.MISSING, 0.288]
    assert shown["book"].tolist() == [0.123, 0.5]
    assert shown["book"].dtype == float  # a column without gaps keeps its number type
    assert shown["name"].tolist() == ["a", "b"]
    assert table["report"].isna().iloc[0]  # the input is left as it was


def test_joined_lists_items_as_a_sentence():
    assert tables.joined(["a"]) == "a"
    assert tables.joined(["a", "b"]) == "a and b"
    assert tables.joined(["a", "b", "c"]) == "a, b and c"
    assert tables.numbered("fold", [1]) == "fold 1"
    assert tables.numbered("seed", [1, 2, 3]) == "seeds 1, 2 and 3"
    with pytest.raises(ValueError, match="nothing to join"):
        tables.joined([])


def test_glue_all_glues_every_name_once_and_displays_none(monkeypatch):
    import myst_nb

    calls = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: calls.append(
        (name, value, display)))
    tables.glue_all({"a": 1, "b": "two"})
    assert calls == [("a", 1, False), ("b", "two", False)]


def test_plural_counts_in_prose():
    assert tables.plural(1, "seed") == "1 seed"
    assert tables.plural(3, "seed") == "3 seeds"
    assert tables.plural(0, "fold") == "0 folds"


def test_count_of_in_prose_at_its_ends():
    assert tables.count_of(4, 4, "training parts") == "all 4 training parts"
    assert tables.count_of(3, 4, "training parts") == "3 of the 4 training parts"
    assert tables.count_of(0, 4, "training parts") == "none of the 4 training parts"
    with pytest.raises(ValueError, match="between 0 and 4"):
        tables.count_of(5, 4, "training parts")
