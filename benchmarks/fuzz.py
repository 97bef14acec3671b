"""Fuzzing benchmark: many garbled and arbitrary inputs per reader of user input, counted.

    .venv/bin/python -m benchmarks.fuzz [--examples 2000] [--xfoil-examples N] [--seed S] [--only NAME ...] [--no-write]

The readers, inputs and checks are tests/fuzzing.py's TARGETS (tests/test_fuzz.py runs the same
with a few dozen examples each, derandomized): airfoil .dat files, structure files read through
ase.io, optimization problem and design space TOML files, model checkpoints, command-line values
given to phenograd.cli.main in this process, objective expressions (random trees over Python's
expression grammar, known sandbox escapes) and hostile .dat file names run through XFOIL. Per reader
it counts the inputs tried, those accepted, those rejected cleanly (InputError with a one-line message;
for the command line, exit code 2 with one error line and no file created or changed), inputs that
ran code (a marker file appeared, or the expression checker accepted a construct off its whitelist:
fuzzing.CodeRan) and other tracebacks (any other exception or check failure), with the first few
distinct ones. Hypothesis generates the inputs (no example database, no shrinking) from a random seed
unless --seed gives one; the seed is printed and recorded, so a run can be repeated exactly.
Writes the section "Fuzzing" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings

from benchmarks.report import machine, publish, today
from tests import fuzzing  # tests/fuzzing.py: the targets, shared with tests/test_fuzz.py (run from the repo root)

ROOT = Path(__file__).resolve().parents[1]


def where(exc: BaseException) -> str:
    """'Type: message' plus the innermost frame of phenograd code (or the last frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [
        f
        for f in frames
        if f.filename.startswith(str(ROOT))
        and not any(part in f.filename for part in ("/.venv/", "/tests/", "/benchmarks/"))
    ] or frames
    f = ours[-1] if ours else None
    site = (
        f" at {Path(f.filename).relative_to(ROOT) if f.filename.startswith(str(ROOT)) else f.filename}:{f.lineno}"
        if f
        else ""
    )
    message = " ".join(str(exc).split())[:160]
    return f"{type(exc).__name__}: {message}{site}"


class Hang(Exception):
    """An input that kept a reader busy longer than the time limit."""


def _alarm(signum, frame):
    raise Hang("no answer within the time limit")


def fuzz(name: str, examples: int, rng_seed: int, limit_s: int) -> dict:
    """Run one target for `examples` inputs; counts and the distinct tracebacks."""
    strategy, run = fuzzing.TARGETS[name]
    counts: Counter = Counter()
    failures: Counter = Counter()
    first_inputs: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)

        @seed(rng_seed)
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(strategy())
        def trial(value):
            counts["tried"] += 1
            signal.alarm(limit_s)
            try:
                counts[run(value, work)] += 1
            except Exception as exc:  # the finding: anything but a clean rejection
                counts["code" if isinstance(exc, fuzzing.CodeRan) else "traceback"] += 1
                failures[where(exc)] += 1
                first_inputs.setdefault(where(exc), repr(value)[:400])
            finally:
                signal.alarm(0)

        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy/ase warnings on garbage input are not findings
            trial()
        wall = time.perf_counter() - t0
    for what, value in first_inputs.items():
        print(f"  {name}: {what}\n    first input: {value}", file=sys.stderr)
    return {"counts": counts, "failures": failures, "wall_s": wall}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=2000, help="inputs per reader (default 2000)")
    ap.add_argument(
        "--xfoil-examples",
        type=int,
        default=None,
        help="inputs for the readers that run XFOIL on each (default a tenth of --examples)",
    )
    ap.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: a random one, recorded)")
    ap.add_argument("--limit", type=int, default=60, help="seconds one input may take before it counts as a hang")
    ap.add_argument(
        "--only",
        nargs="+",
        default=None,
        choices=sorted(fuzzing.TARGETS),
        metavar="NAME",
        help=f"readers to fuzz (default all: {', '.join(fuzzing.TARGETS)})",
    )
    ap.add_argument("--no-write", action="store_true", help="print the section, leave BENCHMARKS.md alone")
    args = ap.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**32)
    xfoil_examples = args.xfoil_examples if args.xfoil_examples is not None else max(1, args.examples // 10)
    print(f"seed {args.seed}", file=sys.stderr)
    host = machine()
    names = args.only or list(fuzzing.TARGETS)
    results = {}
    for name in names:
        n = xfoil_examples if name in fuzzing.RUNS_XFOIL else args.examples
        results[name] = r = fuzz(name, n, args.seed, args.limit)
        c = r["counts"]
        print(
            f"{name}: {c['tried']} tried, {c['ok']} accepted, {c['rejected']} rejected cleanly, "
            f"{c['code']} ran code, {c['traceback']} tracebacks ({r['wall_s']:.0f} s)",
            file=sys.stderr,
        )

    rows = "\n".join(
        f"| {name} | {r['counts']['tried']} | {r['counts']['ok']} | {r['counts']['rejected']} | "
        f"{r['counts']['code'] if name in fuzzing.CODE_CHECKED else '-'} | {r['counts']['traceback']} | "
        f"{r['wall_s']:.0f} |"
        for name, r in results.items()
    )
    found = [f"- {name}: {n} x `{what}`" for name, r in results.items() for what, n in r["failures"].most_common(5)]
    command = "OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.fuzz " + " ".join(
        [f"--examples {args.examples}", f"--xfoil-examples {xfoil_examples}", f"--seed {args.seed}"]
        + (["--only", *map(repr, args.only)] if args.only else [])
    )
    total = sum(r["counts"]["traceback"] + r["counts"]["code"] for r in results.values())
    body = f"""Command: `{command}`
Date: {today()}. Machine: {host}. Hypothesis {__import__("hypothesis").__version__}, seed {args.seed} (drawn at random,
recorded here), generate phase only (no shrinking, no example database); inputs are garbled valid files (truncation,
deleted, duplicated and swapped lines, nasty tokens such as nan, 1e999, 100000000 and NUL, inserted and overwritten
bytes), random bytes, TOML documents with values of every type, checkpoints with wrong contents (keys dropped,
settings out of range, weights of other shapes), command lines of nine commands with fuzzed option values,
objective expressions (random trees over the whole of Python's expression grammar: attributes, subscripts, calls with
keyword and starred arguments, lambdas, comprehensions, `:=`, f-strings, every operator and constant type; the known
escapes `().__class__.__base__.__subclasses__()`, `__import__('os')`, `(lambda: 0)()` and 30 more; token soups,
text, garbled documented expressions), and .dat files under names with spaces, line breaks, shell characters and
XFOIL commands, run through XFOIL (tests/fuzzing.py).

| reader | inputs tried | accepted | rejected cleanly (one-line InputError / exit 2) | executed code (must be 0) | tracebacks | wall s |
|---|---|---|---|---|---|---|
{rows}

"Accepted" inputs gave a valid object (a contour that passes `check_airfoil`, a structure that passes
`check_structure`, a problem, an enumerable space, a loadable ensemble) or a clean exit of the command. A traceback
is any other exception (or an input still busy after {args.limit} s), a message spanning lines, a reader that
changed the file it read, or a rejected command line that left a file behind. "Executed code" counts inputs after
which a marker file appeared (the escapes write one; the file-name reader checks that nothing but the .dat file
exists and that XFOIL gave the plain-named file's polar) or whose expression the checker accepted although it holds a
node off the whitelist (an independent walk of the tree); "-": the reader does not check this (SECURITY.md says
why it cannot run code).
{"No tracebacks and no code run in this run." if not total else "Findings:" + chr(10) + chr(10).join(found)}

Found on the way by these fuzzers (runs of 200-2000 inputs per reader, seeds 0-5) and fixed at the readers before
this run: `--alpha 0:inf:1` (OverflowError); problem TOML values of the wrong type or infinite (`maxiter = inf`,
`thickness_min = [["a", 1]]`, `expression = 5`, a folder as the file; trust and constraint values never checked);
space TOML `vacuum = "x"` and `step = 1e-300` (an endless composition grid); structure files: an SQLite file without
ase.db tables gained ase.db's tables when read, an xyz count line of 100000000 kept ase.io busy for minutes, NaN
cells, atomic numbers naming no element, zero-atom frames, periodic cells 0.001 Å thin (millions of neighbour
images), sqlite messages with line breaks or bytes that are not UTF-8; checkpoints with a key missing, no members,
settings of the wrong type or out of range, weights of other shapes, or a tensor where a version belongs (a
multi-line message); `--naca ""` (fell through to `--dat`), `data catalyst` creating its file before rejecting
`--size 0x0` or a bad `--composition`, `data unlabelled --elements Au Au`, `optimize composition` with `--max-cost nan`,
a target of 1e308 eV or costs of 1e200 (NaN probabilities), `predict airfoil --re inf`. The hostile-file-name
reader (issue 35) found a bad .dat file whose name holds a line break giving a two-line error; InputError now
escapes control characters. Before issue 35 the escapes above ran: the objective was `eval`ed (SECURITY.md).
"""
    publish("Fuzzing", body, write=not args.no_write)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGALRM, _alarm)
    sys.exit(main())
