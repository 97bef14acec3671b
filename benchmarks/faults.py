"""Fault-injection benchmark: kills, damaged files, a full disk and a misbehaving XFOIL, counted.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.faults [--trials 5] [--seed 0] [--quick] [--only NAME ...]
                                                            [--no-write] [--keep DIR]

1. Kills. Each long-running command (airfoil and catalyst data generation, `train`, `pretrain`,
   `screen --verify`, all on tiny requests) is first run unbroken and timed (T). Then, per trial,
   in a fresh folder: the command is started, SIGKILLed with everything it started (its whole
   session: pool workers, XFOIL and its `timeout` guard) after a delay drawn uniformly from
   [0, T) (seeded; a run that ends before its kill is started again with a new delay), and run
   again to completion. Counted: designs lost (keys of the unbroken run missing after the
   restart), designs written twice (duplicate keys, extra rows, rows from before the kill
   rewritten), rows from before the kill changed, whether the restart resumed from the last
   checkpoint (data: "already present" equals the rows on disk at the kill; train: the
   progress bar of the restart starts at the member and epoch of the partial file; pretrain:
   its log continues at the partial file's epoch + 1; screen: no verification from before the
   kill was redone), and whether the final result equals the unbroken run (data: every row by
   key and value; screen: the verified energies; train/pretrain: the weights, reported as the
   largest difference; a checkpoint must load and be finite).
2. Damaged files. A truncated (half) and a corrupted (4 KiB overwritten in the middle) copy of
   an airfoil dataset, a catalyst ase.db, an unlabelled ase.db, screening results, a model, an
   encoder and the `.partial` files of train and pretrain, given to every command that reads
   them: expected exit code != 0, one line on stderr naming the file, no traceback, the file's
   bytes unchanged and no output created.
3. Full disk. The commands that write (data generation extending a dataset, train and pretrain
   replacing a checkpoint, screen writing and updating results) run under a file-size limit
   (RLIMIT_FSIZE, SIGXFSZ ignored, so writes fail with EFBIG as on a full disk): expected one
   error line naming the file, no traceback, the previous file intact (checkpoints byte for
   byte; datasets: integrity check passes and every row from before is unchanged) and no
   temporary file left.
4. XFOIL. Purpose-built shapes on which XFOIL hangs or fails (a razor-thin plate, a notched
   section, a hooked camber line, ...), XFOIL with its floating-point traps on (it crashes on
   every viscous point), and `phenograd data airfoil` driving an xfoil that hangs at every
   4th start and crashes at every other 4th: timeouts and crashes are counted per angle, and
   after each NACA 2412 still gives DESIGN.md's anchor (the run continues); the data command
   ends with exit 0 and every planned polar stored once.

Writes the section "Reliability" of BENCHMARKS.md (not with --quick or --no-write).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from benchmarks.report import machine, publish, today

ROOT = Path(__file__).resolve().parents[1]
PHENOGRAD = [sys.executable, "-m", "phenograd"]
TIMEOUT = 900

# ----------------------------------------------------------------------------- the commands

AIRFOIL = [
    "data",
    "airfoil",
    "--shapes",
    "16",
    "--alpha",
    "-2:6:2",
    "--re",
    "1e6",
    "--seed",
    "3",
    "--workers",
    "1",
    "--no-progress",
]
TINY_CAT = ["--size", "2x2", "--layers", "3", "--elements", "Pt", "Cu", "Au", "Ni", "--no-progress"]
CATALYST = ["data", "catalyst", "--n", "12", "--per-slab", "2", "--seed", "11", "--workers", "1", *TINY_CAT]
SPACE = """metals = ["Pt", "Cu", "Au"]
facets = ["111"]
adsorbates = ["O"]
sites = ["fcc", "hcp"]
size = [2, 2]
layers = 3
decorations = 2
[compositions]
n_metals = [1, 2]
step = 0.5
[objective]
target = -1.0
"""


def train_args(inputs: Path, out: Path, epochs: int = 40) -> list:
    return [
        "train",
        "--domain",
        "airfoil",
        "--data",
        inputs / "foils.db",
        "--out",
        out,
        "--members",
        "2",
        "--epochs",
        epochs,
        "--patience",
        epochs,
        "--hidden",
        "16",
        "--layers",
        "2",
        "--batch-size",
        "4",
        "--device",
        "cpu",
    ]


def pretrain_args(inputs: Path, out: Path, epochs: int = 12) -> list:
    # 48 structures: epochs long enough next to start-up that kills land after saved progress too.
    return [
        "pretrain",
        "--domain",
        "catalyst",
        "--data",
        inputs / "unl.db",
        "--out",
        out,
        "--epochs",
        epochs,
        "--hidden",
        "16",
        "--layers",
        "2",
        "--limit",
        "48",
        "--batch-size",
        "4",
        "--no-progress",
        "--device",
        "cpu",
    ]


def screen_args(inputs: Path, out: Path, model=None) -> list:
    return [
        "screen",
        "--space",
        inputs / "space.toml",
        "--out",
        out,
        "--model",
        model or inputs / "cat.pt",
        "--top",
        "8",
        "--uncertain",
        "0",
        "--verify",
        "--workers",
        "1",
        "--no-progress",
    ]


# ----------------------------------------------------------------------------- processes


def argv(args) -> list[str]:
    return [*PHENOGRAD, *map(str, args)]


def fsize_limit(limit: int):
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # ignored signals stay ignored across exec
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return pre


def run(args, env=None, limit: int | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv(args),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, **(env or {})},
        preexec_fn=fsize_limit(limit) if limit else None,
    )


def kill_session(sid: int) -> None:
    """SIGKILL every process of the session a run was started in (by id; all of them are its own)."""
    try:
        os.killpg(sid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid:  # session id
            try:
                os.kill(int(d.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def killed_run(args, delay: float, folder: Path) -> bool:
    """Start the command, SIGKILL its session after `delay` s. False if it ended before."""
    with open(folder / "killed.out", "w") as out, open(folder / "killed.err", "w") as err:
        proc = subprocess.Popen(argv(args), cwd=ROOT, stdout=out, stderr=err, start_new_session=True)
        try:
            proc.wait(timeout=delay)
            return False
        except subprocess.TimeoutExpired:
            kill_session(proc.pid)
            proc.wait()
            return True


def sha(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)


# ----------------------------------------------------------------------------- reading results


def polar_rows(path: Path) -> tuple[dict, int]:
    """key -> (polar status, points as tuples); and how many rows repeat a key (polars or points)."""
    if not path.exists():
        return {}, 0
    conn = ro(path)
    try:
        tables = {t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "polars" not in tables:
            return {}, 0
        polars = conn.execute("SELECT key, status FROM polars").fetchall()
        points = conn.execute(
            "SELECT key, alpha, converged, status, CL, CD, CDp, CM, Top_Xtr, Bot_Xtr FROM points ORDER BY key, alpha"
        ).fetchall()
    finally:
        conn.close()
    rows = {k: (s, []) for k, s in polars}
    for p in points:
        rows.setdefault(p[0], ("points without a polar row", []))[1].append(p[1:])
    twice = sum(n - 1 for n in Counter(k for k, _ in polars).values())
    twice += sum(n - 1 for n in Counter(p[:2] for p in points).values())
    return {k: (s, tuple(pts)) for k, (s, pts) in rows.items()}, twice


def catalyst_rows(path: Path) -> tuple[dict, int]:
    """uid -> (kind, status, energy) of slab and adslab rows; and how many rows repeat a uid."""
    if not path.exists():
        return {}, 0
    conn = ro(path)
    try:
        tables = {t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "text_key_values" not in tables:
            return {}, 0
        rows = conn.execute(
            "SELECT u.value, k.value, s.value, e.value FROM text_key_values u "
            "JOIN text_key_values k ON k.id = u.id AND k.key = 'kind' "
            "LEFT JOIN text_key_values s ON s.id = u.id AND s.key = 'status' "
            "LEFT JOIN number_key_values e ON e.id = u.id "
            "AND e.key = CASE k.value WHEN 'adslab' THEN 'e_ads' ELSE 'e_slab' END "
            "WHERE u.key = 'uid'"
        ).fetchall()
    finally:
        conn.close()
    twice = sum(n - 1 for n in Counter(r[0] for r in rows).values())
    return {u: (k, s, e) for u, k, s, e in rows}, twice


def screen_rows(path: Path) -> tuple[dict, int]:
    """idx -> (verified, e_verified, verify_status, mtime) of the candidates; and repeated idx."""
    if not path.exists():
        return {}, 0
    conn = ro(path)
    try:
        rows = conn.execute("SELECT mtime, key_value_pairs FROM systems").fetchall()
    finally:
        conn.close()
    out, seen = {}, Counter()
    for mtime, kvp in rows:
        k = json.loads(kvp)
        if k.get("kind") == "candidate":
            seen[k["idx"]] += 1
            out[k["idx"]] = (bool(k.get("verified")), k.get("e_verified"), k.get("verify_status"), mtime)
    return out, sum(n - 1 for n in seen.values())


def same_energy(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= 1e-9)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# ----------------------------------------------------------------------------- kill cases


class Case:
    """One command under kills: its arguments in a folder, a snapshot at the kill, the checks."""

    name = ""
    out_name = ""

    def __init__(self, inputs: Path):
        self.inputs = inputs
        self.ref: dict = {}

    def args(self, folder: Path) -> list:
        raise NotImplementedError

    def reference(self, folder: Path) -> None:
        """Read what the unbroken run in `folder` produced."""

    def snapshot(self, folder: Path) -> dict:
        raise NotImplementedError

    def check(self, folder: Path, snap: dict, restart: subprocess.CompletedProcess) -> dict:
        """{'lost', 'twice', 'changed', 'resumed' (True/False), 'equal' (True/False), 'progress' (bool), 'note'}"""
        raise NotImplementedError


class AirfoilData(Case):
    name, out_name = "data airfoil", "foils.db"

    def args(self, folder):
        return [*AIRFOIL[:2], "--out", folder / self.out_name, *AIRFOIL[2:]]

    def reference(self, folder):
        self.ref, _ = polar_rows(folder / self.out_name)

    def snapshot(self, folder):
        rows, _ = polar_rows(folder / self.out_name)
        return {"rows": rows}

    def check(self, folder, snap, restart):
        final, twice = polar_rows(folder / self.out_name)
        before = snap["rows"]
        m = re.search(r"(\d+) polars planned, (\d+) already present, (\d+) written now", restart.stdout)
        planned, present, written = map(int, m.groups()) if m else (None, None, None)
        n_alpha = len(next(iter(self.ref.values()))[1])
        return dict(
            lost=len(set(self.ref) - set(final)),
            twice=twice + sum(max(0, len(pts) - n_alpha) for _, pts in final.values()),
            changed=sum(final.get(k) != v for k, v in before.items()),
            resumed=(planned == len(self.ref) and present == len(before) and written == len(self.ref) - len(before)),
            equal=final == self.ref,
            progress=bool(before),
            note=f"{len(before)} of {len(self.ref)} polars on disk at the kill",
        )


class CatalystData(Case):
    name, out_name = "data catalyst", "cat.db"

    def args(self, folder):
        return [*CATALYST[:2], "--out", folder / self.out_name, *CATALYST[2:]]

    def reference(self, folder):
        self.ref, _ = catalyst_rows(folder / self.out_name)

    def snapshot(self, folder):
        rows, _ = catalyst_rows(folder / self.out_name)
        return {"rows": rows}

    def check(self, folder, snap, restart):
        final, twice = catalyst_rows(folder / self.out_name)
        before = snap["rows"]
        m = re.search(r"(\d+) structures planned, (\d+) already present, (\d+) written now", restart.stdout)
        planned, present, written = map(int, m.groups()) if m else (None, None, None)
        adslabs = [u for u, r in self.ref.items() if r[0] == "adslab"]
        before_ads = [u for u, r in before.items() if r[0] == "adslab"]
        return dict(
            lost=len(set(self.ref) - set(final)),
            twice=twice,
            changed=sum(
                u not in final or final[u][:2] != r[:2] or not same_energy(final[u][2], r[2]) for u, r in before.items()
            ),
            resumed=(
                planned == len(adslabs) and present == len(before_ads) and written == len(adslabs) - len(before_ads)
            ),
            equal=set(final) == set(self.ref)
            and all(final[u][:2] == r[:2] and same_energy(final[u][2], r[2]) for u, r in self.ref.items()),
            progress=bool(before_ads),
            note=f"{len(before_ads)} of {len(adslabs)} structures on disk at the kill",
        )


def _state_dicts(path: Path) -> list[dict]:
    from phenograd.surrogate.model import load_checkpoint

    ens, _ = load_checkpoint(path, domain="airfoil")
    return [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in ens.members]


def _max_diff(a: list[dict], b: list[dict]) -> float:
    return max(
        float((x[k].float() - y[k].float()).abs().max()) if x[k].numel() else 0.0 for x, y in zip(a, b) for k in x
    )


class Train(Case):
    name, out_name = "train", "model.pt"
    members = 2

    def args(self, folder):
        return train_args(self.inputs, folder / self.out_name)

    def reference(self, folder):
        self.ref = {"weights": _state_dicts(folder / self.out_name)}

    def snapshot(self, folder):
        import torch

        partial = folder / (self.out_name + ".partial")
        if not partial.exists():
            return {"partial": None}
        state = torch.load(partial, weights_only=False)
        return {"partial": (len(state["done"]), int(state["member"]), int(state.get("epoch", 0)))}

    def check(self, folder, snap, restart):
        import torch

        bars = re.findall(r"member (\d+)/\d+:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)", restart.stderr)
        first = (int(bars[0][0]), int(bars[0][1])) if bars else None
        if snap["partial"] is None:
            expected = (1, 0)
        else:
            done, member, epoch = snap["partial"]
            expected = None if member >= self.members else (member + 1, epoch)
        try:
            weights = _state_dicts(folder / self.out_name)
            loads = all(torch.isfinite(t).all() for w in weights for t in w.values() if t.is_floating_point())
        except Exception as exc:  # reported as a finding
            return dict(
                lost=1,
                twice=0,
                changed=0,
                resumed=False,
                equal=False,
                progress=snap["partial"] is not None,
                note=f"final checkpoint does not load: {exc}",
            )
        diff = _max_diff(weights, self.ref["weights"])
        clean = not (folder / (self.out_name + ".partial")).exists() and not leftovers(folder)
        return dict(
            lost=0 if loads else 1,
            twice=0,
            changed=0 if clean else 1,
            resumed=first == expected,
            equal=diff <= 1e-5,
            progress=snap["partial"] is not None,
            diff=diff,
            note=f"partial at the kill {snap['partial']} (members done, member, epoch); restart began at "
            f"{first} (member, epoch), max |weight - unbroken| {diff:.1e}",
        )


class Pretrain(Case):
    name, out_name = "pretrain", "enc.pt"

    def args(self, folder):
        return [*pretrain_args(self.inputs, folder / self.out_name), "--log", folder / "log.jsonl"]

    def reference(self, folder):
        from phenograd.surrogate.pretrained import load_encoder_state

        self.ref = {"state": load_encoder_state(folder / self.out_name, "catalyst")["state"]}

    def snapshot(self, folder):
        import torch

        partial = folder / (self.out_name + ".partial")
        log = folder / "log.jsonl"
        lines = len(log.read_text().splitlines()) if log.exists() else 0
        epoch = int(torch.load(partial, weights_only=False)["epoch"]) if partial.exists() else None
        return {"epoch": epoch, "lines": lines}

    def check(self, folder, snap, restart):
        import torch

        from phenograd.surrogate.pretrained import load_encoder_state

        log = (folder / "log.jsonl").read_text().splitlines()[snap["lines"] :]
        first = json.loads(log[0])["epoch"] if log else None
        expected = (snap["epoch"] or 0) + 1
        try:
            state = load_encoder_state(folder / self.out_name, "catalyst")["state"]
        except Exception as exc:
            return dict(
                lost=1,
                twice=0,
                changed=0,
                resumed=False,
                equal=False,
                progress=snap["epoch"] is not None,
                note=f"final encoder does not load: {exc}",
            )
        finite = all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point())
        diff = max(
            float((state[k].float() - self.ref["state"][k].float()).abs().max()) for k in state if state[k].numel()
        )
        clean = not (folder / (self.out_name + ".partial")).exists() and not leftovers(folder)
        return dict(
            lost=0 if finite else 1,
            twice=0,
            changed=0 if clean else 1,
            resumed=first == expected,
            equal=diff <= 1e-6,
            progress=snap["epoch"] is not None,
            diff=diff,
            note=f"partial at the kill: epoch {snap['epoch']}; restart logged epoch {first} first, "
            f"max |weight - unbroken| {diff:.1e}",
        )


class Screen(Case):
    name, out_name = "screen --verify", "results.db"

    def args(self, folder):
        return screen_args(self.inputs, folder / self.out_name)

    def reference(self, folder):
        self.ref, _ = screen_rows(folder / self.out_name)

    def snapshot(self, folder):
        rows, _ = screen_rows(folder / self.out_name)
        return {"rows": rows}

    def check(self, folder, snap, restart):
        final, twice = screen_rows(folder / self.out_name)
        verified_before = {i: r for i, r in snap["rows"].items() if r[0]}
        planned = {i for i, r in self.ref.items() if r[0]}
        done = {i for i, r in final.items() if r[0]}
        rewritten = sum(final.get(i, (None,) * 4)[3] != r[3] for i, r in verified_before.items())
        changed = sum(not same_energy(final.get(i, (0, None))[1], r[1]) for i, r in verified_before.items())
        return dict(
            lost=len(planned - done),
            twice=twice + rewritten,
            changed=changed,
            resumed=rewritten == 0,
            equal=set(final) == set(self.ref)
            and done == planned
            and all(same_energy(final[i][1], self.ref[i][1]) for i in planned),
            progress=bool(verified_before),
            note=f"{len(verified_before)} of {len(planned)} verifications on disk at the kill",
        )


CASES = {c.name: c for c in (AirfoilData, CatalystData, Train, Pretrain, Screen)}


def kill_trials(case: Case, work: Path, trials: int, rng: np.random.Generator) -> dict:
    ref_dir = work / "reference"
    ref_dir.mkdir(parents=True)
    t0 = time.perf_counter()
    r = run(case.args(ref_dir))
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{case.name}: the unbroken run failed:\n{r.stderr}")
    case.reference(ref_dir)
    results, misses, problems = [], 0, []
    walls = [wall]  # unbroken wall times: the reference, and runs that ended before their kill
    for t in range(trials):
        for _attempt in range(6):
            folder = work / f"trial{t}"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            delay = float(rng.uniform(0.0, min(walls)))
            t1 = time.perf_counter()
            if killed_run(case.args(folder), delay, folder):
                break
            walls.append(time.perf_counter() - t1)
            misses += 1
        else:
            problems.append(f"trial {t}: the run ended before every kill")
            continue
        snap = case.snapshot(folder)
        t1 = time.perf_counter()
        restart = run(case.args(folder))
        if restart.returncode != 0:
            problems.append(f"trial {t} (kill at {delay:.1f} s): the restart failed: {restart.stderr.strip()[-300:]}")
            results.append(
                dict(
                    lost=len(case.ref) or 1,
                    twice=0,
                    changed=0,
                    resumed=False,
                    equal=False,
                    progress=False,
                    delay=delay,
                    note="restart failed",
                )
            )
            continue
        c = case.check(folder, snap, restart)
        c.update(delay=delay, restart_s=time.perf_counter() - t1)
        results.append(c)
        print(
            f"  {case.name} trial {t}: kill at {delay:.1f} s of {min(walls):.1f} s; lost {c['lost']}, twice {c['twice']}, "
            f"changed {c['changed']}, resumed {c['resumed']}, equal {c['equal']}; {c['note']}",
            file=sys.stderr,
        )
        if c["lost"] or c["twice"] or c["changed"] or not c["resumed"]:
            problems.append(f"trial {t} (kill at {delay:.1f} s): {c}")
    return {"wall": min(walls), "results": results, "misses": misses, "problems": problems}


# ----------------------------------------------------------------------------- damaged files


def truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def corrupted(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    for i in range(mid, min(mid + 4096, len(data))):
        data[i] = (i * 37 + 11) & 0xFF
    dst.write_bytes(bytes(data))
    return dst


def one_line_error(r: subprocess.CompletedProcess, name: str) -> str | None:
    """None when the command failed with one error line naming `name`, else what was wrong."""
    lines = r.stderr.strip().splitlines()
    if r.returncode == 0:
        return "exit code 0"
    if "Traceback" in r.stderr:
        return "traceback: " + (lines[-1] if lines else "")
    if len(lines) != 1 or not lines[0].startswith("phenograd: error:"):
        return f"{len(lines)} lines on stderr: {r.stderr.strip()[:200]}"
    if name not in lines[0]:
        return f"message does not name {name}: {lines[0]}"
    return None


def file_fault_cases(inputs: Path, refs: dict) -> list[tuple]:
    """(label, source file, name of the damaged copy, command builder(damaged, folder), outputs that must not appear)."""
    foils, cat, unl = inputs / "foils.db", inputs / "cat.db", inputs / "unl.db"
    more_shapes = ["--shapes", "20"] + AIRFOIL[4:]
    return [
        (
            "airfoil dataset",
            foils,
            "foils.db",
            [
                ("data airfoil (extend)", lambda f, d: ["data", "airfoil", "--out", f, *more_shapes], []),
                ("data info", lambda f, d: ["data", "info", f], []),
                (
                    "train",
                    lambda f, d: train_args(inputs, d / "m.pt", 2)[:4] + [f] + train_args(inputs, d / "m.pt", 2)[5:],
                    ["m.pt"],
                ),
                (
                    "pretrain",
                    lambda f, d: [
                        "pretrain",
                        "--domain",
                        "airfoil",
                        "--data",
                        f,
                        "--out",
                        d / "e.pt",
                        "--epochs",
                        "1",
                        "--sampled",
                        "0",
                        "--no-progress",
                    ],
                    ["e.pt"],
                ),
            ],
        ),
        (
            "catalyst ase.db",
            cat,
            "cat.db",
            [
                (
                    "data catalyst (extend)",
                    lambda f, d: ["data", "catalyst", "--out", f, "--n", "16", *CATALYST[4:]],
                    [],
                ),
                ("data info", lambda f, d: ["data", "info", f], []),
                (
                    "train",
                    lambda f, d: [
                        "train",
                        "--domain",
                        "catalyst",
                        "--data",
                        f,
                        "--out",
                        d / "m.pt",
                        "--epochs",
                        "1",
                        "--members",
                        "1",
                        "--hidden",
                        "16",
                        "--layers",
                        "2",
                        "--no-progress",
                    ],
                    ["m.pt"],
                ),
                (
                    "pretrain",
                    lambda f, d: [
                        "pretrain",
                        "--domain",
                        "catalyst",
                        "--data",
                        f,
                        "--out",
                        d / "e.pt",
                        "--epochs",
                        "1",
                        "--hidden",
                        "16",
                        "--layers",
                        "2",
                        "--no-progress",
                    ],
                    ["e.pt"],
                ),
            ],
        ),
        (
            "unlabelled ase.db",
            unl,
            "unl.db",
            [
                (
                    "pretrain",
                    lambda f, d: [
                        "pretrain",
                        "--domain",
                        "catalyst",
                        "--data",
                        f,
                        "--out",
                        d / "e.pt",
                        "--epochs",
                        "1",
                        "--hidden",
                        "16",
                        "--layers",
                        "2",
                        "--no-progress",
                    ],
                    ["e.pt"],
                ),
                ("data info", lambda f, d: ["data", "info", f], []),
            ],
        ),
        (
            "screening results",
            refs["results.db"],
            "results.db",
            [
                ("screen --verify (resume)", lambda f, d: screen_args(inputs, f), []),
            ],
        ),
        (
            "airfoil model",
            refs["model.pt"],
            "model.pt",
            [
                (
                    "predict airfoil",
                    lambda f, d: ["predict", "airfoil", "--model", f, "--naca", "2412", "--re", "1e6", "--alpha", "2"],
                    [],
                ),
                ("evaluate", lambda f, d: ["evaluate", "--model", f, "--data", foils, "--out", d / "eval"], ["eval"]),
            ],
        ),
        (
            "catalyst model",
            inputs / "cat.pt",
            "cat.pt",
            [
                ("screen --model", lambda f, d: screen_args(inputs, d / "r.db", model=f), ["r.db"]),
            ],
        ),
        (
            "encoder",
            refs["enc.pt"],
            "enc.pt",
            [
                (
                    "train --encoder",
                    lambda f, d: [
                        "train",
                        "--domain",
                        "catalyst",
                        "--data",
                        cat,
                        "--out",
                        d / "m.pt",
                        "--encoder",
                        f,
                        "--epochs",
                        "1",
                        "--members",
                        "1",
                        "--no-progress",
                    ],
                    ["m.pt"],
                ),
            ],
        ),
        (
            "train .partial",
            refs["train.partial"],
            "resumed.pt.partial",
            [
                (
                    "train (resume)",
                    lambda f, d: train_args(inputs, d / "resumed.pt", 6) + ["--no-progress"],
                    ["resumed.pt"],
                ),
            ],
        ),
        (
            "pretrain .partial",
            refs["pretrain.partial"],
            "resumed.pt.partial",
            [
                ("pretrain (resume)", lambda f, d: pretrain_args(inputs, d / "resumed.pt", 4), ["resumed.pt"]),
            ],
        ),
    ]


def damaged_files(inputs: Path, refs: dict, work: Path) -> list[dict]:
    out = []
    for label, src, name, commands in file_fault_cases(inputs, refs):
        for damage in (truncated, corrupted):
            for what, build, outputs in commands:
                d = work / f"{len(out):02d}"
                d.mkdir(parents=True)
                bad = damage(src, d / name)
                before = sha(bad)
                r = run(build(bad, d))
                wrong = one_line_error(r, bad.name)
                if sha(bad) != before:
                    wrong = (wrong + "; " if wrong else "") + "the file changed"
                made = [o for o in outputs if (d / o).exists()]
                if made:
                    wrong = (wrong + "; " if wrong else "") + f"created {made}"
                out.append(
                    {
                        "file": label,
                        "damage": damage.__name__,
                        "command": what,
                        "ok": wrong is None,
                        "problem": wrong,
                        "message": r.stderr.strip().splitlines()[-1][:160] if r.stderr.strip() else "",
                    }
                )
                print(
                    f"  {label} {damage.__name__} -> {what}: {'ok' if wrong is None else wrong}"
                    f"  [{out[-1]['message']}]",
                    file=sys.stderr,
                )
    return out


# ----------------------------------------------------------------------------- full disk


def integrity_ok(path: Path) -> bool:
    try:
        conn = ro(path)
        try:
            return conn.execute("PRAGMA quick_check").fetchall() == [("ok",)]
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False


def full_disk(inputs: Path, refs: dict, work: Path) -> list[dict]:
    cases = [
        (
            "data airfoil extending a dataset",
            inputs / "foils.db",
            "foils.db",
            polar_rows,
            lambda f, d: ["data", "airfoil", "--out", f, "--shapes", "24", *AIRFOIL[4:]],
            None,
        ),
        (
            "data catalyst extending a dataset",
            inputs / "cat.db",
            "cat.db",
            catalyst_rows,
            lambda f, d: ["data", "catalyst", "--out", f, "--n", "20", *CATALYST[4:]],
            None,
        ),
        (
            "screen --verify updating results",
            refs["results.db"],
            "results.db",
            screen_rows,
            lambda f, d: screen_args(inputs, f),
            "unverify",
        ),
        ("screen writing new results", None, "new.db", None, lambda f, d: screen_args(inputs, f), 40_000),
        (
            "train replacing a checkpoint",
            refs["model.pt"],
            "model.pt",
            None,
            lambda f, d: train_args(inputs, f, 3) + ["--no-progress"],
            100_000,
        ),
        (
            "pretrain replacing an encoder",
            refs["enc.pt"],
            "enc.pt",
            None,
            lambda f, d: pretrain_args(inputs, f, 2),
            20_000,
        ),
    ]
    out = []
    for label, src, name, reader, build, limit in cases:
        d = work / f"{len(out):02d}"
        d.mkdir(parents=True)
        target = d / name
        if src is not None:
            shutil.copyfile(src, target)
        if limit == "unverify":  # a results file whose verifications are still to do
            from ase.db import connect

            db = connect(str(target), type="db", append=True)
            with db:
                for row in db.select(verified=True):
                    db.update(
                        row.id, delete_keys=["e_verified", "verify_status", "anomalies", "site_final"], verified=False
                    )
            conn = sqlite3.connect(target)
            conn.execute("VACUUM")
            conn.close()
        before_sha = sha(target)
        before_rows = reader(target)[0] if reader else None
        r = run(build(target, d), limit=limit if isinstance(limit, int) else max(target.stat().st_size, 4096))
        wrong = one_line_error(r, target.name)
        if reader is not None:
            after = reader(target)[0] if integrity_ok(target) else None
            if after is None:
                wrong = (wrong + "; " if wrong else "") + "the file is damaged"
            elif any(after.get(k) != v for k, v in before_rows.items() if label.startswith("data")) or (
                not label.startswith("data") and any(after[i][:3] != v[:3] for i, v in before_rows.items())
            ):
                wrong = (wrong + "; " if wrong else "") + "rows from before changed"
        elif src is not None and sha(target) != before_sha:
            wrong = (wrong + "; " if wrong else "") + "the previous file changed"
        elif src is None and target.exists():
            wrong = (wrong + "; " if wrong else "") + "a results file appeared"
        temp = leftovers(d)
        if temp:
            wrong = (wrong + "; " if wrong else "") + f"temporary files left: {temp}"
        message = r.stderr.strip().splitlines()[-1][:160] if r.stderr.strip() else ""
        out.append({"case": label, "ok": wrong is None, "problem": wrong, "message": message})
        print(f"  full disk, {label}: {'ok' if wrong is None else wrong}  [{message}]", file=sys.stderr)
    return out


# ----------------------------------------------------------------------------- XFOIL


def bad_shapes() -> dict[str, np.ndarray]:
    from phenograd.datasets.airfoil import naca

    base = naca("0012")
    n, le = len(base), int(np.argmin(naca("0012")[:, 0]))
    shapes = {}
    s = base.copy()
    s[:, 1] *= 0.005
    shapes["razor (0.06 % thick)"] = s
    s = base.copy()
    s[le // 2 - 3 : le // 2 + 3, 1] = 0.0
    shapes["notched upper surface"] = s
    s = base.copy()
    s[:, 1] += 0.35 * np.sin(np.pi * s[:, 0])
    shapes["hooked camber (35 %)"] = s
    s = base.copy()
    s[:, 1] *= 6.0
    shapes["brick (72 % thick)"] = s
    s = base.copy()
    s[le // 2, 1] += 0.25
    shapes["spike"] = s
    s = base.copy()
    s[20 : le - 20 : 2, 1] += 0.004
    shapes["sawtooth"] = s
    x = np.linspace(0, 1, 40)
    shapes["coarse (79 points)"] = np.vstack(
        [np.c_[x[::-1], 0.06 * np.sin(np.pi * x[::-1])], np.c_[x[1:], -0.06 * np.sin(np.pi * x[1:])]]
    )
    s = base.copy()
    s[:, 1] += np.where(np.arange(n) < le, 1, -1) * 0.1 * s[:, 0]
    shapes["blunt trailing edge (20 %)"] = s
    return shapes


FAKE_XFOIL = """#!/bin/sh
# xfoil that hangs at every 4th start and crashes (SIGSEGV) at every other 4th; otherwise the real one
n=$(( $(cat "{counter}" 2>/dev/null || echo 0) + 1 )); echo $n > "{counter}"
case $((n % 4)) in 1) exec sleep 3600;; 3) kill -SEGV $$;; esac
exec "{real}" "$@"
"""


def xfoil_faults(work: Path, quick: bool) -> dict:
    from phenograd.core.errors import InputError
    from phenograd.datasets.airfoil import naca
    from phenograd.simulators.xfoil import XfoilSettings, run_polar

    def anchor_ok() -> bool:
        p = run_polar(naca("2412"), [2.0], XfoilSettings(reynolds=1e6)).points[0]
        return p.converged and abs(p.CL - 0.4496) < 5e-4 and abs(p.CD - 0.00578) < 5e-5

    alphas = [0, 6, 12, 18, -6, -12]
    settings = XfoilSettings(reynolds=1e5, angle_timeout_s=4.0, timeout_s=40.0)
    shapes = bad_shapes()
    if quick:
        shapes = {k: v for k, v in shapes.items() if k.startswith(("razor", "notched", "spike"))}
    rows, angles, continued = [], Counter(), 0
    for name, contour in shapes.items():
        t0 = time.perf_counter()
        try:
            r = run_polar(contour, alphas, settings, name=name)
            status = Counter(
                p.status.split(" (")[0].split(":")[0] if not p.converged else "converged" for p in r.points
            )
            outcome = f"{r.status.split(' (')[0]}, {r.restarts} restarts"
        except InputError as exc:
            status, outcome = (
                Counter({"refused before XFOIL": len(alphas)}),
                f"refused: {str(exc).split(': ', 1)[-1][:60]}",
            )
        angles.update(status)
        ok = anchor_ok()
        continued += ok
        rows.append((name, outcome, dict(status), time.perf_counter() - t0, ok))
        print(
            f"  xfoil {name}: {outcome} {dict(status)}; NACA 2412 after it {'ok' if ok else 'WRONG'}", file=sys.stderr
        )
    # XFOIL with its floating-point traps (no shim): it dies with SIGFPE at the first viscous point
    os.environ["PHENOGRAD_XFOIL_FPE_SHIM"] = "0"
    try:
        r = run_polar(naca("2412"), [-1, 0, 1], XfoilSettings(reynolds=1e6))
    finally:
        del os.environ["PHENOGRAD_XFOIL_FPE_SHIM"]
    crash = Counter(p.status.split(" (")[0] for p in r.points)
    ok = anchor_ok()
    continued += ok
    rows.append(
        ("NACA 2412 with FP traps on", f"{r.status.split(' (')[0]}, {r.restarts} restarts", dict(crash), r.wall_s, ok)
    )
    angles.update(crash)
    # the data command with an xfoil that hangs and crashes
    work.mkdir(parents=True, exist_ok=True)
    fake = work / "xfoil"
    fake.write_text(FAKE_XFOIL.format(counter=work / "starts", real=shutil.which("xfoil")))
    fake.chmod(0o755)
    out = work / "hangs.db"
    shapes_n = 4 if quick else 6
    t0 = time.perf_counter()
    r = run(
        [
            "data",
            "airfoil",
            "--out",
            out,
            "--shapes",
            shapes_n,
            "--alpha",
            "0:4:2",
            "--re",
            "1e6",
            "--seed",
            "5",
            "--workers",
            "1",
            "--no-progress",
        ],
        env={"PHENOGRAD_XFOIL": str(fake)},
    )
    wall = time.perf_counter() - t0
    polars, twice = polar_rows(out)
    points = Counter(p[2].split(" (")[0] if not p[1] else "converged" for _, pts in polars.values() for p in pts)
    starts = int((work / "starts").read_text()) if (work / "starts").exists() else 0
    data = {
        "rc": r.returncode,
        "err": r.stderr.strip()[-300:],
        "polars": len(polars),
        "planned": shapes_n,
        "twice": twice,
        "points": dict(points),
        "starts": starts,
        "wall": wall,
    }
    print(
        f"  data airfoil with a hanging/crashing xfoil: exit {r.returncode}, {len(polars)}/{shapes_n} polars, "
        f"points {dict(points)}, {starts} xfoil starts, {wall:.0f} s",
        file=sys.stderr,
    )
    return {"rows": rows, "angles": angles, "continued": continued, "runs": len(rows), "data": data}


# ----------------------------------------------------------------------------- inputs


def prepare_inputs(inputs: Path) -> dict:
    """Shared inputs: an unlabelled ase.db, a small catalyst model (untrained, as tests/conftest.py's) and a space."""
    import torch

    from phenograd.surrogate.model import build_ensemble, default_encoder_config, save_checkpoint

    inputs.mkdir(parents=True, exist_ok=True)
    r = run(["data", "unlabelled", "--domain", "catalyst", "--out", inputs / "unl.db", "--n", "64", "--seed", "3"])
    assert r.returncode == 0, r.stderr
    torch.manual_seed(7)
    ens = build_ensemble("catalyst", 2, default_encoder_config("catalyst", 16, 2), {"hidden": 16}, seed=7)
    for m in ens.members:
        m.head.set_normalisation(torch.tensor(-1.0), torch.tensor(1.0))
        with torch.no_grad():
            m.head.net[-1].weight.mul_(20.0)
    save_checkpoint(inputs / "cat.pt", ens.eval(), "untrained", {})
    (inputs / "space.toml").write_text(SPACE)
    return {}


def partial_files(inputs: Path, work: Path) -> dict:
    """Real `.partial` files of train and pretrain, from runs stopped after their second epoch."""
    from phenograd.cli import main

    class Stop(Exception):
        pass

    out = {}
    work.mkdir(parents=True, exist_ok=True)
    for kind in ("train", "pretrain"):
        target = work / f"{kind}.pt"
        with open(os.devnull, "w") as null:
            old, sys.stderr = sys.stderr, null
            try:
                if kind == "train":
                    from phenograd.surrogate import trainer

                    original = trainer.validation_loss
                    calls = {"n": 0}

                    def stop_after_two(*a, **k):
                        calls["n"] += 1
                        if calls["n"] > 2:
                            raise Stop
                        return original(*a, **k)

                    trainer.validation_loss = stop_after_two
                    try:
                        main([str(a) for a in train_args(inputs, target, 6)] + ["--no-progress"])
                    except Stop:
                        pass
                    finally:
                        trainer.validation_loss = original
                else:
                    from phenograd.surrogate import pretrain as pre

                    original = pre.check_collapse

                    def stop_at_two(stats, cfg, epoch):
                        if epoch > 2:
                            raise Stop
                        return original(stats, cfg, epoch)

                    pre.check_collapse = stop_at_two
                    try:
                        main([str(a) for a in pretrain_args(inputs, target, 4)])
                    except Stop:
                        pass
                    finally:
                        pre.check_collapse = original
            finally:
                sys.stderr = old
        partial = target.with_name(target.name + ".partial")
        assert partial.exists(), f"no {partial}"
        out[f"{kind}.partial"] = partial
    return out


# ----------------------------------------------------------------------------- main


def main(argv_=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=None, help="kills per command (default 5; --quick: 2)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill delays (default 0)")
    ap.add_argument(
        "--quick", action="store_true", help="2 kills per command, fewer XFOIL shapes; BENCHMARKS.md untouched"
    )
    ap.add_argument(
        "--only",
        nargs="+",
        choices=sorted(CASES),
        default=None,
        metavar="NAME",
        help=f"commands to kill (default all: {', '.join(CASES)})",
    )
    ap.add_argument("--no-write", action="store_true", help="print the section, leave BENCHMARKS.md alone")
    ap.add_argument("--keep", default=None, help="work in this folder and keep it (default: a temporary folder)")
    args = ap.parse_args(argv_)
    trials = args.trials if args.trials is not None else (2 if args.quick else 5)
    host, started = machine(), time.perf_counter()
    rng = np.random.default_rng(args.seed)
    tmp = None
    if args.keep:
        work = Path(args.keep)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="phenograd-faults-")
        work = Path(tmp.name)
    inputs = work / "inputs"
    prepare_inputs(inputs)

    # 1. kills (every command's unbroken run also makes the inputs of the later ones and of parts 2-3)
    kills, refs = {}, {}
    for name, cls in CASES.items():
        case = cls(inputs)
        n = trials if args.only is None or name in args.only else 0
        print(f"{name}: unbroken run, then {n} kills", file=sys.stderr)
        kills[name] = kill_trials(case, work / name.split()[-1].strip("-"), n, rng)
        produced = work / name.split()[-1].strip("-") / "reference" / case.out_name
        if name.startswith("data"):
            shutil.copyfile(produced, inputs / case.out_name)
        refs[case.out_name] = produced
    refs.update(partial_files(inputs, work / "partials"))

    # 2-4
    print("damaged files", file=sys.stderr)
    files = damaged_files(inputs, refs, work / "damaged")
    print("full disk", file=sys.stderr)
    disk = full_disk(inputs, refs, work / "disk")
    print("xfoil", file=sys.stderr)
    xf = xfoil_faults(work / "xfoil", args.quick)
    total_s = time.perf_counter() - started

    # ------------------------------------------------------------------ report
    lines, problems = [], []
    tot = Counter()
    for name, k in kills.items():
        res = k["results"]
        if not res:
            continue
        n = len(res)
        with_progress = sum(r["progress"] for r in res)
        row = dict(
            kills=n,
            lost=sum(r["lost"] for r in res),
            twice=sum(r["twice"] for r in res),
            changed=sum(r["changed"] for r in res),
            resumed=sum(bool(r["resumed"]) for r in res),
            equal=sum(bool(r["equal"]) for r in res),
        )
        tot.update(row)
        diffs = [r["diff"] for r in res if "diff" in r]
        extra = f" (max weight difference {max(diffs):.1e})" if diffs else ""
        lines.append(
            f"| {name} | {k['wall']:.1f} | {n} | {with_progress} | {row['lost']} | {row['twice']} | "
            f"{row['changed']} | {row['resumed']}/{n} | {row['equal']}/{n}{extra} |"
        )
        problems += [f"{name}: {p}" for p in k["problems"]]
    unexercised = [name for name, k in kills.items() if k["results"] and not any(r["progress"] for r in k["results"])]
    f_ok = sum(f["ok"] for f in files)
    d_ok = sum(d["ok"] for d in disk)
    problems += [f"damaged {f['file']} ({f['damage']}) -> {f['command']}: {f['problem']}" for f in files if not f["ok"]]
    problems += [f"full disk, {d['case']}: {d['problem']}" for d in disk if not d["ok"]]
    by_file = Counter()
    for f in files:
        by_file[(f["file"], "ok" if f["ok"] else "bad")] += 1
    file_rows = "\n".join(
        f"| {label} | {', '.join(sorted({f['command'] for f in files if f['file'] == label}))} | "
        f"{by_file[(label, 'ok')]}/{by_file[(label, 'ok')] + by_file[(label, 'bad')]} | "
        f"`{next(f['message'] for f in files if f['file'] == label and f['damage'] == 'corrupted')}` |"
        for label in dict.fromkeys(f["file"] for f in files)
    )
    disk_rows = "\n".join(
        f"| {d['case']} | {'yes' if d['ok'] else 'NO: ' + d['problem']} | `{d['message']}` |" for d in disk
    )
    xrows = "\n".join(
        f"| {name} | {outcome} | {', '.join(f'{k} {v}' for k, v in sorted(st.items()))} | {wall:.0f} | "
        f"{'yes' if ok else 'NO'} |"
        for name, outcome, st, wall, ok in xf["rows"]
    )
    a = xf["angles"]
    dd = xf["data"]
    data_ok = dd["rc"] == 0 and dd["polars"] == dd["planned"] and dd["twice"] == 0
    if not data_ok:
        problems.append(f"data airfoil with a hanging/crashing xfoil: {dd}")
    if xf["continued"] != xf["runs"]:
        problems.append("NACA 2412 anchor wrong after a bad shape")
    command = "OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python -m benchmarks.faults " + " ".join(
        [f"--trials {trials}", f"--seed {args.seed}"]
        + (["--quick"] if args.quick else [])
        + (["--only", *map(repr, args.only)] if args.only else [])
    )
    body = f"""Command: `{command}` ({total_s / 60:.0f} min)
Date: {today()}. Machine: {host}.

**Kills.** Each command ran once unbroken (wall time T), then {trials} times in fresh folders, each SIGKILLed (with
every process it started) after a delay drawn uniformly from [0, T) (seed {args.seed}) and run again to completion.
{sum(k["misses"] for k in kills.values())} runs ended before their kill and were started again with a new delay (T is
the shortest unbroken wall time seen: the first run's, or one of those).
Requests: `{" ".join(AIRFOIL)}`; `{" ".join(CATALYST)}`; `train` of a 2-member airfoil ensemble (hidden 16, 40
epochs) on that airfoil set; `pretrain` of a catalyst encoder (12 epochs, 48 structures); `screen --verify` of 36
candidates verifying 8 with EMT (tests' space and untrained model).

| command | T s | kills | with progress on disk | designs lost | written twice | rows from before changed | resumed from the checkpoint | equal to the unbroken run |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(lines)}

Totals: {tot["kills"]} kills, lost {tot["lost"]}, written twice {tot["twice"]}, changed {tot["changed"]}, resumed
{tot["resumed"]}/{tot["kills"]}, equal to the unbroken run {tot["equal"]}/{tot["kills"]}. "Resumed": data generation
reported exactly the rows on disk at the kill as already present; `train`'s restart began at the member and epoch of
its `.partial` file (or at member 1, epoch 0 without one), `pretrain`'s log continued at the partial epoch + 1;
`screen` rewrote none of the verifications made before the kill. Training and pretraining resume to the same weights
as an unbroken run up to float summation order (tolerance 1e-5 / 1e-6); "changed" for them counts a `.partial` or
temporary file left after the finished run.{
        (
            " No kill of "
            + ", ".join(f"`{n}`" for n in unexercised)
            + " landed after its first progress was saved (start-up and data loading take most of T), so its resume from saved "
            "progress is not exercised here (the domain tests cover it)."
        )
        if unexercised
        else ""
    }

**Damaged files.** Truncated to half, or 4 KiB overwritten in the middle, then given to every command that reads
them: {f_ok}/{len(files)} handled (exit code != 0, one error line naming the file, no traceback, the file unchanged,
no output created).

| file | commands | handled | message (corrupted copy) |
|---|---|---|---|
{file_rows}

**Full disk** (RLIMIT_FSIZE at the file's current size, or 20-100 kB for new files; SIGXFSZ ignored, so writes fail
with EFBIG): {d_ok}/{len(disk)} handled (one error line naming the file, no traceback, datasets pass SQLite's
integrity check with every row from before unchanged, checkpoints byte for byte, no temporary file left).

| write | handled | message |
|---|---|---|
{disk_rows}

**XFOIL on purpose-built bad shapes** (Re 1e5, α 0, 6, 12, 18, -6, -12; a hang is killed after 4 s without progress,
the polar after 40 s), then NACA 2412 at Re 1e6, α 2 (must give CL 0.4496, CD 0.00578):

| shape | polar | angles | s | NACA 2412 right after |
|---|---|---|---|---|
{xrows}

Angles counted over these runs: {", ".join(f"{k} {v}" for k, v in sorted(a.items()))}; the next polar was right
after {xf["continued"]}/{xf["runs"]}. `phenograd data airfoil --shapes {
        dd["planned"]
    } --alpha 0:4:2` driving an xfoil that hangs at
every 4th start and crashes at every other 4th ({dd["starts"]} starts): exit code {dd["rc"]}, {dd["polars"]}/{
        dd["planned"]
    }
polars stored, {dd["twice"]} twice, points {", ".join(f"{k} {v}" for k, v in sorted(dd["points"].items()))}
({dd["wall"]:.0f} s).

{
        "No problems found in this run."
        if not problems
        else "Problems found:" + chr(10) + chr(10).join("- " + p for p in problems)
    }

Found by this suite and fixed before this run: a damaged page that no query reads (an index) passed unnoticed:
`data airfoil` extended such a file and `data catalyst` crashed on it with a traceback (the quick_check result was
never looked at), and `screen` crashed on a damaged results file; a full disk (or file-size limit) gave a traceback
from `data airfoil`/`data catalyst` (sqlite3 "disk I/O error"), `train` and `pretrain` (torch's RuntimeError), and
`train` left a half-written `<out>.partial.tmp`; a `train` `.partial` with bytes overwritten inside a tensor was
resumed from without complaint (torch.load does not check its zip archive's CRC-32s; checkpoints and partial files
are now checked); an unreadable airfoil dataset was reported as "not a phenograd airfoil dataset"; a kill while
`screen` was creating its results file left ASE's `results.db.partial.lock` behind, and every restart (of `screen`,
and likewise of `data catalyst` on its `.db.lock`) then waited on it forever (ASE's lock file has no timeout; the
ase.db files are now opened without it, SQLite's own locking guarding the one writer).
"""
    publish("Reliability", body, write=not (args.no_write or args.quick))
    if tmp is not None:
        tmp.cleanup()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
