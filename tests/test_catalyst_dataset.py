"""Catalyst datasets end to end: real EMT relaxations on tiny slabs, ase.db storage, resume after
SIGKILL, determinism, a real Dask LocalCluster, the command line and its bad-input handling."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from ase.db import connect

from phenograd.datasets.catalyst_generate import CatalystRequest, SlabTask, generate, iter_plan, run_slab_task
from phenograd.datasets.catalyst_store import CatalystStore, adslab_row, slab_row
from phenograd.simulators.adsorption import RelaxSettings, calculator_spec

ROOT = Path(__file__).resolve().parents[1]
PHENOGRAD = [sys.executable, "-m", "phenograd"]
TINY = ["--size", "2x2", "--layers", "3", "--elements", "Pt", "Cu", "Au", "Ni", "--no-progress"]


def tiny_request(n: int, seed: int = 0, **kw) -> CatalystRequest:
    return CatalystRequest(n=n, seed=seed, size=(2, 2), layers=3, per_slab=3, elements=("Pt", "Cu", "Au", "Ni"), **kw)


def adslab_rows(path) -> list[dict]:
    return [r.key_value_pairs for r in connect(str(path)).select(kind="adslab")]


def run_cli(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    """The command line in a fresh interpreter, as a user runs it."""
    return subprocess.run(
        [*PHENOGRAD, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def run_main(capsys, *args) -> subprocess.CompletedProcess:
    """The same command line in this process (phenograd.cli.main), to save interpreter start-ups."""
    from phenograd.cli import main

    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def small_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cat") / "small.db"
    summary = generate(path, tiny_request(7, seed=5), workers=1, progress=False)
    assert summary.written == 7 and summary.already_present == 0
    return path


@pytest.mark.slow
def test_rows_hold_initial_structure_labels_and_relaxed_positions(small_db):
    db = connect(str(small_db))
    rows = list(db.select(kind="adslab"))
    assert len(rows) == 7 and len({r.uid for r in rows}) == 7
    slabs = {r.uid: r for r in db.select(kind="slab")}
    for r in rows:
        atoms = r.toatoms()
        tags = atoms.get_tags()
        assert set(tags) == {0, 1, 2} and (tags == 2).sum() == len(r.adsorbate)
        assert atoms.constraints and sorted(atoms.constraints[0].index) == list(np.flatnonzero(tags == 0))
        assert r.status == "ok" and np.isfinite(r.e_ads)
        assert r.e_ads == pytest.approx(r.e_adslab - r.e_slab - r.e_reference)
        relaxed = np.asarray(r.data["relaxed_positions"])
        assert relaxed.shape == (len(atoms), 3)
        assert np.abs(relaxed[tags == 0] - atoms.positions[tags == 0]).max() < 1e-9  # fixed atoms stayed
        assert r.split in ("train", "test", "ood") and r.facet in ("fcc111", "fcc100")
        slab = slabs[r.slab_uid]
        assert slab.e_slab == pytest.approx(r.e_slab)  # relaxed once, reused
    meta = db.metadata
    assert meta["kind"] == "phenograd-catalyst-adsorption"
    assert set(meta["references"][calculator_spec(None)]["mu"]) == {"H", "C", "N", "O"}
    # browsable with ASE's own command line
    out = subprocess.run(
        [sys.executable, "-m", "ase", "db", str(small_db), "kind=adslab", "-c", "id,e_ads,adsorbate"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and "e_ads" in out.stdout


@pytest.mark.slow
def test_resume_writes_nothing_twice_and_same_seed_same_dataset(small_db, tmp_path):
    again = generate(small_db, tiny_request(7, seed=5), workers=1, progress=False)
    assert again.written == 0 and again.already_present == 7
    other = tmp_path / "again.db"
    generate(other, tiny_request(7, seed=5), workers=1, progress=False)
    a = {r["uid"]: r["e_ads"] for r in adslab_rows(small_db)}
    b = {r["uid"]: r["e_ads"] for r in adslab_rows(other)}
    assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], abs=1e-9) for k in a)
    # a smaller request is a prefix of a larger one; another seed is another dataset
    spec, settings = calculator_spec(None), RelaxSettings()
    uids = lambda req: [p.uid for *_, ps in iter_plan(req, spec, settings) for p in ps]  # noqa: E731
    assert set(uids(tiny_request(4, seed=5))) <= set(a)
    assert not set(uids(tiny_request(7, seed=6))) & set(a)


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_rows(small_db, tmp_path):
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        path = tmp_path / "dask.db"
        summary = generate(path, tiny_request(7, seed=5), scheduler=cluster.scheduler_address, progress=False)
    assert summary.written == 7
    a = {r["uid"]: r["e_ads"] for r in adslab_rows(small_db)}
    b = {r["uid"]: r["e_ads"] for r in adslab_rows(path)}
    assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], abs=1e-9) for k in a)


@pytest.mark.slow
def test_sigkill_then_restart_gives_every_structure_exactly_once(tmp_path):
    out = tmp_path / "killed.db"
    args = ["data", "catalyst", "--out", out, "--n", 12, "--per-slab", 2, "--seed", 11, "--workers", 1, *TINY]
    proc = subprocess.Popen(
        [*PHENOGRAD, *map(str, args)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 240
    n = 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:
            with sqlite3.connect(f"file:{out}?mode=ro", uri=True, timeout=5) as conn:
                n = conn.execute("SELECT COUNT(*) FROM text_key_values WHERE key='kind' AND value='adslab'").fetchone()[
                    0
                ]
        except sqlite3.OperationalError:
            continue  # tables not created yet
        if n >= 4:
            break
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 4 <= n < 12
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    assert "already present" in done.stdout
    rows = adslab_rows(out)
    counts = Counter(r["uid"] for r in rows)
    spec, settings = calculator_spec(None), RelaxSettings()
    planned = [
        p.uid
        for *_, ps in iter_plan(
            CatalystRequest(n=12, seed=11, size=(2, 2), layers=3, per_slab=2, elements=("Pt", "Cu", "Au", "Ni")),
            spec,
            settings,
        )
        for p in ps
    ]
    assert sorted(counts) == sorted(planned) and set(counts.values()) == {1}
    slab_counts = Counter(r.uid for r in connect(str(out)).select(kind="slab"))
    assert set(slab_counts.values()) == {1}


@pytest.mark.slow
def test_a_failed_relaxation_is_stored_as_a_row_with_its_reason(tmp_path, borrowed_references):
    spec = "test_catalyst_simulator:exploding_morse"
    plan = next(iter_plan(tiny_request(2), calculator_spec(None), RelaxSettings()))
    i, slab_uid, slab, labels, placements = plan
    task = SlabTask(i, slab_uid, slab, labels, placements, spec, RelaxSettings(steps=60), borrowed_references(spec))
    out = run_slab_task(task)
    assert out.clean.status.startswith("failed: relaxation blew up")
    store = CatalystStore.open(tmp_path / "failed.db")
    rows = [
        adslab_row(p.uid, slab_uid, r, {**labels, "adsorbate": p.adsorbate, "site": p.site}) for p, r in out.results
    ]
    assert store.write_slab_task(slab_row(slab, slab_uid, out.clean, labels), rows) == len(placements)
    stored = adslab_rows(tmp_path / "failed.db")
    assert stored and all(r["status"].startswith("failed: relaxation blew up") and "e_ads" not in r for r in stored)


# ----------------------------------------------------------------------------- command line


@pytest.mark.slow
def test_cli_info_and_simulate_adsorption(small_db, tmp_path, capsys):
    info = run_main(capsys, "data", "info", small_db)
    assert info.returncode == 0 and "catalyst adsorption dataset" in info.stdout and "E_ads" in info.stdout
    row = next(connect(str(small_db)).select(kind="adslab"))
    structure = tmp_path / "one.traj"
    row.toatoms().write(structure)
    sim = run_cli("simulate", "adsorption", "--structure", structure, "--json")
    assert sim.returncode == 0, sim.stderr
    import json

    result = json.loads(sim.stdout)
    assert result["e_ads"] == pytest.approx(row.e_ads, abs=1e-6)
    plug = run_cli(
        "simulate",
        "adsorption",
        "--structure",
        structure,
        "--calculator",
        "test_catalyst_simulator:soft_morse",
        env={"PYTHONPATH": str(ROOT / "tests")},
    )
    assert plug.returncode == 0 and "E_ads" in plug.stdout and "soft_morse" in plug.stdout


@pytest.mark.slow
def test_cli_unlabelled_catalyst_and_airfoil(tmp_path, capsys):
    out = tmp_path / "pre.db"
    r = run_cli("data", "unlabelled", "--domain", "catalyst", "--out", out, "--n", 16, "--seed", 3)
    assert r.returncode == 0, r.stderr
    rows = list(connect(str(out)).select())
    assert len(rows) == 16 and {r.facet for r in rows} <= {"fcc111", "fcc100", "fcc110", "fcc211"}
    assert all(set(r.toatoms().get_tags()) <= {0, 1, 2} for r in rows)
    info = run_main(capsys, "data", "info", out)
    assert info.returncode == 0 and "structures 16" in info.stdout
    again = tmp_path / "pre2.db"
    assert (
        run_main(
            capsys, "data", "unlabelled", "--domain", "catalyst", "--out", again, "--n", 16, "--seed", 3
        ).returncode
        == 0
    )
    assert [r.toatoms().positions.tolist() for r in connect(str(again)).select()] == [
        r.toatoms().positions.tolist() for r in rows
    ]
    foils = tmp_path / "foils.npz"
    r = run_main(capsys, "data", "unlabelled", "--domain", "airfoil", "--out", foils, "--n", 6)
    assert r.returncode == 0, r.stderr
    assert np.load(foils)["coordinates"].shape[0] == 6


def _assert_one_line_error(r: subprocess.CompletedProcess, needle: str) -> None:
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("phenograd: error:") and "Traceback" not in r.stderr
    assert needle in lines[0], lines[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--elements", "Pt", "Xx"], "unknown element 'Xx'"),
        (["--elements", "Pt", "Fe"], "cannot handle Fe"),
        (["--elements", "Pt", "Cu", "--composition", "Pt:1.2,Cu:-0.2"], "must be >= 0"),
        (["--elements", "Pt", "Cu", "--composition", "Pt:0.5,Cu:0.6"], "sum to 1.1"),
        (["--adsorbates", "NH3"], "unknown adsorbate 'NH3'"),
        (["--facets", "311"], "--facets"),
        (["--calculator", "nonexistent_module_xyz:Calc"], "cannot import"),
    ],
)
def test_cli_bad_generation_requests_leave_the_dataset_untouched(small_db, tmp_path, capsys, extra, needle):
    copy = tmp_path / "copy.db"
    copy.write_bytes(small_db.read_bytes())
    before = sha(copy)
    run = run_cli if "Xx" in extra else lambda *a: run_main(capsys, *a)
    r = run("data", "catalyst", "--out", copy, "--n", 3, "--no-progress", *extra)
    _assert_one_line_error(r, needle)
    assert sha(copy) == before


@pytest.mark.slow
def test_cli_refuses_files_that_are_not_catalyst_datasets(tmp_path, capsys):
    text = tmp_path / "notes.db"
    text.write_text("my notes\n")
    r = run_cli("data", "catalyst", "--out", text, "--n", 1, *TINY)
    _assert_one_line_error(r, "not an SQLite dataset file")
    assert text.read_text() == "my notes\n"
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE meta (key TEXT, value TEXT)")
        conn.execute("CREATE TABLE polars (key TEXT)")
    before = sha(other)
    _assert_one_line_error(
        run_main(capsys, "data", "catalyst", "--out", other, "--n", 1, *TINY), "airfoil polar dataset"
    )
    assert sha(other) == before


@pytest.mark.slow
def test_cli_bad_structures(tmp_path, capsys):
    from ase.build import fcc111

    slab = fcc111("Pt", (2, 2, 3), vacuum=8.0)
    slab.set_tags(np.where(slab.get_tags() > 2, 0, 1))
    no_ads = tmp_path / "slab.traj"
    slab.write(no_ads)
    _assert_one_line_error(run_cli("simulate", "adsorption", "--structure", no_ads), "no adsorbate")
    overlap = slab.copy()
    overlap.append("O")
    overlap.positions[-1] = overlap.positions[np.argmax(overlap.positions[:-1, 2])] + (0, 0, 0.3)
    overlap.set_tags(list(slab.get_tags()) + [2])
    path = tmp_path / "overlap.traj"
    overlap.write(path)
    _assert_one_line_error(run_main(capsys, "simulate", "adsorption", "--structure", path), "overlapping atoms")
    garbage = tmp_path / "garbage.xyz"
    garbage.write_text("not a structure\n")
    _assert_one_line_error(
        run_main(capsys, "simulate", "adsorption", "--structure", garbage), "cannot read a structure"
    )
    _assert_one_line_error(
        run_main(capsys, "simulate", "adsorption", "--structure", tmp_path / "missing.traj"), "no such structure file"
    )


@pytest.mark.slow
def test_fixed_composition_request(tmp_path):
    path = tmp_path / "pc.db"
    generate(path, tiny_request(3, seed=2, composition="Pt:0.5,Cu:0.5"), workers=1, progress=False)
    slabs = list(connect(str(path)).select(kind="slab"))
    assert slabs and all(Counter(s.toatoms().get_chemical_symbols()) == {"Pt": 6, "Cu": 6} for s in slabs)
    assert {r["composition"] for r in adslab_rows(path)} == {"Cu0.5Pt0.5"}


@pytest.mark.slow
def test_a_lock_file_left_by_a_killed_run_does_not_block_the_restart(tmp_path):
    """A SIGKILL can leave ASE's `NAME.db.lock` behind; generation must not wait on it (it waited forever)."""
    out = tmp_path / "cat.db"
    (tmp_path / "cat.db.lock").write_bytes(b"")
    done = subprocess.run(
        [
            *PHENOGRAD,
            *map(
                str, ["data", "catalyst", "--out", out, "--n", 2, "--per-slab", 2, "--seed", 11, "--workers", 1, *TINY]
            ),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert len(adslab_rows(out)) == 2


@pytest.mark.slow
def test_dask_worker_killed_mid_run_loses_nothing_and_writes_nothing_twice(small_db, tmp_path):
    """A real LocalCluster; one worker process gets SIGKILL while it relaxes a slab. Dask reruns
    its task elsewhere; the single writer still stores every planned structure exactly once."""
    import threading

    from distributed import Client, LocalCluster

    request = tiny_request(18, seed=5)  # 6 slab tasks; tiny_request(7, seed=5) (small_db) is its prefix
    planned = {p.uid for *_, ps in iter_plan(request, calculator_spec(None), RelaxSettings()) for p in ps}
    path = tmp_path / "killed_worker.db"
    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        outcome = {}
        runner = threading.Thread(
            target=lambda: outcome.update(
                summary=generate(path, request, scheduler=cluster.scheduler_address, progress=False)
            )
        )
        runner.start()
        killed = None
        deadline = time.time() + 240
        while killed is None and time.time() < deadline and runner.is_alive():
            busy = [w for w, keys in client.processing().items() if keys]
            try:  # read-only: the writer may still be creating the tables
                with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
                    rows = conn.execute(
                        "SELECT COUNT(*) FROM text_key_values WHERE key='kind' AND value='adslab'"
                    ).fetchone()[0]
            except sqlite3.OperationalError:
                rows = 0
            if rows >= 3 and busy:
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed = (pid, rows)
            time.sleep(0.1)
        runner.join(timeout=300)
    assert killed is not None, "the run finished before a busy worker could be killed"
    assert killed[1] < 18
    rows = adslab_rows(path)
    counts = Counter(r["uid"] for r in rows)
    assert set(counts) == planned and max(counts.values()) == 1  # nothing lost, nothing twice
    assert outcome["summary"].written == 18
    ref = {r["uid"]: r["e_ads"] for r in adslab_rows(small_db)}
    got = {r["uid"]: r["e_ads"] for r in rows}
    assert all(got[u] == pytest.approx(e, abs=1e-9) for u, e in ref.items())
