"""DFT with real GPAW on tiny cases (seconds): the adsorption-energy arithmetic, the failure and timeout paths,
the missing-GPAW path, and a label set that resumes without computing anything twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import fcc111

from phenograd.core.errors import InputError, SimulatorUnavailable
from phenograd.simulators.dft import (
    DAMPED_MIXER,
    DAMPED_MIXER_NAME,
    REDUCED_VALENCE,
    DFTSettings,
    adsorbate_reference,
    chemical_potentials,
    gas_molecule,
    gpaw_version,
    single_point,
    single_point_uid,
    split_adslab,
    worker_job,
)

ROOT = Path(__file__).resolve().parents[1]
# 5x5 k-points on a 1x1 cell, single-zeta basis, coarse grid, small boxes: seconds per single point, not chemistry.
TINY = DFTSettings(basis="sz(dzp)", kpt_density=12.0, h=0.3, gas_box=7.0, timeout_s=300)


def tiny_adslab() -> Atoms:
    """H in the fcc hollow of a 1x1x2 Al(111) slab (3 atoms), OC20 tags."""
    slab = fcc111("Al", (1, 1, 2), a=4.05, vacuum=4.0)
    slab.set_tags([0, 1])
    h = Atoms("H", positions=[slab.positions[1] + (1.43, 0.83, 1.0)], tags=[2])
    return slab + h


@pytest.mark.slow
def test_gpaw_is_installed_by_make_setup_dft():
    assert gpaw_version().startswith("22.")


@pytest.mark.slow
def test_adsorption_energy_arithmetic_with_real_gpaw():
    adslab = tiny_adslab()
    clean, adsorbate = split_adslab(adslab)
    assert adsorbate == ["H"] and len(clean) == 2
    e_h2 = single_point(gas_molecule("H2", TINY.gas_box), TINY)
    e_slab = single_point(clean, TINY)
    e_adslab = single_point(adslab, TINY)
    assert e_h2.ok and e_slab.ok and e_adslab.ok, (e_h2.status, e_slab.status, e_adslab.status)
    assert e_h2.gpaw.startswith("22.") and e_adslab.iterations > 3
    mu = chemical_potentials({"H2": e_h2.energy, "H2O": -14.0, "N2": -16.0, "CO": -15.0})
    assert mu["H"] == pytest.approx(e_h2.energy / 2)
    assert mu["C"] == pytest.approx(-15.0 - (-14.0 - e_h2.energy))
    e_ads = e_adslab.energy - e_slab.energy - adsorbate_reference(adsorbate, mu)
    assert -3.0 < e_ads < 3.0  # H on a metal against H2/2: within a few eV of zero
    again = single_point(adslab, TINY)
    assert again.energy == pytest.approx(e_adslab.energy, abs=1e-6)  # deterministic
    from dataclasses import replace

    two_ranks = single_point(adslab, replace(TINY, processes=2))  # k-points split over two MPI ranks
    assert two_ranks.ok and two_ranks.energy == pytest.approx(e_adslab.energy, abs=1e-6)


@pytest.mark.slow
def test_scf_that_does_not_converge_and_timeout_are_results_not_exceptions():
    from dataclasses import replace

    r = single_point(tiny_adslab(), replace(TINY, maxiter=10, smearing_eV=0.0))
    assert r.status.startswith("failed:") and r.energy is None
    # tried twice: GPAW's default mixer, then the damped one
    assert r.status.endswith("(after a first SCF that did not converge)") and r.mixer == DAMPED_MIXER_NAME
    t = single_point(tiny_adslab(), replace(TINY, timeout_s=1.0))
    assert t.status == "timeout"


def test_the_worker_passes_the_retry_mixer_to_gpaw(tmp_path):
    """The second attempt's mixer reaches GPAW (its text log states the mixing parameter)."""
    import json

    job = worker_job(tiny_adslab(), TINY)
    job["settings"]["mixer"] = DAMPED_MIXER
    (tmp_path / "job.json").write_text(json.dumps(job))
    from phenograd.simulators.dft import WORKER, dft_python

    subprocess.run([dft_python(), str(WORKER), "job.json", "out.json"], cwd=tmp_path, check=True, timeout=300)
    assert json.loads((tmp_path / "out.json").read_text())["status"] == "ok"
    assert "Linear mixing parameter: 0.02" in (tmp_path / "gpaw.txt").read_text()


def test_a_gpaw_process_stopped_from_outside_is_interrupted_not_failed():
    """SIGTERM to the GPAW process (someone stopping the job) raises: a label set records no failure for it
    and a resumed run computes the single point."""
    import threading

    from phenograd.simulators.dft import WORKER

    outcome = {}

    def run():
        try:
            outcome["result"] = single_point(tiny_adslab(), TINY)
        except InterruptedError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    pid = None
    deadline = time.monotonic() + 60
    while pid is None and time.monotonic() < deadline:
        # this process's own child only: a DFT release running on the same machine has GPAW workers too
        found = subprocess.run(
            ["pgrep", "-P", str(os.getpid()), "-f", str(WORKER)], capture_output=True, text=True
        ).stdout.split()
        pid = int(found[0]) if found else None
        time.sleep(0.02)
    assert pid is not None, "the GPAW process never started"
    os.kill(pid, signal.SIGTERM)
    thread.join(120)
    assert "result" not in outcome and "signal 15" in str(outcome["error"])


@pytest.mark.slow
def test_plane_wave_single_points_reach_gpaw_with_their_cutoff():
    """pw mode runs GPAW's plane waves at the cutoff asked for: two cutoffs give two energies."""
    h2 = gas_molecule("H2", 6.0)
    low, high = (single_point(h2, DFTSettings(mode="pw", ecut=e, gas_box=6.0, timeout_s=300)) for e in (250.0, 450.0))
    assert low.ok and high.ok, (low.status, high.status)
    assert abs(low.energy - high.energy) > 1e-4  # the cutoff reached GPAW
    assert -8.0 < high.energy < -5.0  # H2 against GPAW's reference atoms: about -6.7 eV in PBE
    lcao = single_point(h2, DFTSettings(gas_box=6.0, timeout_s=300))
    assert lcao.ok and abs(lcao.energy - high.energy) < 0.5  # the same molecule in another basis


def test_settings_keys_and_job():
    adslab = tiny_adslab()
    s = DFTSettings()
    assert s.kpts(fcc111("Pt", (2, 2, 3), a=3.97, vacuum=5.0)) == (3, 3, 1)
    job = worker_job(adslab, s)
    assert job["settings"]["dipole"] is True  # a slab (periodic in-plane only): dipole layer on
    assert worker_job(gas_molecule("CO", 10.0), s)["settings"]["dipole"] is False
    assert worker_job(gas_molecule("CO", 10.0), s)["settings"]["kpts"] == [1, 1, 1]
    nickel = fcc111("Ni", (1, 1, 2), a=3.52, vacuum=4.0)
    assert worker_job(nickel, s)["settings"]["spin"] and worker_job(nickel, s)["magmoms"] == [1.0, 1.0]
    assert single_point_uid(adslab, s) != single_point_uid(adslab, DFTSettings(basis="szp(dzp)"))
    assert single_point_uid(adslab, s) == single_point_uid(adslab, DFTSettings(timeout_s=5.0))  # a bound, not physics
    assert DFTSettings(processes=2).key() == s.key()  # how the work is spread is not a setting of the energy
    plane_waves = DFTSettings(mode="pw", ecut=500.0)
    assert plane_waves.key()["ecut"] == 500.0 and "ecut" not in s.key()  # LCAO label sets keep their keys
    assert single_point_uid(adslab, s) == single_point_uid(adslab, DFTSettings(ecut=300.0))
    assert single_point_uid(adslab, plane_waves) != single_point_uid(adslab, DFTSettings(mode="pw", ecut=400.0))
    assert worker_job(adslab, plane_waves)["settings"]["ecut"] == 500.0 and "ecut" not in job["settings"]
    for bad in (
        DFTSettings(mode="planewave"),
        DFTSettings(mode="pw", ecut=50.0),
        DFTSettings(basis="tzp"),
        DFTSettings(xc="B3LYP"),
        DFTSettings(h=0.0),
        DFTSettings(setups="soft"),
        DFTSettings(processes=0),
    ):
        with pytest.raises(InputError):
            bad.validate()


def test_reduced_valence_setups_where_gpaw_data_has_them():
    standard = DFTSettings(setups="standard")
    assert DFTSettings().setups == "reduced" and "setups" in DFTSettings().key() and "setups" not in standard.key()
    pd_slab = fcc111("Pd", (2, 2, 3), a=3.94, vacuum=5.0)
    assert worker_job(pd_slab, DFTSettings())["settings"]["setups"] == {"Pd": "10"}
    assert "setups" not in worker_job(pd_slab, standard)["settings"]
    assert single_point_uid(pd_slab, DFTSettings()) != single_point_uid(pd_slab, standard)
    gold = fcc111("Au", (2, 2, 3), a=4.17, vacuum=5.0)  # no reduced setup: the same single point either way
    assert single_point_uid(gold, DFTSettings()) == single_point_uid(gold, standard)
    assert DFTSettings().setups_of(["Pt", "O", "Ni", "Pt", "Cu"]) == {"Ni": "10", "Pt": "10"}
    for element in REDUCED_VALENCE:  # every setup named is in the installed gpaw-data (make setup-dft)
        assert Path(f"/usr/share/gpaw-setups/{element}.{REDUCED_VALENCE[element]}.PBE.gz").is_file(), element


def test_a_label_set_keeps_its_settings(tmp_path):
    from phenograd.datasets.catalyst_dft import DFTRequest, DFTStore, generate_dft

    path = tmp_path / "dft.db"
    DFTStore.open(path).update_meta(dft={"settings": DFTSettings(setups="standard").key()})
    with pytest.raises(InputError, match="other settings \\(setups differ\\).*new --out"):
        generate_dft(path, DFTRequest(n=1, settings=DFTSettings()), progress=False)
    plane_waves = tmp_path / "pw.db"
    DFTStore.open(plane_waves).update_meta(dft={"settings": DFTSettings(mode="pw", ecut=600.0).key()})
    with pytest.raises(InputError, match="other settings.*new --out"):  # an LCAO run cannot extend a plane-wave set
        generate_dft(plane_waves, DFTRequest(n=1, settings=DFTSettings()), progress=False)
    with pytest.raises(InputError, match="other settings.*new --out"):  # nor one at another cutoff
        generate_dft(plane_waves, DFTRequest(n=1, settings=DFTSettings(mode="pw", ecut=400.0)), progress=False)


@pytest.mark.slow
def test_label_set_on_two_workers_computes_each_single_point_once_and_resumes(tmp_path):
    """Two worker processes, one slab each, writing to one file: every single point once, E_ads from the
    stored energies, and a rerun finds everything present."""
    from ase.db import connect

    from phenograd.datasets.catalyst_dft import DFTRequest, generate_dft

    path = tmp_path / "dft.db"
    request = DFTRequest(n=2, potential="emt", settings=TINY, placements=1)
    counts = generate_dft(path, request, progress=False, workers=2)
    assert counts == {"planned": 2, "present": 0, "written": 2, "failed": 0}
    rows = list(connect(str(path)).select())
    uids = [r.uid for r in rows]
    assert len(uids) == len(set(uids))
    kinds = sorted(r.kind for r in rows)
    assert kinds == ["adslab", "adslab", "gas", "gas", "potential", "potential", "slab", "slab"]
    gas = {r.name: r.e_dft for r in rows if r.kind == "gas"}
    assert sorted(gas) == ["H2", "H2O"]  # O's reference, computed once before the workers start
    slabs = {r.uid: r.e_dft for r in rows if r.kind == "slab"}
    for r in (r for r in rows if r.kind == "adslab"):
        assert r.status == "ok"
        assert r.e_slab == slabs[r.slab_uid]
        assert r.e_ads == pytest.approx(r.e_dft - r.e_slab - (gas["H2O"] - gas["H2"]), abs=1e-9)
    assert generate_dft(path, request, progress=False, workers=2) == {
        "planned": 2,
        "present": 2,
        "written": 0,
        "failed": 0,
    }
    assert len(list(connect(str(path)).select())) == len(rows)


@pytest.mark.slow
def test_missing_gpaw_is_exit_status_3_naming_make_setup_dft(tmp_path):
    env = {**os.environ, "PHENOGRAD_DFT_PYTHON": str(tmp_path / "no-python3")}
    with pytest.raises(SimulatorUnavailable, match="make setup-dft"):
        os.environ["PHENOGRAD_DFT_PYTHON"] = env["PHENOGRAD_DFT_PYTHON"]
        try:
            gpaw_version()
        finally:
            del os.environ["PHENOGRAD_DFT_PYTHON"]
    out = tmp_path / "dft.db"
    proc = subprocess.run(
        [sys.executable, "-m", "phenograd", "data", "dft", "--out", str(out), "--n", "1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 3
    assert proc.stderr.strip().count("\n") == 0 and "make setup-dft" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
    python_without_gpaw = {**os.environ, "PHENOGRAD_DFT_PYTHON": sys.executable}  # this venv has no GPAW
    proc = subprocess.run(
        [sys.executable, "-m", "phenograd", "data", "dft", "--out", str(out), "--n", "1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=python_without_gpaw,
        timeout=120,
    )
    assert proc.returncode == 3 and "make setup-dft" in proc.stderr and not out.exists()


def test_split_adslab_uses_the_relaxed_clean_slab():
    adslab = tiny_adslab()
    moved = adslab.positions[:2] + 0.05
    clean, _ = split_adslab(adslab, moved)
    assert np.allclose(clean.positions, moved)
    with pytest.raises(InputError, match="do not match"):
        split_adslab(adslab, moved[:1])
    with pytest.raises(InputError, match="no adsorbate"):
        split_adslab(adslab[:2])


@pytest.mark.slow
def test_screen_verify_dft_end_to_end_and_resume(tmp_path, catalyst_model, write_space):
    """A 3-candidate screen: EMT verifies, GPAW computes the best 2 (tiny settings), the CLI shows the three
    numbers side by side, and a rerun computes nothing (it succeeds even with GPAW made unreachable)."""
    from ase.db import connect

    space = write_space()
    out = tmp_path / "screen.db"
    args = [
        "screen",
        "--space",
        space,
        "--model",
        catalyst_model,
        "--top",
        "3",
        "--uncertain",
        "0",
        "--verify",
        "--workers",
        "1",
        "--verify-dft",
        "2",
        "--dft-basis",
        "sz(dzp)",
        "--dft-kpt-density",
        "6",
        "--dft-grid",
        "0.3",
        "--out",
        out,
        "--no-progress",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "phenograd", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "E_DFT" in proc.stdout
    rows = [r for r in connect(str(out)).select() if r.get("e_dft") is not None]
    assert len(rows) == 2
    for r in rows:
        assert r.dft_status == "ok" and abs(r.e_dft) < 10 and r.get("e_verified") is not None
        assert "relaxed_positions" in r.data and "clean_positions" in r.data
    first = {r.id: r.e_dft for r in rows}
    unreachable = {**env, "PHENOGRAD_DFT_PYTHON": str(tmp_path / "no-python3")}
    again = subprocess.run(
        [sys.executable, "-m", "phenograd", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=unreachable,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert {r.id: r.e_dft for r in connect(str(out)).select() if r.get("e_dft") is not None} == first
    three = [str(a) for a in args]
    three[three.index("--verify-dft") + 1] = "3"
    more = subprocess.run(
        [sys.executable, "-m", "phenograd", *three],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=unreachable,
        timeout=600,
    )
    assert more.returncode == 3 and "make setup-dft" in more.stderr  # a third candidate needs GPAW


@pytest.mark.slow
def test_composition_search_verify_dft(tmp_path, capsys, catalyst_model):
    """optimize composition --verify 2 --verify-dft 1: EMT verifies two designs, GPAW the one nearest the target
    (tiny settings: a 2x2x2 slab, Gamma point, single-zeta basis); result.json and the summary show all three."""
    import json

    from phenograd.cli import main

    out = tmp_path / "design"
    code = main(
        [
            "optimize",
            "composition",
            "--metals",
            "Pt",
            "Cu",
            "--target",
            "-1.2",
            "--size",
            "2x2",
            "--layers",
            "2",
            "--steps",
            "10",
            "--verify",
            "2",
            "--verify-dft",
            "1",
            "--dft-basis",
            "sz(dzp)",
            "--dft-kpt-density",
            "0",
            "--dft-grid",
            "0.3",
            "--workers",
            "1",
            "--model",
            str(catalyst_model),
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and ", DFT " in text
    verified = json.loads((out / "result.json").read_text())["verified"]
    with_dft = [v for v in verified if "dft_status" in v]
    assert len(with_dft) == 1 and with_dft[0]["dft_status"] == "ok" and abs(with_dft[0]["e_dft"]) < 10
    nearest = min((v for v in verified if v["e_verified"] is not None), key=lambda v: abs(v["e_verified"] + 1.2))
    assert with_dft[0]["label"] == nearest["label"]


def test_an_interrupted_dft_run_says_how_to_resume(tmp_path, monkeypatch, capsys):
    """A GPAW process stopped from outside stops the command with exit status 130 and one line saying to resume."""
    import phenograd.datasets.catalyst_dft as catalyst_dft
    from phenograd.cli import main

    def stopped(*args, **kwargs):
        raise InterruptedError("DFT: the GPAW process was stopped by signal 15")

    monkeypatch.setattr(catalyst_dft, "generate_dft", stopped)
    assert main(["data", "dft", "--out", str(tmp_path / "dft.db"), "--n", "1"]) == 130
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "signal 15" in err and "run the same command again to resume" in err


def test_initial_adslab_is_the_placement_whose_relaxation_gave_the_row(tmp_path):
    """The DFT rows store the potential's relaxed geometry; initial_adslab rebuilds the structure it started from
    (the IS2RE surrogate's input): relaxed again by the potential it gives the row's E_ads and atoms."""
    from ase.db import connect
    from ase.geometry import find_mic

    from phenograd.datasets.catalyst_dft import (
        DFTRequest,
        _potential_references,
        find_system,
        generate_dft,
        initial_adslab,
    )
    from phenograd.datasets.surfaces import build_surface
    from phenograd.simulators.adsorption import RelaxSettings, adsorption_energy, relax_slab
    from phenograd.simulators.calculators import calculator_spec

    path = tmp_path / "dft.db"
    request = DFTRequest(n=1, potential="emt", settings=TINY, placements=3)
    assert generate_dft(path, request, progress=False)["written"] == 1
    db = connect(str(path))
    row = next(db.select(kind="adslab", status="ok"))
    tried = [e for e in __import__("json").loads(next(db.select(kind="potential")).placement_e_ads) if e is not None]
    assert len({round(e, 3) for e in tried}) > 1  # the placements differ: picking the right one matters
    start = initial_adslab(db, row)
    assert start.get_chemical_symbols() == row.toatoms().get_chemical_symbols()
    spec, relax = calculator_spec("emt"), RelaxSettings(fmax=request.fmax, steps=request.steps)
    clean = relax_slab(build_surface(find_system(row.slab_key, row.adsorbate).surface, spec), spec, relax)
    again = adsorption_energy(start, spec, relax, _potential_references(spec, relax), slab=clean)
    assert again.e_ads == pytest.approx(row.e_ads_potential, abs=1e-6)
    shift = find_mic(again.relaxed.positions - row.positions, row.cell, row.pbc)[1]
    assert shift.max() < 1e-4
    assert find_mic(start.positions - row.positions, row.cell, row.pbc)[1].max() > 0.01  # it did relax
