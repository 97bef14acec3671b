"""Fuzz targets shared by tests/test_fuzz.py, tests/test_datfile.py (a few dozen examples each)
and benchmarks/fuzz.py (thousands).

A target is a hypothesis strategy of inputs and a `run_*` function that feeds one input to a
reader of user input the way the command line does, with real files in a work folder. It
returns "ok" when the reader accepted the input and "rejected" when it raised InputError with
a one-line message (for the command line: exit code 2 and one `phenograd: error:` line, with
no file created or changed). Any other exception propagates: that is a bug, a user would see
a traceback. Readers must also never change the file they read.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

import torch
from hypothesis import strategies as st

from phenograd.core.errors import InputError

# ----------------------------------------------------------------------------- verdicts


def verdict(call) -> str:
    """'ok' if call() returns, 'rejected' if it raises InputError with a one-line message;
    any other exception propagates."""
    try:
        call()
    except InputError as exc:
        message = str(exc)
        if not message.strip() or "\n" in message:
            raise AssertionError(f"InputError without a one-line message: {message!r}") from exc
        return "rejected"
    return "ok"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


def _snapshot(folder: Path) -> dict[str, str]:
    """{relative path: content hash} of every file under folder."""
    return {str(p.relative_to(folder)): _digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def read_unchanged(path: Path, call) -> str:
    """verdict(call), and an AssertionError if the reader changed the file at path."""
    before = _digest(path)
    result = verdict(call)
    if _digest(path) != before:
        raise AssertionError(f"reading {path.name} changed the file")
    return result


# ----------------------------------------------------------------------------- byte mutations

TOKENS = [
    b"",
    b"0",
    b"-1",
    b"1",
    b"2",
    b"3",
    b"nan",
    b"inf",
    b"-inf",
    b"1e999",
    b"-0",
    b"1e-320",
    b"0.5",
    b"99999999999999999999",
    b"100000000",
    b"abc",
    b"Pt",
    b"Xx",
    b"H",
    b"T",
    b"F",
    b'"',
    b"=",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b":",
    b"\x00",
    b"\xff\xfe",
    b"\t",
    b"\r",
    b"#",
]


@st.composite
def mutated(draw, base: bytes, max_edits: int = 4) -> bytes:
    """base after 1..max_edits random edits: truncation, deleted, duplicated or swapped lines,
    a token replaced by a nasty one, inserted random bytes, overwritten bytes."""
    data = base
    for _ in range(draw(st.integers(1, max_edits))):
        kind = draw(st.sampled_from(["truncate", "delete", "duplicate", "swap", "token", "insert", "overwrite"]))
        lines = data.split(b"\n")
        if kind == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        elif kind in ("delete", "duplicate", "swap") and lines:
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            if kind == "delete":
                del lines[i]
            elif kind == "duplicate":
                lines.insert(j, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            data = b"\n".join(lines)
        elif kind == "token" and lines:
            i = draw(st.integers(0, len(lines) - 1))
            words = lines[i].split(b" ")
            k = draw(st.integers(0, len(words) - 1))
            words[k] = draw(st.sampled_from(TOKENS))
            lines[i] = b" ".join(words)
            data = b"\n".join(lines)
        elif kind == "insert":
            at = draw(st.integers(0, len(data)))
            data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
        elif kind == "overwrite" and data:
            at = draw(st.integers(0, len(data) - 1))
            chunk = draw(st.binary(min_size=1, max_size=8))
            data = data[:at] + chunk + data[at + len(chunk) :]
    return data


def garbled(base: bytes, max_size: int = 400):
    """Mostly edits of a valid file, sometimes random bytes."""
    return st.one_of(mutated(base), mutated(base), mutated(base), st.binary(max_size=max_size))


# ----------------------------------------------------------------------------- airfoil .dat files


@cache
def dat_files() -> dict[str, bytes]:
    """A valid Selig and a valid Lednicer file of NACA 2412 (40 points per side)."""
    from phenograd.datasets.airfoil import naca
    from phenograd.datasets.datfile import format_dat

    coords = naca("2412", 40)
    return {fmt: format_dat("NACA 2412", coords, fmt).encode() for fmt in ("selig", "lednicer")}


def dat_inputs():
    return st.one_of(garbled(dat_files()["selig"]), garbled(dat_files()["lednicer"]))


def run_dat(data: bytes, work: Path) -> str:
    """read_dat + check_airfoil, as `phenograd simulate airfoil --dat` and `predict airfoil --dat` do."""
    from phenograd.datasets.airfoil import check_airfoil
    from phenograd.datasets.datfile import read_dat

    path = work / "fuzz.dat"
    path.write_bytes(data)
    return read_unchanged(path, lambda: check_airfoil(read_dat(path).coordinates, str(path)))


# ----------------------------------------------------------------------------- structure files


@cache
def structure_files() -> dict[str, bytes]:
    """O on a tagged Pt(111) 2x2x3 slab as .extxyz (one and two frames), .traj, .json and .db."""
    from ase.build import add_adsorbate, fcc111
    from ase.io import write

    slab = fcc111("Pt", (2, 2, 3), vacuum=6.0)
    slab.set_tags([0] * 4 + [1] * 8)
    add_adsorbate(slab, "O", 1.5, "fcc")
    slab.set_tags([0] * 4 + [1] * 8 + [2])
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, frames in (
            ("one.extxyz", slab),
            ("two.extxyz", [slab, slab]),
            ("one.traj", slab),
            ("one.json", slab),
            ("one.db", slab),
        ):
            path = Path(tmp) / name
            write(path, frames)
            out[name] = path.read_bytes()
    return out


STRUCTURE_SUFFIXES = [".extxyz", ".xyz", ".traj", ".json", ".db", ".cif", ".vasp", ".pdb", ".txt"]


def structure_inputs():
    """(suffix, bytes): garbled valid files of several formats, or random bytes under any suffix."""
    files = structure_files()
    return st.one_of(
        *[garbled(files[name]).map(lambda b, s=Path(name).suffix: (s, b)) for name in ("one.extxyz", "two.extxyz")],
        *[
            garbled(files[name]).map(lambda b, s=Path(name).suffix: (s, b))
            for name in ("one.traj", "one.json", "one.db")
        ],
        st.tuples(st.sampled_from(STRUCTURE_SUFFIXES), st.binary(max_size=300)),
    )


def run_structure(item, work: Path) -> str:
    """read_structure + check_structure (as `simulate adsorption` before it relaxes), then every
    frame through read_structures (as `predict adsorption`)."""
    from phenograd.cli_model import read_structures
    from phenograd.datasets.catalyst import read_structure
    from phenograd.simulators.adsorption import check_structure

    suffix, data = item
    path = work / f"fuzz{suffix}"
    path.unlink(missing_ok=True)
    path.write_bytes(data)
    one = read_unchanged(path, lambda: check_structure(read_structure(path), None, str(path)))
    every = read_unchanged(path, lambda: read_structures(path))
    return "ok" if "ok" in (one, every) else "rejected"


# ----------------------------------------------------------------------------- TOML files


def toml_value(v) -> str:
    """v written as a TOML value (inline tables and arrays)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else "inf" if v == math.inf else "-inf" if v == -math.inf else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # TOML basic strings share JSON's escapes
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"


def toml_document(doc: dict) -> bytes:
    return "".join(f"{json.dumps(str(k))} = {toml_value(v)}\n" for k, v in doc.items()).encode("utf-8", "surrogatepass")


TEXT = st.text(max_size=12)
ANY_SCALAR = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(), TEXT)
ANY_VALUE = st.one_of(ANY_SCALAR, st.lists(ANY_SCALAR, max_size=3), st.dictionaries(TEXT, ANY_SCALAR, max_size=2))


def loose(plausible):
    """Usually (7 in 8) a plausible value, else any TOML value."""
    return st.one_of(*[plausible] * 7, ANY_VALUE)


def table(fields: dict, extra: bool = True):
    """A dict holding a random subset of fields (name -> strategy), sometimes an unknown key."""
    keys = sorted(fields)
    subset = st.lists(st.sampled_from(keys), unique=True, max_size=len(keys)) if keys else st.just([])
    base = subset.flatmap(lambda ks: st.fixed_dictionaries({k: loose(fields[k]) for k in ks}))
    if not extra:
        return base
    return st.one_of(base, base, base, st.tuples(base, TEXT, ANY_VALUE).map(lambda t: {**t[0], t[1]: t[2]}))


def number(lo, hi):
    """A float or integer in [lo, hi], or (1 in 4) nan, inf, -inf, 0 or -1."""
    return st.one_of(
        st.floats(lo, hi),
        st.floats(lo, hi),
        st.integers(int(math.floor(lo)), int(math.ceil(hi))),
        st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -1.0]),
    )


PAIR = st.lists(number(-2, 2), min_size=2, max_size=2)
POINT = table(
    {
        "reynolds": number(1e2, 1e10),
        "cl": number(-1, 2),
        "alpha": number(-100, 100),
        "weight": number(-1, 10),
        "ncrit": number(0, 30),
        "mach": number(-0.5, 1.5),
    }
)
PROBLEM = table(
    {
        "name": TEXT,
        "start": st.sampled_from(["naca0012", "nacaXYZ", "foil.dat", "", "/nonexistent.dat"]),
        "points": st.lists(POINT, max_size=3),
        "objective": table(
            {
                "kind": st.sampled_from(["weighted_cd", "max_cl_cd", "expression", "cd"]),
                "expression": st.sampled_from(["sum(weight * CD)", "CD / CL", "", "1/0", "CL.x"]),
            }
        ),
        "constraints": table(
            {
                "cm_min": number(-1, 1),
                "thickness_min": st.lists(PAIR, max_size=3),
                "max_thickness_min": number(0, 1),
                "max_thickness_max": number(0, 1),
                "te_angle_min": number(0, 30),
                "area_min": number(0, 1),
                "wiggliness_max_ratio": number(-1, 5),
                "wiggliness_max": number(-1, 1),
                "le_round_min": number(0, 1),
                "alpha_increasing": st.booleans(),
            }
        ),
        "trust": table({"confidence_min": number(-1, 2), "cl_std_max": number(-1, 1)}),
        "bounds": table(
            {
                "upper": PAIR,
                "lower": PAIR,
                "le_weight": st.one_of(PAIR, number(-1, 1)),
                "te_thickness": st.one_of(PAIR, number(-1, 1)),
                "alpha": st.lists(number(-20, 20), min_size=2, max_size=2),
            }
        ),
        "solver": table(
            {
                "method": st.sampled_from(["SLSQP", "trust-constr", "BFGS"]),
                "maxiter": number(-5, 2e5),
                "multistart": number(-5, 2000),
                "seed": number(-5, 100),
                "ftol": number(-1, 1),
            }
        ),
    }
)

GOOD_PROBLEM = b"""name = "fuzz"
[[points]]
reynolds = 5e5
cl = 0.8
weight = 2
[[points]]
reynolds = 1e6
alpha = 4.0
[objective]
kind = "weighted_cd"
[constraints]
cm_min = -0.13
thickness_min = [[0.33, 0.12], [0.9, 0.01]]
[bounds]
upper = [-0.25, 0.5]
te_thickness = 0.0
[solver]
maxiter = 50
"""


def problem_inputs():
    return st.one_of(PROBLEM.map(toml_document), garbled(GOOD_PROBLEM))


def run_problem(data: bytes, work: Path) -> str:
    """load_problem, as `phenograd optimize airfoil --problem FILE` does."""
    from phenograd.optimize.airfoil_problem import load_problem

    path = work / "problem.toml"
    path.write_bytes(data)
    return read_unchanged(path, lambda: load_problem(path))


METAL_NAMES = st.sampled_from(["Pt", "Pd", "Cu", "Ni", "Ag", "Au", "Al", "Fe", "Xx", "", "pt"])
COMPOSITION_TEXT = st.one_of(
    st.lists(
        st.tuples(METAL_NAMES, st.sampled_from(["0.5", "0.25", "0.75", "1", "0", "-1", "nan", "inf", "x", ""])),
        min_size=1,
        max_size=3,
    ).map(lambda parts: ",".join(f"{m}:{x}" for m, x in parts)),
    TEXT,
)
SPACE = table(
    {
        "metals": st.lists(METAL_NAMES, max_size=4),
        "facets": st.lists(st.sampled_from(["111", "100", "110", "211", "x"]), max_size=2),
        "adsorbates": st.lists(st.sampled_from(["O", "H", "N", "C", "OH", "CO", "Q"]), max_size=2),
        "sites": st.lists(st.sampled_from(["fcc", "hcp", "ontop", "bridge", "hollow", "x"]), max_size=2),
        "size": st.lists(number(-1, 10).map(lambda v: int(v) if math.isfinite(v) else v), max_size=3),
        "layers": number(-1, 10),
        "decorations": number(-1, 2000),
        "vacuum": number(-1, 200),
        "compositions": table(
            {
                "n_metals": st.lists(st.integers(-1, 6), max_size=3),
                "step": st.one_of(
                    st.sampled_from([0.5, 0.25, 0.125, 0.3, 0.001, 1e-300, 5e-324, 0.0, 2.0]), number(-1, 2)
                ),
                "include": st.lists(COMPOSITION_TEXT, max_size=2),
                "prototypes": st.lists(st.sampled_from(["L12", "L10", "B2"]), max_size=2),
            }
        ),
        "objective": st.one_of(
            table(
                {"target": st.one_of(number(-3, 3), st.dictionaries(st.sampled_from(["O", "H", "Q"]), number(-3, 3)))}
            ),
            table(
                {
                    "volcano": table(
                        {
                            "optimum": number(-3, 3),
                            "kT": number(-1, 1),
                            "weak_slope": number(-1, 3),
                            "strong_slope": number(-1, 3),
                        }
                    )
                }
            ),
        ),
    }
)

GOOD_SPACE = b"""metals = ["Pt", "Cu", "Ni"]
facets = ["111"]
adsorbates = ["O"]
sites = ["fcc"]
size = [3, 3]
layers = 4
decorations = 2
[compositions]
n_metals = [1, 2]
step = 0.25
include = ["Pt:0.5,Cu:0.25,Ni:0.25"]
prototypes = ["L12"]
[objective]
volcano = {optimum = -0.3, kT = 0.1}
"""


def space_inputs():
    return st.one_of(SPACE.map(toml_document), garbled(GOOD_SPACE))


def run_space(data: bytes, work: Path) -> str:
    """load_space (as `phenograd screen --space FILE`), then count_hint: an accepted space must
    enumerate its slab specs."""
    from phenograd.optimize.space import count_hint, load_space

    path = work / "space.toml"
    path.write_bytes(data)
    return read_unchanged(path, lambda: count_hint(load_space(path)))


# ----------------------------------------------------------------------------- checkpoints


@cache
def checkpoint() -> tuple[bytes, dict]:
    """A small real catalyst checkpoint (2 members, hidden 8, 1 layer): its bytes and its payload."""
    from phenograd.surrogate.model import build_ensemble, default_encoder_config, save_checkpoint

    enc = default_encoder_config("catalyst", 8, 1)
    ens = build_ensemble("catalyst", 2, enc, {"hidden": 8, "width": 8, "depth": 1}, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "small.pt"
        save_checkpoint(path, ens.eval(), "fuzz", {"std_scale": {"E_ads": 1.0}})
        data = path.read_bytes()
    return data, torch.load(io.BytesIO(data), weights_only=True)


TENSOR = st.lists(st.integers(0, 3), max_size=3).map(lambda shape: torch.zeros(shape))
PAYLOAD_VALUE = st.one_of(
    ANY_VALUE,
    st.none(),
    TENSOR,
    st.lists(TENSOR, max_size=2),
    st.integers(-(2**40), 2**40),
    st.sampled_from([0, 1, 8, 14, 1024, 1025, -1, 0.5, 1e9]),
)


@st.composite
def payload_edits(draw, base: dict | None = None) -> bytes:
    """The small checkpoint's payload (or base) with wrong contents: keys dropped or replaced, settings out
    of range, members missing, states with a key dropped or a tensor of another shape; saved with torch.save."""
    payload = copy.deepcopy(checkpoint()[1] if base is None else base)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["top", "drop", "setting", "members", "state_drop", "state_shape", "state_value"]))
        if kind == "top":
            payload[draw(st.sampled_from(sorted(payload) + ["bogus"]))] = draw(PAYLOAD_VALUE)
        elif kind == "drop" and payload:
            payload.pop(draw(st.sampled_from(sorted(payload))))
        elif kind == "setting" and isinstance(payload.get("encoder"), dict) and isinstance(payload.get("head"), dict):
            part = payload[draw(st.sampled_from(["encoder", "head"]))]
            part[draw(st.sampled_from(sorted(part) + ["bogus"]))] = draw(PAYLOAD_VALUE)
        elif kind == "members":
            payload["members"] = draw(st.one_of(st.just([]), PAYLOAD_VALUE, st.lists(PAYLOAD_VALUE, max_size=2)))
        else:  # a state edit: only members that are non-empty dicts have keys to edit (others may be any value)
            members = payload.get("members")
            states = [m for m in members if isinstance(m, dict) and m] if isinstance(members, list) else []
            if not states:
                continue
            state = states[draw(st.integers(0, len(states) - 1))]
            key = draw(st.sampled_from(sorted(state, key=repr)))
            if kind == "state_drop":
                state.pop(key)
            elif kind == "state_shape":
                state[key] = draw(TENSOR)
            else:
                state[key] = draw(PAYLOAD_VALUE)
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


class Blob(bytes):
    """Bytes that hypothesis reports by length and hash instead of a 70 kB repr."""

    def __repr__(self) -> str:
        return f"<{len(self)} bytes, sha256 {hashlib.sha256(self).hexdigest()[:12]}>"


def checkpoint_inputs():
    data = checkpoint()[0]
    return st.one_of(
        st.binary(max_size=400),
        st.integers(0, len(data) - 1).map(lambda n: data[:n]),
        st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)), min_size=1, max_size=8).map(
            lambda flips: _flip(data, flips)
        ),
        payload_edits(),
        payload_edits(),
    ).map(Blob)


def _flip(data: bytes, flips) -> bytes:
    out = bytearray(data)
    for at, value in flips:
        out[at] = value
    return bytes(out)


def run_checkpoint(data: bytes, work: Path) -> str:
    """load_checkpoint (every command's --model) and load_encoder_state (`train --encoder`)."""
    from phenograd.surrogate.model import load_checkpoint
    from phenograd.surrogate.pretrained import load_encoder_state

    path = work / "model.pt"
    path.write_bytes(data)
    result = read_unchanged(path, lambda: load_checkpoint(path))
    read_unchanged(path, lambda: load_encoder_state(path, "catalyst"))
    return result


# ----------------------------------------------------------------------------- command-line values

NASTY_NUMBER = st.one_of(
    st.sampled_from(
        [
            "0",
            "1",
            "-1",
            "2",
            "0.5",
            "1e6",
            "5e5",
            "nan",
            "inf",
            "-inf",
            "1e400",
            "1e-400",
            "0x10",
            "1_000",
            "",
            " ",
            "-",
            "--",
            "١٢",
            "99999999999999999999999",
            "3,5",
            "1:2",
        ]
    ),
    st.floats().map(repr),
    st.integers(-(10**6), 10**6).map(str),
    TEXT,
)
PLAUSIBLE_NUMBER = st.one_of(st.floats(-5, 20).map(lambda v: f"{v:.3g}"), st.integers(0, 12).map(str))
NUMBER = st.one_of(PLAUSIBLE_NUMBER, PLAUSIBLE_NUMBER, NASTY_NUMBER)
SMALL_INT = st.sampled_from(["1", "2", "3", "4", "0", "-1", "x", "1.5", "", "1e3", "99999999999999999999"])
ALPHA = st.one_of(
    st.tuples(NUMBER, NUMBER, NUMBER).map(":".join), st.lists(NUMBER, min_size=1, max_size=3).map(",".join), NUMBER
)
REYNOLDS = st.one_of(st.floats(1e4, 1e7).map(lambda v: f"{v:.3g}"), NUMBER)
RE_SPEC = st.one_of(
    st.tuples(REYNOLDS, REYNOLDS).map(":".join), st.lists(REYNOLDS, min_size=1, max_size=3).map(",".join)
)
NACA = st.one_of(
    st.sampled_from(
        [
            "2412",
            "0012",
            "23012",
            "0000",
            "9999",
            "99x9",
            "NACA 4412",
            "24120",
            "00",
            "٢٤١٢",
            "0050",
            "9950",
            "23112",
            "12345",
            "naca2412",
            "",
        ]
    ),
    st.from_regex(r"\d{3,6}", fullmatch=True),
    TEXT,
)
SIZE = st.one_of(
    st.tuples(SMALL_INT, SMALL_INT).map("x".join), st.sampled_from(["3x3", "0x0", "13x13", "3x3x3", "x", "2X2"]), TEXT
)
ELEMENTS = st.lists(METAL_NAMES, min_size=1, max_size=3)
CALCULATOR = st.sampled_from(
    [
        "emt",
        "EMT",
        "",
        ":",
        "a:b:c",
        "nonexistent_zz_module:Calc",
        ".relative:X",
        "ase.calculators.emt:EMT",
        "ase.calculators.emt:Nope",
        "math:pi",
        "os.path:sep",
    ]
)
INDEX = st.one_of(st.sampled_from(["-1", "0", "1", ":", "::2", "5", "abc", "1:2", "-100", "", "0:0"]), TEXT)


def _options(draw, options: dict) -> list[str]:
    """A random subset of --option VALUE pairs (values drawn from their strategies; a list value
    means several words)."""
    out = []
    for name in draw(st.lists(st.sampled_from(sorted(options)), unique=True, max_size=len(options))):
        value = draw(options[name])
        out += [name, *value] if isinstance(value, list) else [name, value]
    return out


@st.composite
def cli_inputs(draw) -> list[str]:
    """A command line with fuzzed option values; {W} stands for the work folder (see prepare_work)."""
    command = draw(
        st.sampled_from(
            [
                "simulate airfoil",
                "predict airfoil",
                "data airfoil",
                "data catalyst",
                "data unlabelled",
                "simulate adsorption",
                "predict adsorption",
                "optimize composition",
                "train",
            ]
        )
    )
    xfoil = {"--ncrit": NUMBER, "--mach": NUMBER, "--panels": SMALL_INT, "--iter": SMALL_INT, "--timeout": NUMBER}
    if command == "simulate airfoil":
        source = draw(
            st.one_of(
                NACA.map(lambda c: ["--naca", c]),
                st.sampled_from([["--dat", "{W}/foil.dat"], ["--dat", "{W}/bad.dat"]]),
            )
        )
        return ["simulate", "airfoil", *source, "--re", draw(REYNOLDS), "--alpha", draw(ALPHA), *_options(draw, xfoil)]
    if command == "predict airfoil":
        source = draw(st.one_of(NACA.map(lambda c: ["--naca", c]), st.just(["--dat", "{W}/foil.dat"])))
        return [
            "predict",
            "airfoil",
            "--model",
            "{W}/air.pt",
            *source,
            "--re",
            draw(REYNOLDS),
            "--alpha",
            draw(ALPHA),
            *_options(draw, {"--ncrit": NUMBER, "--json": st.just([])}),
        ]
    if command == "data airfoil":
        return [
            "data",
            "airfoil",
            "--out",
            "{W}/out.db",
            "--shapes",
            draw(st.sampled_from(["0", "-1", "x", ""])),
            "--workers",
            "1",
            "--no-progress",
            *_options(
                draw,
                {
                    "--re": RE_SPEC,
                    "--alpha": ALPHA,
                    "--polars-per-shape": SMALL_INT,
                    "--mix-fraction": NUMBER,
                    "--seed": SMALL_INT,
                    **xfoil,
                },
            ),
        ]
    if command == "data catalyst":
        return [
            "data",
            "catalyst",
            "--out",
            "{W}/out.db",
            "--n",
            draw(st.sampled_from(["0", "-1", "x", ""])),
            "--no-progress",
            *_options(
                draw,
                {
                    "--size": SIZE,
                    "--layers": SMALL_INT,
                    "--per-slab": SMALL_INT,
                    "--composition": COMPOSITION_TEXT,
                    "--elements": ELEMENTS,
                    "--adsorbates": st.lists(st.sampled_from(["O", "H", "OH", "Q", ""]), min_size=1, max_size=2),
                    "--facets": st.lists(st.sampled_from(["111", "100", "110", "x"]), min_size=1, max_size=2),
                    "--fmax": NUMBER,
                    "--steps": SMALL_INT,
                    "--calculator": CALCULATOR,
                    "--workers": st.sampled_from(["1", "0", "-1", "x"]),
                    "--seed": SMALL_INT,
                },
            ),
        ]
    if command == "data unlabelled":
        suffix = draw(st.sampled_from([".extxyz", ".db", ".npz", ".traj", ".foo", ""]))
        return [
            "data",
            "unlabelled",
            "--domain",
            draw(st.sampled_from(["catalyst", "airfoil", "x"])),
            "--out",
            "{W}/out" + suffix,
            "--n",
            draw(st.sampled_from(["0", "1", "-1", "x", ""])),
            *_options(
                draw,
                {
                    "--elements": ELEMENTS,
                    "--adsorbates": st.lists(st.sampled_from(["O", "CO", "Q"]), min_size=1, max_size=2),
                    "--facets": st.lists(st.sampled_from(["111", "211", "x"]), min_size=1, max_size=2),
                    "--seed": SMALL_INT,
                },
            ),
        ]
    if command == "simulate adsorption":
        structure = draw(st.sampled_from(["good.extxyz", "notags.extxyz", "foil.dat", "missing.extxyz"]))
        return [
            "simulate",
            "adsorption",
            "--structure",
            "{W}/" + structure,
            "--steps",
            draw(SMALL_INT),
            *_options(draw, {"--index": INDEX, "--fmax": NUMBER, "--calculator": CALCULATOR, "--json": st.just([])}),
        ]
    if command == "predict adsorption":
        structure = draw(st.sampled_from(["good.extxyz", "notags.extxyz", "foil.dat", "missing.extxyz"]))
        model = draw(st.sampled_from(["cat.pt", "air.pt", "foil.dat"]))
        return ["predict", "adsorption", "--structures", "{W}/" + structure, "--model", "{W}/" + model]
    if command == "optimize composition":
        objective = draw(
            st.one_of(
                NUMBER.map(lambda v: ["--target", v]),
                st.tuples(NUMBER, NUMBER).map(lambda t: ["--volcano", ",".join(t)]),
            )
        )
        table_text = st.lists(st.tuples(METAL_NAMES, NUMBER, NUMBER), min_size=1, max_size=2)
        return [
            "optimize",
            "composition",
            "--model",
            "{W}/cat.pt",
            "--out",
            "{W}/oc",
            "--steps",
            draw(st.sampled_from(["1", "0", "-1", "x"])),
            "--verify",
            draw(st.sampled_from(["0", "-1", "x"])),
            "--metals",
            *draw(ELEMENTS),
            *objective,
            *_options(
                draw,
                {
                    "--mode": st.sampled_from(["sites", "global", "x"]),
                    "--site": st.sampled_from(["fcc", "hcp", "hollow", "x"]),
                    "--facet": st.sampled_from(["111", "100", "110"]),
                    "--host": METAL_NAMES,
                    "--bounds": table_text.map(lambda r: ",".join(f"{m}:{a}:{b}" for m, a, b in r)),
                    "--cost": table_text.map(lambda r: ",".join(f"{m}:{a}" for m, a, _ in r)),
                    "--max-cost": NUMBER,
                    "--max-metals": SMALL_INT,
                    "--size": SIZE,
                    "--layers": SMALL_INT,
                    "--adsorbate": st.sampled_from(["O", "H", "CO", "Q"]),
                    "--workers": st.sampled_from(["1", "0", "x"]),
                },
            ),
        ]
    return [
        "train",
        "--domain",
        draw(st.sampled_from(["airfoil", "catalyst", "x"])),
        "--data",
        "{W}/missing.db",
        "--out",
        "{W}/m.pt",
        "--no-progress",
        *_options(
            draw,
            {
                "--members": SMALL_INT,
                "--epochs": SMALL_INT,
                "--patience": SMALL_INT,
                "--batch-size": SMALL_INT,
                "--lr": NUMBER,
                "--hidden": SMALL_INT,
                "--layers": SMALL_INT,
                "--encoder": st.sampled_from(["{W}/cat.pt", "{W}/air.pt", "{W}/foil.dat"]),
                "--freeze-encoder": st.just([]),
            },
        ),
    ]


def prepare_work(work: Path) -> None:
    """The files command lines refer to: small models, a good and a bad .dat file, a tagged and an
    untagged structure."""
    if (work / "air.pt").exists():
        return
    from ase.io import read, write

    from phenograd.surrogate.model import build_ensemble, default_encoder_config, save_checkpoint

    (work / "cat.pt").write_bytes(checkpoint()[0])
    enc = default_encoder_config("airfoil", 8, 1)
    save_checkpoint(work / "air.pt", build_ensemble("airfoil", 1, enc, {"hidden": 8, "width": 8, "depth": 1}).eval())
    (work / "foil.dat").write_bytes(dat_files()["selig"])
    (work / "bad.dat").write_bytes(dat_files()["selig"][:200])
    (work / "good.extxyz").write_bytes(structure_files()["one.extxyz"])
    atoms = read(work / "good.extxyz")
    atoms.set_tags(0)
    write(work / "notags.extxyz", atoms)


@contextlib.contextmanager
def _environment(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_cli(args: list[str], work: Path) -> str:
    """phenograd.cli.main in this process (XFOIL made unavailable, so nothing simulates airfoils).

    'rejected': exit code 2 with exactly one `phenograd: error:` line on stderr, the last, and no
    file created or changed. 'ok': any other clean exit. A traceback (an exception out of main,
    or 'Traceback' on stderr) raises.
    """
    from phenograd.cli import main

    prepare_work(work)
    argv = [a.replace("{W}", str(work)) for a in args]
    before = _snapshot(work)
    out, err = io.StringIO(), io.StringIO()
    try:
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            _environment(PHENOGRAD_XFOIL="/nonexistent/xfoil"),
        ):
            rc = main(argv)
    except SystemExit as exc:  # --help or -h among the fuzzed values
        if exc.code not in (0, None):
            raise
        rc = 0
    text = err.getvalue()
    if "Traceback" in text:
        raise AssertionError(f"traceback on stderr for {argv}:\n{text}")
    errors = [line for line in text.splitlines() if line.startswith("phenograd: error:")]
    if rc == 2:
        if len(errors) != 1 or text.strip().splitlines()[-1] != errors[0]:
            raise AssertionError(f"exit 2 without one final error line for {argv}: {text!r}")
        if _snapshot(work) != before:
            raise AssertionError(f"bad input {argv} created or changed files: {errors[0]}")
        return "rejected"
    if rc not in (0, 1, 3):
        raise AssertionError(f"exit code {rc!r} for {argv}")
    for path in sorted(work.iterdir()):  # outputs of a valid command: the next example starts clean
        if str(path.relative_to(work)) not in before:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    return "ok"


# ----------------------------------------------------------------------------- objective expressions


class CodeRan(AssertionError):
    """An input reached code outside the whitelist: a marker file appeared, or the expression checker accepted
    a construct it must refuse. benchmarks/fuzz.py counts these apart from other tracebacks: it must be 0."""


#: Known ways out of eval(text, {"__builtins__": {}}, names); {W} is the work folder, whose `pwned` must not appear.
ESCAPES = [
    "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0].__init__.__globals__"
    "['open']('{W}/pwned', 65)",
    "().__class__.__base__.__subclasses__()",
    "[c for c in ()]",
    "(lambda: 0)()",
    "f'{CL}'",
    "f'{CL.__class__}'",
    "(x := 1)",
    "__import__('os').system('touch {W}/pwned')",
    "__builtins__",
    "CD.__class__.__mro__[-1]",
    "sum.__self__",
    "sum(CD, dim=0)",
    "sum(*[CD])",
    "sum(**{'input': CD})",
    "open('{W}/pwned', 'w')",
    "getattr(CD, '__class__')",
    "CL if CD else __import__('os')",
    "(c for c in ()).gi_frame.f_globals",
    "[].__class__.__base__.__subclasses__()",
    "CD[0]",
    "breakpoint()",
    "globals()['__builtins__']",
    "exp.__globals__",
    "max.__module__",
    "type(CL)",
    "sum(CD); import os",
    "{1: __import__}",
    "'\\x5f_import__'",
    "＿＿import＿＿('os')",
    "𝐬𝐮𝐦.__self__",
    "sum(CD)#\nimport os",
    "sum(CD)\\\n.real",
]
#: Words of the Python grammar (and phenograd's expression names) for token soups.
TOKENS_PY = [
    "CL",
    "CD",
    "CM",
    "alpha",
    "weight",
    "area",
    "te_angle",
    "sum",
    "max",
    "clamp",
    "exp",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ".",
    ",",
    ":",
    ";",
    "'",
    '"',
    "+",
    "-",
    "*",
    "**",
    "/",
    "//",
    "%",
    "@",
    "<",
    "<=",
    "==",
    "!=",
    ">",
    "~",
    "&",
    "|",
    "^",
    "<<",
    "=",
    ":=",
    "lambda",
    "for",
    "in",
    "if",
    "else",
    "not",
    "and",
    "or",
    "is",
    "yield",
    "await",
    "__class__",
    "__subclasses__",
    "__import__",
    "__builtins__",
    "os",
    "f'",
    "1",
    "0.5",
    "1e999",
    "-1",
    "True",
    "None",
    "...",
    "\\n",
    " ",
    "#",
    "*",
    "\\",
]

_EXPR_NAMES = st.sampled_from(
    [
        "CL",
        "CD",
        "CM",
        "alpha",
        "weight",
        "area",
        "te_angle",
        "sum",
        "max",
        "clamp",
        "log",
        "x",
        "os",
        "open",
        "eval",
        "getattr",
        "globals",
        "__import__",
        "__builtins__",
        "__class__",
    ]
)
_EXPR_ATTRS = st.sampled_from(
    ["__class__", "__base__", "__subclasses__", "__globals__", "__init__", "__dict__", "sum", "real", "T", "system"]
)
_EXPR_CONSTANTS = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(),
    st.text(max_size=4),
    st.binary(max_size=3),
    st.booleans(),
    st.none(),
    st.just(...),
    st.complex_numbers(max_magnitude=10, allow_nan=False, allow_infinity=False),
)
_BINOPS = [
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.MatMult,
    ast.Div,
    ast.Mod,
    ast.Pow,
    ast.LShift,
    ast.RShift,
    ast.BitOr,
    ast.BitXor,
    ast.BitAnd,
    ast.FloorDiv,
]
_CMPOPS = [ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot, ast.In, ast.NotIn]


def _comprehension(kind, element, iterable):
    gen = [ast.comprehension(ast.Name("c", ast.Store()), iterable, [], 0)]
    return ast.DictComp(element, element, gen) if kind is ast.DictComp else kind(element, gen)


def _call(func, args, keywords, starred):
    args = [ast.Starred(args[0], ast.Load()), *args[1:]] if starred and args else args
    return ast.Call(func, args, [ast.keyword(k, v) for k, v in keywords])


def _extend(children):
    """One level of Python's expression grammar above `children`: every kind of expression node."""
    no_args = ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[])
    return st.one_of(
        st.tuples(children, st.sampled_from(_BINOPS), children).map(lambda t: ast.BinOp(t[0], t[1](), t[2])),
        st.tuples(st.sampled_from([ast.Invert, ast.Not, ast.UAdd, ast.USub]), children).map(
            lambda t: ast.UnaryOp(t[0](), t[1])
        ),
        st.tuples(st.sampled_from([ast.And, ast.Or]), st.lists(children, min_size=2, max_size=3)).map(
            lambda t: ast.BoolOp(t[0](), t[1])
        ),
        st.tuples(children, st.lists(st.tuples(st.sampled_from(_CMPOPS), children), min_size=1, max_size=3)).map(
            lambda t: ast.Compare(t[0], [op() for op, _ in t[1]], [c for _, c in t[1]])
        ),
        st.tuples(
            st.one_of(_EXPR_NAMES.map(lambda n: ast.Name(n, ast.Load())), children),
            st.lists(children, max_size=3),
            st.lists(st.tuples(_EXPR_NAMES, children), max_size=1),
            st.booleans(),
        ).map(lambda t: _call(*t)),
        st.tuples(children, _EXPR_ATTRS).map(lambda t: ast.Attribute(t[0], t[1], ast.Load())),
        st.tuples(children, children).map(lambda t: ast.Subscript(t[0], t[1], ast.Load())),
        st.tuples(children, children).map(lambda t: ast.Subscript(t[0], ast.Slice(t[1], None, None), ast.Load())),
        children.map(lambda body: ast.Lambda(no_args, body)),
        st.tuples(children, children, children).map(lambda t: ast.IfExp(*t)),
        st.tuples(st.sampled_from([ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp]), children, children).map(
            lambda t: _comprehension(*t)
        ),
        st.tuples(st.sampled_from([ast.List, ast.Tuple]), st.lists(children, max_size=3)).map(
            lambda t: t[0](t[1], ast.Load())
        ),
        st.lists(children, min_size=1, max_size=3).map(ast.Set),
        st.lists(st.tuples(children, children), max_size=2).map(
            lambda kv: ast.Dict([k for k, _ in kv], [v for _, v in kv])
        ),
        children.map(lambda v: ast.NamedExpr(ast.Name("x", ast.Store()), v)),
        children.map(lambda v: ast.JoinedStr([ast.Constant("a"), ast.FormattedValue(v, -1, None)])),
        st.tuples(st.sampled_from([ast.Await, ast.Yield, ast.YieldFrom]), children).map(lambda t: t[0](t[1])),
    )


def _unparse(node) -> str:
    try:
        return ast.unparse(ast.fix_missing_locations(ast.Expression(node)))
    except Exception:  # a combination ast.unparse cannot write (it is no expression then): its dump instead
        return ast.dump(node)[:200]


#: Random expression trees over the whole of Python's expression grammar, written as text.
RANDOM_ASTS = st.recursive(
    st.one_of(_EXPR_CONSTANTS.map(ast.Constant), _EXPR_NAMES.map(lambda n: ast.Name(n, ast.Load()))),
    _extend,
    max_leaves=10,
).map(_unparse)
_OK_NAMES = st.sampled_from(["CL", "CD", "CM", "CL_std", "confidence", "alpha", "weight", "area", "te_angle"])
_OK_FUNCTIONS = st.sampled_from(
    ["sum", "mean", "exp", "log", "sqrt", "abs", "maximum", "minimum", "clamp", "max", "min"]
)


def _extend_whitelisted(children):
    """One level of the expression language itself (operands of any shape; arities from 0 to 3 arguments)."""
    return st.one_of(
        st.tuples(children, st.sampled_from([ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow]), children).map(
            lambda t: ast.BinOp(t[0], t[1](), t[2])
        ),
        st.tuples(st.sampled_from([ast.USub, ast.UAdd]), children).map(lambda t: ast.UnaryOp(t[0](), t[1])),
        st.tuples(
            children,
            st.lists(
                st.tuples(st.sampled_from([ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq]), children),
                min_size=1,
                max_size=2,
            ),
        ).map(lambda t: ast.Compare(t[0], [op() for op, _ in t[1]], [c for _, c in t[1]])),
        st.tuples(_OK_FUNCTIONS, st.lists(children, max_size=3)).map(
            lambda t: ast.Call(ast.Name(t[0], ast.Load()), t[1], [])
        ),
    )


#: Random trees of the expression language (mostly accepted): they exercise the evaluator on tensors.
WHITELISTED_ASTS = st.recursive(
    st.one_of(
        st.floats(-1e3, 1e3).map(ast.Constant),
        st.integers(-5, 5).map(ast.Constant),
        _OK_NAMES.map(lambda n: ast.Name(n, ast.Load())),
    ),
    _extend_whitelisted,
    max_leaves=10,
).map(_unparse)
GOOD_EXPRESSIONS = [
    "sum(weight * CD / CL**1.5)",
    "area + 0.001 * te_angle",
    "-mean(CL / CD)",
    "sum(clamp(CL, 0, 1.2) * exp(-CD)) + sum((CL > 1) * CD)",
]


def expression_inputs():
    """Objective expressions: random trees over Python's expression grammar and over the expression language,
    known escapes, token soups, text, and the documented expressions garbled."""
    return st.one_of(
        RANDOM_ASTS,
        RANDOM_ASTS,
        RANDOM_ASTS,
        WHITELISTED_ASTS,
        st.sampled_from(ESCAPES),
        st.lists(st.sampled_from(TOKENS_PY), min_size=1, max_size=12).map("".join),
        st.text(max_size=60),
        st.sampled_from(GOOD_EXPRESSIONS)
        .flatmap(lambda g: mutated(g.encode(), 2))
        .map(lambda b: b.decode("utf-8", "replace")),
    )


#: What an accepted expression may hold, checked independently of optimize/expression.py.
_WHITELIST = (
    ast.Expression,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Pow,
    ast.UnaryOp,
    ast.USub,
    ast.UAdd,
    ast.Compare,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.Eq,
    ast.NotEq,
    ast.Call,
)


def _audit(text: str, names: tuple, functions: tuple) -> None:
    """CodeRan unless every node of an accepted expression is on the whitelist."""
    for node in ast.walk(ast.parse(text.strip(), mode="eval")):
        bad = (
            not isinstance(node, _WHITELIST)
            or isinstance(node, ast.Constant)
            and (isinstance(node.value, bool) or not isinstance(node.value, (int, float)))
            or isinstance(node, ast.Name)
            and (node.id not in names + functions or node.id.startswith("__"))
            or isinstance(node, ast.Call)
            and (node.keywords or not isinstance(node.func, ast.Name) or node.func.id not in functions)
        )
        if bad:
            raise CodeRan(f"accepted {ast.dump(node)[:120]} in {text[:120]!r}")


def run_expression(text: str, work: Path) -> str:
    """An objective expression through the problem reader (optimize/expression.parse, as `optimize airfoil
    --problem` reads it) and, when accepted, through the evaluator over real tensors. CodeRan if the
    marker file appears or the accepted expression holds anything off the whitelist."""
    from phenograd.optimize.airfoil_problem import EXPRESSION_FUNCTIONS, EXPRESSION_NAMES
    from phenograd.optimize.expression import parse

    text = text.replace("{W}", str(work))
    marker = work / "pwned"
    marker.unlink(missing_ok=True)
    checked = []
    result = verdict(lambda: checked.append(parse(text, EXPRESSION_NAMES)))
    if result == "ok":
        _audit(text, EXPRESSION_NAMES, EXPRESSION_FUNCTIONS)
        values = {n: torch.linspace(0.5, 1.5, 3, dtype=torch.float64) for n in EXPRESSION_NAMES}
        verdict(lambda: checked[0].evaluate(values))  # a torch error on a checked tree: one line
    if marker.exists():
        raise CodeRan(f"{text[:120]!r} wrote {marker.name}")
    return result


# ----------------------------------------------------------------------------- hostile file names

#: Pieces of file names: spaces, line breaks, shell characters, XFOIL commands, path tricks, other scripts.
NAME_PIECES = [
    " ",
    "\n",
    "\r",
    "\t",
    "$(touch pwned)",
    "`touch pwned`",
    "; touch pwned",
    "|",
    "&",
    ">",
    "<",
    "'",
    '"',
    "\\",
    "*",
    "?",
    "!",
    "#",
    "~",
    "-rf",
    "..",
    "\nSAVE pwned.dat\n",
    "\nLOAD pwned.dat",
    "\nQUIT\n",
    "\nPACC\npwned.pol\n\n",
    "\nOPER\nALFA 5\n",
    "é",
    "😀",
    "\x1b[31m",
    "\x7f",
    "foil",
    "naca2412",
    ".dat",
]


def _one_component(name: str) -> str:
    """name as a single file name: no '/' or NUL, not '.' or '..', at most 200 bytes."""
    name = name.replace("/", "_").replace("\x00", "_")
    while len(name.encode("utf-8", "surrogatepass")) > 200:
        name = name[:-1]
    return "x" + name if name in ("", ".", "..") else name


def filename_inputs():
    """(file name, good): a .dat file under a hostile name, good or truncated."""
    names = st.one_of(
        st.lists(st.one_of(st.sampled_from(NAME_PIECES), st.text(max_size=4)), min_size=1, max_size=6).map("".join),
        st.text(min_size=1, max_size=30),
    ).map(_one_component)
    return st.tuples(names, st.booleans())


@cache
def _reference_polar() -> tuple:
    from phenograd.datasets.datfile import read_dat
    from phenograd.simulators.xfoil import XfoilSettings, run_polar

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plain.dat"
        path.write_bytes(dat_files()["selig"])
        p = run_polar(read_dat(path).coordinates, [2.0], XfoilSettings(reynolds=1e6), name=str(path)).points[0]
    return p.converged, p.CL, p.CD


def run_filename(item, work: Path) -> str:
    """A .dat file named `name` read as `simulate airfoil --dat` reads it; a good one then goes through XFOIL
    (run_polar), which must give the plain-named file's polar. 'rejected' for the truncated file's one-line
    error. CodeRan for any file that appears besides the .dat file (a command that XFOIL or a shell ran)."""
    from phenograd.datasets.airfoil import check_airfoil
    from phenograd.datasets.datfile import read_dat
    from phenograd.simulators.xfoil import XfoilSettings, run_polar

    name, good = item
    folder = work / "names"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    path = folder / name
    path.write_bytes(dat_files()["selig"] if good else dat_files()["selig"][:200])
    before = _snapshot(work)
    coordinates = []
    result = read_unchanged(path, lambda: coordinates.append(check_airfoil(read_dat(path).coordinates, str(path))))
    if result == "ok":
        p = run_polar(coordinates[0], [2.0], XfoilSettings(reynolds=1e6), name=str(path)).points[0]
        if (p.converged, p.CL, p.CD) != _reference_polar():
            raise AssertionError(
                f"XFOIL gave {(p.converged, p.CL, p.CD)} for {name!r}, {_reference_polar()} for plain.dat"
            )
    if _snapshot(work) != before:
        raise CodeRan(f"files appeared for {name!r}: {sorted(set(_snapshot(work)) - set(before))}")
    return result


# ----------------------------------------------------------------------------- the registry

#: name -> (strategy factory, runner): what benchmarks/fuzz.py iterates over.
TARGETS = {
    "airfoil .dat files": (dat_inputs, run_dat),
    "structure files (ase.io)": (structure_inputs, run_structure),
    "optimization problem TOML": (problem_inputs, run_problem),
    "design space TOML": (space_inputs, run_space),
    "model checkpoints": (checkpoint_inputs, run_checkpoint),
    "command-line values": (cli_inputs, run_cli),
    "objective expressions": (expression_inputs, run_expression),
    "hostile .dat file names (XFOIL)": (filename_inputs, run_filename),
}
#: Targets whose runner checks for code run (CodeRan): benchmarks/fuzz.py reports that count for them.
CODE_CHECKED = ("objective expressions", "hostile .dat file names (XFOIL)")
#: Targets that run XFOIL on every input: benchmarks/fuzz.py gives them fewer examples (--xfoil-examples).
RUNS_XFOIL = ("hostile .dat file names (XFOIL)",)
