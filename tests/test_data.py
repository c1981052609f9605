"""The data command accepts the canonical content and names what is wrong in damaged copies."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from occupancy_utils import data


def write(tmp_path: Path, lines: list[str], name: str = "copy.csv", newline: str = "\n") -> Path:
    path = tmp_path / name
    path.write_text(newline.join(lines) + newline)
    return path


def set_cell(lines: list[str], row: int, column: str, value: str) -> list[str]:
    """Replace one cell; row is 1-based over data rows (line row+1 of the file)."""
    header = lines[0].split(",")
    cells = lines[row].split(",")
    cells[header.index(column)] = value
    out = list(lines)
    out[row] = ",".join(cells)
    return out


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "occupancy_utils.data", *args],
                          capture_output=True, text=True)


def test_canonical_file_is_accepted(data_file):
    frame = data.check(data_file)
    assert len(frame) == data.CANONICAL_ROWS
    assert frame[data.TARGET].value_counts().to_dict() == data.CANONICAL_CLASS_COUNTS


def test_load_gives_time_index_and_feature_groups(frame):
    assert frame.index.name == "time" and frame.index.is_monotonic_increasing
    assert list(frame.columns) == [*data.FEATURES, data.TARGET]
    assert len(data.NON_LIGHT_FEATURES) == 12
    assert not set(data.NON_LIGHT_FEATURES) & set(data.FEATURE_GROUPS["light"])


def test_spelling_differences_are_accepted(tmp_path, raw_lines):
    """ISO dates, CRLF line endings and other float spellings are the same content."""
    header, rows = raw_lines[0], raw_lines[1:]
    respelled = []
    for line in rows:
        cells = line.split(",")
        cells[0] = cells[0].replace("/", "-")
        cells[2] = f"{float(cells[2]):.4f}"          # 24.94 -> 24.9400
        cells[15] = f"{float(cells[15]):.9e}"        # slope in exponent notation
        respelled.append(",".join(cells))
    path = write(tmp_path, [header, *respelled], newline="\r\n")
    assert len(data.check(path)) == data.CANONICAL_ROWS


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda ls: set_cell(ls, 57, "S3_Light", ""), "column 'S3_Light' row 57 (line 58): empty"),
        (lambda ls: set_cell(ls, 100, "Room_Occupancy_Count", "7"),
         "column 'Room_Occupancy_Count' row 100 (line 101): label 7 is not in 0..3"),
        (lambda ls: set_cell(ls, 12, "S5_CO2", "abc"), "column 'S5_CO2' row 12 (line 13)"),
        (lambda ls: set_cell(ls, 5, "Date", "2017/13/45"), "column 'Date' row 5 (line 6)"),
        (lambda ls: [ls[0], *ls[1:3], ls[2], *ls[3:]],
         "columns 'Date'/'Time' row 3 (line 4): timestamp"),
        (lambda ls: [",".join(c for i, c in enumerate(line.split(",")) if i != 7)
                     for line in ls], "missing column 'S2_Light'"),
        (lambda ls: ls[:-1], "10128 rows, the canonical file has 10129"),
        # relabelling keeps every label valid but changes the class counts
        (lambda ls: set_cell(ls, 5000, "Room_Occupancy_Count", "1"), "class counts"),
        # one changed reading, all counts intact: only the checksum can see it
        (lambda ls: set_cell(ls, 4321, "S2_Temp", "30.5"),
         "column 'S2_Temp': values differ from the canonical data set"),
    ],
    ids=["blank", "label", "non-number", "bad-date", "not-increasing", "dropped-column",
         "row-count", "relabelled", "changed-value"],
)
def test_damaged_copies_are_named(tmp_path, raw_lines, damage, expected):
    path = write(tmp_path, damage(raw_lines))
    with pytest.raises(data.DataError, match=None) as info:
        data.check(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_cli_check_prints_one_line(data_file, tmp_path, raw_lines):
    ok = run_cli("check", str(data_file))
    assert ok.returncode == 0 and len(ok.stdout.strip().splitlines()) == 1
    assert "canonical content" in ok.stdout
    bad = run_cli("check", str(write(tmp_path, set_cell(raw_lines, 57, "S3_Light", ""))))
    assert bad.returncode != 0
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "S3_Light" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_names_a_missing_or_unreadable_file(tmp_path):
    missing = run_cli("check", str(tmp_path / "nope.csv"))
    assert missing.returncode != 0 and "no such file" in missing.stderr
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\x00\xff\xfe" * 100)
    res = run_cli("check", str(binary))
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_fetch_from_zip_and_csv(tmp_path, data_file):
    zipped = tmp_path / "uci.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.write(data_file, "Occupancy_Estimation.csv")
    dest = data.fetch(str(zipped), tmp_path / "out" / "Occupancy_Estimation.csv")
    assert len(data.check(dest)) == data.CANONICAL_ROWS
    dest2 = data.fetch(str(data_file), tmp_path / "out2" / "Occupancy_Estimation.csv")
    assert dest2.read_bytes() == data_file.read_bytes()
    assert not list(dest.parent.glob(".fetch-*"))


def test_fetch_rejects_zip_path_escape(tmp_path, data_file):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.write(data_file, "../../Occupancy_Estimation.csv")
    dest = tmp_path / "out" / "Occupancy_Estimation.csv"
    with pytest.raises(data.DataError, match="escapes"):
        data.fetch(str(evil), dest)
    assert not dest.exists()
    assert not (tmp_path.parent / "Occupancy_Estimation.csv").exists()


def test_failed_fetch_keeps_the_good_copy(tmp_path, data_file, raw_lines):
    dest = tmp_path / "Occupancy_Estimation.csv"
    dest.write_bytes(data_file.read_bytes())
    bad = write(tmp_path, set_cell(raw_lines, 100, "Room_Occupancy_Count", "9"), "bad.csv")
    res = subprocess.run([sys.executable, "-m", "occupancy_utils.data", "fetch",
                          "--source", str(bad), "--dest", str(dest)],
                         capture_output=True, text=True)
    assert res.returncode != 0 and "label 9" in res.stderr
    assert dest.read_bytes() == data_file.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Occupancy_Estimation.csv", "bad.csv"]


def test_unreachable_url_says_what_to_do(tmp_path):
    with pytest.raises(data.DataError, match="DATA_SOURCE"):
        data.fetch("http://127.0.0.1:9/none.zip", tmp_path / "x.csv")
