"""Selig/Lednicer .dat reading and writing, including malformed files and fuzzing."""

import fuzzing
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phenograd.core.errors import InputError
from phenograd.datasets.airfoil import naca
from phenograd.datasets.datfile import parse_dat, read_dat, write_dat


@pytest.mark.parametrize("fmt", ["selig", "lednicer"])
def test_round_trip(tmp_path, fmt):
    coords = naca("4412", 61)
    path = tmp_path / f"foil_{fmt}.dat"
    write_dat(path, "NACA 4412", coords, fmt=fmt)
    dat = read_dat(path)
    assert dat.name == "NACA 4412" and dat.format == fmt
    np.testing.assert_allclose(dat.coordinates, coords, atol=1e-8)


def test_plain_file_without_name_and_trailing_notes(tmp_path):
    coords = naca("0012", 31)
    text = "".join(f"{x} {y}\n" for x, y in coords) + "\nNotes: from a web page\nhttp://example\n"
    p = tmp_path / "plain.dat"
    p.write_text(text)
    dat = read_dat(p)
    assert dat.name == "plain" and len(dat.coordinates) == len(coords)


BAD_FILES = {
    "empty.dat": (b"", "empty file"),
    "blank.dat": (b"\n\n  \n", "empty file"),
    "name_only.dat": (b"my airfoil\n", "no coordinates"),
    "binary.dat": (bytes(range(256)) * 4, "binary"),
    "malformed.dat": (b"foil\n1.0 0.0\n0.5 abc\n0.0 0.0\n", "line 3"),
    "three_cols.dat": (b"foil\n" + b"1.0 0.0 3\n" * 12, "line 2"),
    "nan.dat": (b"foil\n" + b"1.0 0.0\n" * 5 + b"nan 0.1\n" + b"0.0 0.0\n" * 6, "non-finite"),
    "truncated_lednicer.dat": (b"foil\n20. 20.\n\n" + b"0.0 0.0\n" * 25, "truncated"),
    "too_few.dat": (b"foil\n1 0\n0.5 0.1\n0 0\n0.5 -0.1\n1 0\n", "at least 10"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_give_one_line_errors(tmp_path, name):
    content, match = BAD_FILES[name]
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(InputError, match=match) as info:
        read_dat(p)
    assert "\n" not in str(info.value) and name in str(info.value)


def test_missing_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_dat(tmp_path / "nope.dat")
    with pytest.raises(InputError, match="not a regular file"):
        read_dat(tmp_path)


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    p = tmp_path / "out.dat"
    p.write_text("old contents\n")
    write_dat(p, "new", naca("0012", 11))
    assert read_dat(p).name == "new"
    assert [f.name for f in tmp_path.iterdir()] == ["out.dat"]


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_fuzz_parse_text_never_crashes(text):
    try:
        dat = parse_dat(text, "fuzz.dat")
    except InputError as exc:
        assert "\n" not in str(exc)
    else:
        assert dat.coordinates.ndim == 2 and dat.coordinates.shape[1] == 2 and len(dat.coordinates) >= 10
        assert np.all(np.isfinite(dat.coordinates))


number = st.floats(min_value=-2, max_value=2, allow_nan=False).map(lambda v: f"{v:.6f}")
line = st.one_of(
    st.tuples(number, number).map(" ".join),
    st.tuples(number, number, number).map(" ".join),
    number,
    st.sampled_from(["", "NACA 0012", "61. 61.", "nan nan", "inf 0", "1e999 0", "# comment", "\x00\x01"]),
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(line, max_size=60))
def test_fuzz_structured_lines(lines):
    text = "\n".join(lines)
    try:
        dat = parse_dat(text, "fuzz.dat")
    except InputError:
        return
    assert np.all(np.isfinite(dat.coordinates)) and len(dat.coordinates) >= 10


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=300))
def test_fuzz_read_bytes(tmp_path, data):
    p = tmp_path / "fuzz.dat"
    p.write_bytes(data)
    try:
        read_dat(p)
    except InputError:
        pass


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(fuzzing.dat_inputs())
def test_fuzz_garbled_files_through_check_airfoil(tmp_path, data):
    """Real Selig and Lednicer files garbled (tests/fuzzing.py), read and validated as `simulate airfoil --dat`
    does: a usable contour or an InputError with a one-line message, and the file left as it was."""
    fuzzing.run_dat(data, tmp_path)
