"""Fetching, validating and loading the UCI Room Occupancy Estimation data.

Altered copies of this CSV circulate (relabelled targets, blanks, other date
formats, dropped columns), so a copy is accepted on its *content*: schema,
no missing cells, labels in 0..3, strictly increasing timestamps, and the
canonical row count, class counts and per-column checksums of the parsed
values. Checksums are taken after parsing, so date spelling, line endings and
float spelling do not matter, while any changed value does.

Command line::

    python -m occupancy_utils.data check PATH
    python -m occupancy_utils.data fetch [--source URL_OR_PATH] [--dest PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from .paths import DATA_FILE

CANONICAL_URL = "https://archive.ics.uci.edu/static/public/864/room+occupancy+estimation.zip"
CSV_NAME = "Occupancy_Estimation.csv"
#: The label column: how many people are in the room (0-3).
TARGET = "Room_Occupancy_Count"

#: The sensor columns by kind (temperature, light, sound, CO2, motion).
FEATURE_GROUPS: dict[str, list[str]] = {
    "temperature": ["S1_Temp", "S2_Temp", "S3_Temp", "S4_Temp"],
    "light": ["S1_Light", "S2_Light", "S3_Light", "S4_Light"],
    "sound": ["S1_Sound", "S2_Sound", "S3_Sound", "S4_Sound"],
    "co2": ["S5_CO2", "S5_CO2_Slope"],
    "pir": ["S6_PIR", "S7_PIR"],
}
#: Column order of the published file, after Date and Time.
FEATURES: list[str] = [
    *FEATURE_GROUPS["temperature"],
    *FEATURE_GROUPS["light"],
    *FEATURE_GROUPS["sound"],
    *FEATURE_GROUPS["co2"],
    *FEATURE_GROUPS["pir"],
]
#: The 12 features every model of the report uses (the light sensors dropped).
NON_LIGHT_FEATURES: list[str] = [f for f in FEATURES if f not in FEATURE_GROUPS["light"]]
COLUMNS: list[str] = ["Date", "Time", *FEATURES, TARGET]
CLASSES: list[int] = [0, 1, 2, 3]
INTEGER_COLUMNS = {"S1_Light", "S2_Light", "S3_Light", "S4_Light", "S5_CO2", "S6_PIR", "S7_PIR",
                   TARGET}

CANONICAL_ROWS = 10129
CANONICAL_CLASS_COUNTS = {0: 8228, 1: 459, 2: 748, 3: 694}
# First 16 hex digits of the sha256 of each parsed column (see _column_digest,
# _timestamps_digest), computed from the UCI file.
CANONICAL_DIGESTS: dict[str, str] = {
    "time": "8d6386f059413ab2",
    "S1_Temp": "fb7154e3ae066e75",
    "S2_Temp": "097de1231593689a",
    "S3_Temp": "defccc4f1823b006",
    "S4_Temp": "3a3ba3043c809b2c",
    "S1_Light": "e9fb3341ed796a0d",
    "S2_Light": "3fdfe65a156cbe20",
    "S3_Light": "0dff5174b1eb7c94",
    "S4_Light": "9c028a8acd95674b",
    "S1_Sound": "40e6b88b67288691",
    "S2_Sound": "61cc89bcbbac4a72",
    "S3_Sound": "703841cc1e2358a0",
    "S4_Sound": "d2f3ec80bea28bb1",
    "S5_CO2": "737876641a6fdb3e",
    "S5_CO2_Slope": "00be21d377cb10ac",
    "S6_PIR": "a0e0ffbb06f2a347",
    "S7_PIR": "f7552346b641be25",
    "Room_Occupancy_Count": "7dc3b544a196a7a4",
}
_DATE_FORMATS = ("%Y/%m/%d", "%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y")


class DataError(ValueError):
    """A data file is not the canonical data set; the message is one line for the user."""


def _column_digest(values: np.ndarray) -> str:
    """Digest of parsed values, independent of how the CSV spelled them."""
    arr = np.ascontiguousarray(np.round(values.astype("float64"), 9))
    arr[arr == 0] = 0.0  # -0.0 and 0.0 are the same reading
    return hashlib.sha256(arr.tobytes()).hexdigest()[:16]


def _timestamps_digest(ts: pd.Series) -> str:
    secs = (ts - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    return hashlib.sha256(np.ascontiguousarray(secs.to_numpy("int64")).tobytes()).hexdigest()[:16]


def _parse_dates(raw: pd.Series, name: str) -> pd.Series:
    for fmt in _DATE_FORMATS:
        parsed = pd.to_datetime(raw, format=fmt, errors="coerce")
        if parsed.notna().all():
            return parsed
    bad = pd.to_datetime(raw, format=_DATE_FORMATS[0], errors="coerce").isna().to_numpy()
    row = int(np.argmax(bad))
    raise DataError(f"{name}: column 'Date' row {row + 1} (line {row + 2}): "
                    f"cannot read date {raw.iloc[row]!r}")


def read_raw(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate one CSV file; return the parsed frame (Date/Time combined).

    Raises DataError with a one-line message naming the file, column and row.
    """
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise DataError(f"{name}: no such file")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{name}: not a readable CSV file ({first})") from None
    raw.columns = [c.strip() for c in raw.columns]
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(f"{name}: missing column {missing[0]!r}"
                        + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    extra = [c for c in raw.columns if c not in COLUMNS]
    if extra:
        raise DataError(f"{name}: unexpected column {extra[0]!r}")
    raw = raw[COLUMNS]
    for col in COLUMNS:
        cells = raw[col].str.strip()
        empty = (cells == "").to_numpy()
        if empty.any():
            row = int(np.argmax(empty))
            raise DataError(f"{name}: column {col!r} row {row + 1} (line {row + 2}): empty cell")
        raw[col] = cells

    out = pd.DataFrame(index=pd.RangeIndex(len(raw)))
    dates = _parse_dates(raw["Date"], name)
    times = pd.to_timedelta(raw["Time"], errors="coerce")
    if times.isna().any():
        row = int(np.argmax(times.isna().to_numpy()))
        raise DataError(f"{name}: column 'Time' row {row + 1} (line {row + 2}): "
                        f"cannot read time {raw['Time'].iloc[row]!r}")
    out["time"] = dates + times
    for col in [*FEATURES, TARGET]:
        num = pd.to_numeric(raw[col], errors="coerce")
        if num.isna().any() or not np.isfinite(num).all():
            row = int(np.argmax((num.isna() | ~np.isfinite(num)).to_numpy()))
            raise DataError(f"{name}: column {col!r} row {row + 1} (line {row + 2}): "
                            f"{raw[col].iloc[row]!r} is not a number")
        if col in INTEGER_COLUMNS:
            frac = (num % 1 != 0).to_numpy()
            if frac.any():
                row = int(np.argmax(frac))
                raise DataError(f"{name}: column {col!r} row {row + 1} (line {row + 2}): "
                                f"{raw[col].iloc[row]!r} is not a whole number")
            num = num.astype("int64")
        out[col] = num
    labels_ok = out[TARGET].isin(CLASSES).to_numpy()
    if not labels_ok.all():
        row = int(np.argmin(labels_ok))
        raise DataError(f"{name}: column {TARGET!r} row {row + 1} (line {row + 2}): "
                        f"label {out[TARGET].iloc[row]} is not in 0..3")
    step = out["time"].diff().dt.total_seconds().to_numpy()[1:]
    if (step <= 0).any():
        row = int(np.argmax(step <= 0)) + 1
        raise DataError(f"{name}: columns 'Date'/'Time' row {row + 1} (line {row + 2}): "
                        f"timestamp {out['time'].iloc[row]} is not after the previous row's")
    return out


def validate_canonical(frame: pd.DataFrame, name: str) -> None:
    """Check row count, class counts and per-column digests against the UCI file."""
    if len(frame) != CANONICAL_ROWS:
        raise DataError(f"{name}: {len(frame)} rows, the canonical file has {CANONICAL_ROWS}")
    counts = {int(k): int(v) for k, v in frame[TARGET].value_counts().sort_index().items()}
    counts = {c: counts.get(c, 0) for c in CLASSES}
    if counts != CANONICAL_CLASS_COUNTS:
        raise DataError(f"{name}: column {TARGET!r}: class counts {counts} differ from the "
                        f"canonical {CANONICAL_CLASS_COUNTS}")
    for col, expected in CANONICAL_DIGESTS.items():
        got = (_timestamps_digest(frame["time"]) if col == "time"
               else _column_digest(frame[col].to_numpy()))
        if got != expected:
            label = "'Date'/'Time'" if col == "time" else repr(col)
            raise DataError(f"{name}: column {label}: values differ from the canonical data set "
                            "(an altered copy?)")


def check(path: str | os.PathLike) -> pd.DataFrame:
    """Fully validate a file and return the parsed frame."""
    frame = read_raw(path)
    validate_canonical(frame, str(path))
    return frame


def summary(frame: pd.DataFrame) -> str:
    """One line on a checked data file: rows, time span and class counts."""
    counts = frame[TARGET].value_counts().sort_index().to_dict()
    return (f"{len(frame)} rows from {frame['time'].iloc[0]} to {frame['time'].iloc[-1]}, "
            f"class counts {counts}: canonical content")


def _is_url(source: str) -> bool:
    return source.split(":", 1)[0].lower() in {"http", "https", "ftp", "file"}


def _extract_csv(zip_path: Path, dest: Path) -> None:
    """Copy the CSV member of a zip to dest, never using the member's path on disk."""
    try:
        zf = zipfile.ZipFile(zip_path)
    except zipfile.BadZipFile:
        raise DataError(f"{zip_path}: not a valid zip file") from None
    with zf:
        members = [m for m in zf.infolist() if m.filename.endswith(".csv")]
        unsafe = [m.filename for m in zf.infolist()
                  if m.filename.startswith(("/", "\\")) or ".." in Path(m.filename).parts]
        if unsafe:
            raise DataError(f"{zip_path}: zip member {unsafe[0]!r} escapes the target folder")
        if not members:
            raise DataError(f"{zip_path}: the zip holds no CSV file")
        preferred = [m for m in members if Path(m.filename).name == CSV_NAME] or members
        with zf.open(preferred[0]) as src, open(dest, "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)


def fetch(source: str | None = None, dest: str | os.PathLike = DATA_FILE) -> Path:
    """Fetch the data (URL, zip or CSV path), validate it, then move it into place.

    Work happens in temporary files beside dest, so an interrupted or failed
    fetch leaves an existing good copy untouched.
    """
    source = source or CANONICAL_URL
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=".fetch-", dir=dest.parent))
    try:
        download = tmpdir / "download"
        if _is_url(source):
            try:
                with urllib.request.urlopen(source, timeout=60) as resp, open(download, "wb") as f:
                    while chunk := resp.read(1 << 20):
                        f.write(chunk)
            except OSError as exc:
                raise DataError(f"{source}: download failed ({exc}); set DATA_SOURCE to a "
                                "local copy of the zip or CSV") from None
        else:
            src = Path(source)
            if not src.is_file():
                raise DataError(f"{source}: no such file")
            download.write_bytes(src.read_bytes())
        csv = tmpdir / CSV_NAME
        if zipfile.is_zipfile(download):
            _extract_csv(download, csv)
        else:
            download.rename(csv)
        check(csv)
        os.replace(csv, dest)
    finally:
        for p in tmpdir.iterdir():
            p.unlink()
        tmpdir.rmdir()
    return dest


def ensure(source: str | None = None, dest: str | os.PathLike = DATA_FILE) -> Path:
    """The data file's path, fetched and validated first if it is not there yet.

    For places where nobody types ``make data``: Binder's build and the first
    cell of a notebook opened in Colab. ``source`` defaults to the environment's
    ``DATA_SOURCE``, then to the UCI archive.
    """
    dest = Path(dest)
    if dest.is_file():
        return dest
    return fetch(source or os.environ.get("DATA_SOURCE") or None, dest)


def load(path: str | os.PathLike = DATA_FILE, validate: bool = True) -> pd.DataFrame:
    """The data as the chapters use it: a DatetimeIndex named ``time``, features and target.

    Feature groups are in :data:`FEATURE_GROUPS`; the target column is :data:`TARGET`.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: data file missing; run `make data` "
                        "(or `python -m occupancy_utils.data fetch --source PATH_OR_URL`)")
    frame = check(path) if validate else read_raw(path)
    return frame.set_index("time")


def main(argv: list[str] | None = None) -> int:
    """The command line (``check`` or ``fetch``); returns 0, or 1 after a one-line error."""
    parser = argparse.ArgumentParser(prog="python -m occupancy_utils.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_check = sub.add_parser("check", help="validate a CSV file")
    p_check.add_argument("path")
    p_fetch = sub.add_parser("fetch", help="fetch, validate and store the CSV")
    p_fetch.add_argument("--source", default=None,
                         help=f"URL, zip or CSV (default {CANONICAL_URL})")
    p_fetch.add_argument("--dest", default=str(DATA_FILE))
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            print(f"{args.path}: {summary(check(args.path))}")
        else:
            dest = fetch(args.source, args.dest)
            print(f"{dest}: {summary(read_raw(dest))}")
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
