"""The command line as a user meets it: output formats, --help, and every kind of bad input."""

import json
import subprocess
import sys

import pytest

from phenograd.datasets.airfoil import naca
from phenograd.datasets.datfile import write_dat

PHENOGRAD = [sys.executable, "-m", "phenograd"]


def run(args, env=None, timeout=300):
    return subprocess.run(PHENOGRAD + args, capture_output=True, text=True, env=env, timeout=timeout)


def assert_one_line_error(proc, match, code=2):
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr and len(err.splitlines()) == 1, err
    assert err.startswith("phenograd: error:") and match in err, err


def test_simulate_json(cli_env):
    proc = run(["simulate", "airfoil", "--naca", "2412", "--re", "1e6", "--alpha", "-1:2:1", "--json"], env=cli_env)
    assert proc.returncode == 0, proc.stderr
    points = json.loads(proc.stdout)
    assert [p["alpha"] for p in points] == [-1, 0, 1, 2]
    for p in points:
        assert {"alpha", "CL", "CD", "CM", "converged"} <= set(p)
    assert points[3]["CL"] == pytest.approx(0.4496, abs=5e-4)


def test_simulate_dat_file_table(tmp_path, cli_env):
    path = tmp_path / "foil.dat"
    write_dat(path, "my foil", naca("4412"), fmt="lednicer")
    proc = run(["simulate", "airfoil", "--dat", str(path), "--re", "5e5", "--alpha", "0,4"], env=cli_env)
    assert proc.returncode == 0, proc.stderr
    assert "my foil" in proc.stdout and proc.stdout.count(" ok") >= 2


def test_non_converged_points_are_listed_with_nulls(cli_env):
    proc = run(
        ["simulate", "airfoil", "--naca", "4412", "--re", "2e5", "--alpha", "0,10", "--iter", "3", "--json"],
        env=cli_env,
    )
    points = json.loads(proc.stdout)
    assert len(points) == 2
    for p in points:
        assert p["converged"] or (p["CL"] is None and p["CD"] is None)


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["simulate", "airfoil", "--help"],
        ["data", "airfoil", "--help"],
        ["data", "info", "--help"],
        ["check", "--help"],
        ["train", "--help"],
    ],
)
def test_help(args):
    proc = run(args)
    assert proc.returncode == 0 and "usage:" in proc.stdout


def _leaf_parsers(parser, path=("phenograd",)):
    """(path, parser, summary) of every command that takes no subcommand."""
    import argparse

    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for s in subs:
        for name, sub in s.choices.items():
            yield from _leaf_parsers(sub, path + (name,))


def test_every_command_and_option_is_described():
    """--help is complete: every command has a description and every option a help text (issue 9)."""
    import argparse

    from phenograd.cli import build_parser

    missing = []
    for path, parser in _leaf_parsers(build_parser()):
        if not parser.description:
            missing.append(" ".join(path) + ": no description")
        missing += [
            f"{' '.join(path)} {a.option_strings or a.dest}: no help"
            for a in parser._actions
            if not isinstance(a, argparse._HelpAction) and not a.help
        ]
    assert not missing, missing


@pytest.mark.slow
def test_check_runs_both_simulators(cli_env):
    proc = run(["check"], env=cli_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "CL 0.4496" in proc.stdout and "EMT, O at fcc on Pt(111) 2x2x3: status ok" in proc.stdout


BAD_DAT = {
    "malformed.dat": (b"foil\n1.0 0.0\n0.5 abc\n" + b"0 0\n" * 10, "line 3"),
    "truncated.dat": (b"foil\n30. 30.\n\n" + b"0.0 0.0\n0.5 0.05\n" * 10, "truncated"),
    "empty.dat": (b"", "empty"),
    "binary.dat": (b"\x7fELF\x02\x01\x01\x00" + bytes(200), "binary"),
}


@pytest.mark.parametrize("name", sorted(BAD_DAT))
def test_bad_dat_files(tmp_path, name, cli_env):
    content, match = BAD_DAT[name]
    path = tmp_path / name
    path.write_bytes(content)
    proc = run(["simulate", "airfoil", "--dat", str(path), "--re", "1e6", "--alpha", "0"], env=cli_env)
    assert_one_line_error(proc, match)
    assert name in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, match",
    [
        (["simulate", "airfoil", "--naca", "99x9", "--re", "1e6", "--alpha", "0"], "unknown NACA code"),
        (["simulate", "airfoil", "--naca", "2412", "--re", "1e6", "--alpha", "4:0:1"], "bad alpha spec"),
        (["simulate", "airfoil", "--naca", "2412", "--re", "1e6", "--alpha", "x"], "bad alpha spec"),
        (["simulate", "airfoil", "--naca", "2412", "--re", "-5", "--alpha", "0"], "positive"),
        (["simulate", "airfoil", "--naca", "2412", "--re", "1e6", "--alpha", "0", "--mach", "2"], "Mach"),
        (["simulate", "airfoil", "--re", "1e6", "--alpha", "0"], "required"),
        (["data", "airfoil", "--out", "/nonexistent-dir/x.db", "--shapes", "1"], "does not exist"),
        (["data", "airfoil", "--out", "/tmp", "--shapes", "1"], "not a file"),
        (["data", "airfoil", "--out", "x.db", "--shapes", "1", "--re", "1e7:1e5"], "bad --re"),
        (["data", "airfoil", "--out", "x.db", "--shapes", "1", "--workers", "0"], "--workers"),
        (["data", "info", "/nonexistent.db"], "no such dataset"),
        (["frobnicate"], "invalid choice"),
        (["train", "--domain", "airfoil", "--data", "/nonexistent.db", "--out", "m.pt"], "no such dataset"),
        (["train", "--domain", "airfoil", "--data", "x.db", "--out", "m.pt", "--members", "0"], "--members"),
        (["train", "--domain", "airfoil", "--data", "x.db", "--out", "/nonexistent-dir/m.pt"], "does not exist"),
        (["train", "--domain", "catalyst", "--data", "x.db", "--out", "m.pt", "--station-y"], "airfoil only"),
        (["train", "--domain", "catalyst", "--data", "x.db", "--out", "m.pt", "--no-vectors"], "airfoil only"),
        (["train", "--domain", "airfoil", "--data", "x.db", "--out", "m.pt", "--head-width", "0"], "--head-width"),
        (["train", "--domain", "airfoil", "--data", "x.db", "--out", "m.pt", "--huber-delta", "-1"], "--huber-delta"),
        ("train --domain airfoil --data x.db --out m.pt --target-weights 1 1 -1 1 1".split(), "--target-weights"),
        ("train --domain catalyst --data x.db --out m.pt --target-weights 1 1 2 1 1".split(), "airfoil only"),
        ("train --domain airfoil --data x.db --out m.pt --refit-station-y".split(), "set --refit-head-width"),
        ("train --domain catalyst --data x.db --out m.pt --refit-station-y".split(), "airfoil only"),
        (
            "train --domain airfoil --data x.db --out m.pt --refit-target-weights 1 1 2 1 1".split(),
            "set --refit-epochs",
        ),
        (
            "train --domain airfoil --data x.db --out m.pt --refit-epochs 3 --refit-target-weights 1 1 nan 1 1".split(),
            "--refit-target-weights",
        ),
        ("train --domain catalyst --data x.db --out m.pt --refit-target-weights 1 1 2 1 1".split(), "airfoil only"),
        (
            ["train", "--domain", "airfoil", "--data", "x.db", "--out", "m.pt", "--refit-head-width", "64"],
            "needs --refit-epochs",
        ),
        (["train", "--domain", "airfoil", "--data", "x.db", "--out", "m.pt", "--epochs", "0"], "--epochs"),
        (
            ["train", "--domain", "airfoil", "--data", "x.db", "--out", "m.pt", "--train-fraction", "0"],
            "--train-fraction",
        ),
        (["calibrate", "--model", "/nonexistent.pt", "--data", "x.db"], "nonexistent.pt"),
    ],
)
def test_bad_arguments(args, match, cli_env, tmp_path):
    proc = subprocess.run(PHENOGRAD + args, capture_output=True, text=True, env=cli_env, cwd=tmp_path, timeout=120)
    assert_one_line_error(proc, match)


def test_missing_xfoil_binary(cli_env):
    env = dict(cli_env, PHENOGRAD_XFOIL="/nonexistent/xfoil")
    proc = run(["simulate", "airfoil", "--naca", "2412", "--re", "1e6", "--alpha", "0"], env=env)
    assert_one_line_error(proc, "xfoil binary", code=3)


@pytest.mark.slow
def test_files_that_are_not_datasets_are_never_touched(tmp_path, cli_env):
    text_file = tmp_path / "notes.db"
    text_file.write_text("my precious notes\n")
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(b"SQLite format 3\x00" + b"\x00" * 50)
    for path in (text_file, truncated):
        before = path.read_bytes()
        proc = run(["data", "airfoil", "--out", str(path), "--shapes", "1", "--alpha", "0"], env=cli_env)
        assert_one_line_error(proc, path.name)
        proc = run(["data", "info", str(path)], env=cli_env)
        assert_one_line_error(proc, path.name)
        assert path.read_bytes() == before


@pytest.mark.slow
def test_existing_dataset_survives_bad_requests(tmp_path, cli_env):
    path = tmp_path / "good.db"
    ok = run(
        ["data", "airfoil", "--out", str(path), "--shapes", "1", "--alpha", "0", "--workers", "1", "--no-progress"],
        env=cli_env,
    )
    assert ok.returncode == 0, ok.stderr
    before = path.read_bytes()
    for bad in (["--alpha", "zz"], ["--re", "0"], ["--shapes", "-3"], ["--panels", "5000"]):
        proc = run(["data", "airfoil", "--out", str(path), "--shapes", "1", "--alpha", "0", *bad], env=cli_env)
        assert proc.returncode == 2, proc.stderr
        assert path.read_bytes() == before
    info = run(["data", "info", str(path), "--json"], env=cli_env)
    assert json.loads(info.stdout)["polars"] == 1
