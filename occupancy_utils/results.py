"""Results files: each notebook's headline numbers, read by later chapters.

Written atomically (a temporary file renamed into place), so an interrupted
run never leaves a half-written file for the comparison chapter to read.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from .paths import results_dir

#: What every model's entry of a results file holds.
ENTRY_KEYS = ("label", "params", "probabilistic", "protocols")
#: What every protocol block of an entry holds.
PROTOCOL_KEYS = ("seeds", "train_seconds", "predict_seconds")


def protocol_block(seeds: Mapping[Any, Mapping[str, Any]], *, train_seconds: float,
                   predict_seconds: float, chosen: Mapping[Any, Mapping[str, Any]] | None = None,
                   **by_seed: Mapping[Any, Mapping[str, Any]]) -> dict[str, Any]:
    """One protocol's block of a model's entry, the same for every chapter.

    ``seeds``: each seed's :func:`~occupancy_utils.experiment.summarize` of the test
    parts; ``train_seconds`` and ``predict_seconds``: per seed, summed over the folds
    and averaged over the seeds (the one time every model reports, so chapter 7 can
    set them side by side); ``chosen``: the configuration each fold's model used,
    where the folds were searched; ``by_seed``: a family's other scores, each again
    one per seed (``seeds_expected_count``, ``seeds_value_mse``...). Seeds and folds
    become strings, as JSON keys are.
    """
    block: dict[str, Any] = {
        "seeds": {str(s): v for s, v in seeds.items()},
        "train_seconds": float(train_seconds), "predict_seconds": float(predict_seconds)}
    if chosen is not None:
        block["chosen"] = {str(k): dict(v) for k, v in chosen.items()}
    for name, scores in by_seed.items():
        block[name] = {str(s): v for s, v in scores.items()}
    return block


def model_entry(label: str, params: Mapping[str, Any], *, probabilistic: bool,
                protocols: Mapping[str, Mapping[str, Any]], **extra: Any) -> dict[str, Any]:
    """One model's entry of a results file (CONTRIBUTING.md): ``protocols`` maps each
    protocol to its :func:`protocol_block`; ``extra`` adds a family's own fields (a
    ``note``, the configurations per protocol). A ValueError names what is missing."""
    entry = {"label": label, "params": dict(params), "probabilistic": bool(probabilistic),
             "protocols": dict(protocols), **extra}
    check_entry(entry, label)
    return entry


def check_entry(entry: Mapping[str, Any], name: str) -> None:
    """A ValueError naming the model and what its entry lacks, if it lacks any of
    :data:`ENTRY_KEYS`, has no protocol, or a protocol block lacks :data:`PROTOCOL_KEYS`
    or a seed."""
    missing = [k for k in ENTRY_KEYS if k not in entry]
    if missing:
        raise ValueError(f"results entry {name!r} lacks {', '.join(missing)}")
    if not entry["protocols"]:
        raise ValueError(f"results entry {name!r} has no protocol")
    for protocol, block in entry["protocols"].items():
        lacks = [k for k in PROTOCOL_KEYS if k not in block]
        if lacks:
            raise ValueError(f"results entry {name!r}, protocol {protocol!r} lacks "
                             f"{', '.join(lacks)}")
        if not block["seeds"]:
            raise ValueError(f"results entry {name!r}, protocol {protocol!r} has no seed")


def chapter_payload(chapter: str, profile: str, elapsed_seconds: float,
                    models: Mapping[str, Mapping[str, Any]], **extra: Any) -> dict[str, Any]:
    """A chapter's results file (CONTRIBUTING.md): its name, profile, wall seconds, each
    model's entry (checked, :func:`check_entry`) and the chapter's own fields."""
    for name, entry in models.items():
        check_entry(entry, name)
    return {"chapter": chapter, "profile": profile,
            "elapsed_seconds": float(elapsed_seconds),
            "models": dict(models), **extra}


class MissingResults(FileNotFoundError):
    """A chapter needs results an earlier chapter writes, and they are not stored yet.

    In a notebook it shows as its one-line message, not a traceback: the reader
    needs to know which chapters to run, not where the package looked.
    """

    def _render_traceback_(self) -> list[str]:  # IPython's hook for custom tracebacks
        return [f"{type(self).__name__}: {self}"]


def _missing(path: Path, profile: str, notebook: str) -> MissingResults:
    return MissingResults(f"{path}: missing; run notebook {notebook} first "
                          f"(make book PROFILE={profile} runs them in order)")


def plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays turned into Python numbers and lists.

    JSON, YAML and Optuna want plain Python values; numpy's leak in through
    pandas rows and grid values, and ``np.int64(2)`` must name the same grid
    point as ``2``.
    """
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place.

    A reader never sees a half-written file, and an error leaves the previous
    file as it was. The temporary name keeps the suffix (some writers check it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as sorted, indented JSON (numpy values made plain); returns the path."""
    text = json.dumps(plain(payload), indent=2, sort_keys=True)
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_results(profile: str, notebook: str, payload: dict[str, Any]) -> Path:
    """Write results/<profile>/<notebook>.json atomically; returns its path."""
    return write_json(results_dir(profile) / f"{notebook}.json", payload)


def read_results(profile: str, notebook: str) -> dict[str, Any]:
    """The payload :func:`write_results` stored; :class:`MissingResults` if there is none."""
    path = results_dir(profile) / f"{notebook}.json"
    if not path.is_file():
        raise _missing(path, profile, notebook)
    return json.loads(path.read_text())


class PrintedFloat(float):
    """A number of the report that remembers how it was printed ("0.350", not 0.35).

    The report map allows for the digits a number was rounded to, and YAML
    would otherwise drop the trailing zeros that say how many there were.
    """

    def __new__(cls, text: str) -> PrintedFloat:
        obj = super().__new__(cls, float(text))
        obj.text = str(text)
        return obj


class _ReportLoader(yaml.SafeLoader):
    """YAML's safe loader, with floats kept as :class:`PrintedFloat`."""


_ReportLoader.add_constructor(
    "tag:yaml.org,2002:float",
    lambda loader, node: PrintedFloat(loader.construct_scalar(node)))


def report_numbers() -> dict[str, Any]:
    """The report's numbers, settings and figures, as transcribed (report_numbers.yaml).

    Floats are :class:`PrintedFloat`: they compute as floats and keep their printed text.
    """
    text = resources.files("occupancy_utils").joinpath("report_numbers.yaml").read_text()
    return yaml.load(text, Loader=_ReportLoader)  # noqa: S506 - a SafeLoader subclass


#: the parts a fold's per-row predictions are stored for
PARTS = ("test", "validation")


def check_part(part: str) -> str:
    """``part`` if it is one of :data:`PARTS`; a one-line ValueError otherwise, so that a
    misspelt part is refused instead of read as the validation tail."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    return part


def _predictions_path(profile: str, notebook: str, part: str) -> Path:
    check_part(part)
    suffix = "" if part == "test" else f"_{part}"
    return results_dir(profile) / f"{notebook}{suffix}_predictions.csv"


def write_predictions(profile: str, notebook: str, frame: pd.DataFrame,
                      part: str = "test") -> Path:
    """Per-row predictions (results/<profile>/<notebook>_predictions.csv) for calibration.

    Expected columns: model, protocol, seed, fold, position, y_true, y_pred and,
    where the model has them, value, std, p0..p3. ``part="validation"`` stores
    the same models' predictions on the clean protocol's validation tails
    (<notebook>_validation_predictions.csv), where chapter 7 chooses thresholds.
    """
    path = _predictions_path(profile, notebook, part)
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.6g"))


def read_predictions(profile: str, notebook: str, part: str = "test") -> pd.DataFrame:
    """The per-row predictions :func:`write_predictions` stored, as a data frame."""
    path = _predictions_path(profile, notebook, part)
    if not path.is_file():
        raise _missing(path, profile, notebook)
    return pd.read_csv(path)
