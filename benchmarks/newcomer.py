"""A newcomer's first hour, timed: clone, `make setup`, `make demo`, `make test` in a fresh directory
with no earlier .venv, exactly as the README says.

    .venv/bin/python -m benchmarks.newcomer [--repo .] [--steps setup,demo,test] [--keep DIR]

Each step's wall time and exit status go into the section "Newcomer walk-through" of
BENCHMARKS.md (with the machine's load, which matters on a shared machine). The clone is made
from the repository's committed HEAD, so uncommitted changes are not measured.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import machine, publish, today

STEPS = {"setup": ["make", "setup"], "demo": ["make", "demo"], "test": ["make", "test"]}


def run_step(cmd: list[str], cwd: Path, log: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    with open(log, "w") as f:
        rc = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT).returncode
    return time.perf_counter() - t0, rc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repo", default=str(Path(__file__).resolve().parents[1]), help="repository to clone")
    ap.add_argument("--steps", default="setup,demo,test", help="comma-separated: setup, demo, test")
    ap.add_argument("--keep", default=None, help="clone into this (new) folder and keep it")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    if set(steps) - set(STEPS):
        print(f"newcomer: unknown step in {args.steps!r}; use setup, demo, test", file=sys.stderr)
        return 2
    load = machine()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="phenograd-newcomer-"))
    if args.keep:
        if work.exists():
            print(f"newcomer: {work} exists; --keep needs a new folder", file=sys.stderr)
            return 2
        work.mkdir(parents=True)
    clone = work / "phenograd"
    rows = []
    try:
        wall, rc = run_step(["git", "clone", "--quiet", args.repo, str(clone)], work, work / "clone.log")
        rows.append(("git clone", wall, rc))
        for step in steps:
            wall, rc = run_step(STEPS[step], clone, work / f"{step}.log")
            rows.append((" ".join(STEPS[step]), wall, rc))
            print(f"{rows[-1][0]}: {wall:.0f} s, exit {rc}", flush=True)
            if rc != 0:
                print((work / f"{step}.log").read_text()[-3000:], file=sys.stderr)
                break
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True
        ).stdout.strip()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    table = "\n".join(f"| `{name}` | {wall:.0f} | {rc} |" for name, wall, rc in rows)
    body = f"""`.venv/bin/python -m benchmarks.newcomer --steps {",".join(steps)}` ({today()}; {load}).

A fresh clone of commit {head} in a new folder (no earlier .venv), the README's commands in order:

| step | wall (s) | exit |
|---|---|---|
{table}
"""
    print(body)
    publish("Newcomer walk-through", body, write=not args.no_write)
    return 0 if all(rc == 0 for *_, rc in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
