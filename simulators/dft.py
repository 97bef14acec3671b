"""DFT single points with GPAW: the top rung of the catalyst fidelity ladder (EMT -> potential -> DFT).

The AdsorbML protocol (Lan et al., npj Comput. Mater. 2023): an adsorbate-slab geometry relaxed by a
cheaper fidelity (the universal potential) gets one DFT single point, as does its clean slab (the same
slab atoms at their positions in the adslab's relaxed clean slab) and the gas molecules, and

    E_ads(DFT) = E(adslab) - E(clean slab) - sum over adsorbate atoms of mu_X

with mu_H = E(H2)/2, mu_O = E(H2O) - E(H2), mu_N = E(N2)/2, mu_C = E(CO) - mu_O (OC20's scheme) at the
same settings. Gas molecules are single points at ASE's g2 geometries (experimental bond lengths and
angles, within about 0.01 Å of PBE's) in a cubic box at the Gamma point.

GPAW comes from Debian (``make setup-dft``: packages gpaw and gpaw-data) and runs under Debian's
python3, not phenograd's environment: every single point is its own process (``gpaw_worker.py``,
plain JSON in and out), one thread, in a temporary folder, killed with its process group at the
wall-clock limit. A failed or unconverged SCF is a result with its reason, never an exception.

Settings (:class:`DFTSettings`) are recorded with every number: LCAO mode with GPAW's dzp basis by default,
PBE, Fermi-Dirac smearing, a Monkhorst-Pack grid from a k-point density, a dipole correction for slabs, and
spin polarisation whenever a magnetic 3d metal (Mn, Fe, Co, Ni) is present.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import molecule

from phenograd.core.errors import InputError, SimulatorUnavailable

from .adsorption import GAS_MOLECULES, REFERENCE_ELEMENTS, TAG_ADSORBATE

WORKER = Path(__file__).with_name("gpaw_worker.py")
#: The density mixer of the second attempt at an SCF that did not converge: only the total density is mixed,
#: damped (beta 0.02 against GPAW's 0.05, metric weight 100 against 50), so the magnetic moments that
#: oscillate in spin-polarised slabs (Pt3Ni, NiAl) are left to settle (GPAW's mixer keywords).
DAMPED_MIXER = {"method": "sum", "beta": 0.02, "history": 5, "weight": 100.0}
DAMPED_MIXER_NAME = "sum, beta 0.02, history 5, weight 100"
#: Return codes of a GPAW process stopped from outside (SIGTERM, SIGINT, SIGHUP): the single point is
#: interrupted, not failed, and a resumed run computes it (SIGKILL stays a failure: the kernel's OOM killer sends it).
INTERRUPTING_SIGNALS = (-signal.SIGTERM, -signal.SIGINT, -signal.SIGHUP)
#: Initial magnetic moments (Bohr magnetons per atom) of the metals computed spin-polarised.
INITIAL_MAGMOM = {"Mn": 3.0, "Fe": 3.0, "Co": 2.0, "Ni": 1.0}
MODES = ("lcao", "fd", "pw")
BASES = ("dzp", "szp(dzp)", "sz(dzp)", "dz(dzp)")  # gpaw-data ships dzp; the others are cut from it


def dft_python() -> str:
    """The interpreter that has GPAW: $PHENOGRAD_DFT_PYTHON, else Debian's /usr/bin/python3."""
    return os.environ.get("PHENOGRAD_DFT_PYTHON") or "/usr/bin/python3"


def gpaw_version() -> str:
    """GPAW's version under :func:`dft_python`; SimulatorUnavailable naming ``make setup-dft`` when absent."""
    python = dft_python()
    if not (shutil.which(python) or Path(python).is_file()):
        raise SimulatorUnavailable(f"DFT: {python} not found; run `make setup-dft` (Debian's gpaw and gpaw-data)")
    try:
        proc = subprocess.run(
            [python, "-c", "import gpaw; print(gpaw.__version__)"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SimulatorUnavailable(f"DFT: cannot run {python} ({exc}); run `make setup-dft`") from None
    if proc.returncode != 0:
        raise SimulatorUnavailable(
            f"DFT: GPAW is not importable by {python}; run `make setup-dft` (Debian's gpaw and gpaw-data)"
        )
    return proc.stdout.strip().splitlines()[-1]


#: Reduced-valence PAW setups in Debian's gpaw-data (the "<element>.<electrons>" files beside the standard ones):
#: the standard Pd, Pt, Rh, ... setups carry semicore p states whose unbound LCAO orbitals reach 8 Å, which made
#: an SCF iteration of O on a 2x2x3 Pd(111) slab take 41 s against 4.5 s with Pd.10 (measured 2026-12-04).
REDUCED_VALENCE = {
    "Ag": "11",
    "Ir": "9",
    "Mg": "2",
    "Mn": "7",
    "Mo": "6",
    "Nb": "5",
    "Ni": "10",
    "Os": "8",
    "Pd": "10",
    "Pt": "10",
    "Rh": "9",
    "Ru": "8",
    "Ta": "5",
    "V": "5",
    "W": "6",
}
SETUPS = ("reduced", "standard")


@dataclass(frozen=True)
class DFTSettings:
    """GPAW settings of every single point of one label set.

    mode: "lcao" (atomic-orbital basis), "fd" (real-space grid) or "pw" (plane waves up to ecut). basis: LCAO basis
    set name. ecut: plane-wave cutoff, eV (pw mode only; no part of the other modes' keys; in pw mode GPAW sizes the
    real-space grid from it and h is not used).
    xc: exchange-correlation functional (GPAW's name). kpt_density: Monkhorst-Pack points per
    reciprocal Å along each periodic in-plane direction, k_i = ceil(kpt_density / |a_i|) (Å; 16 gives
    3 x 3 on a 2x2 close-packed cell of 5-6 Å). h: real-space grid spacing, Å. smearing_eV: Fermi-Dirac width, eV.
    maxiter: SCF iteration limit. timeout_s: wall-clock limit of one single point, s.
    gas_box: edge of the cubic box around a gas molecule, Å. setups: "reduced" (the reduced-valence PAW setup of
    every element that gpaw-data has one for, REDUCED_VALENCE; GPAW's standard one elsewhere) or "standard".
    processes: MPI ranks of one single point (GPAW parallelises over k-points and spins; mpiexec when > 1).
    """

    mode: str = "lcao"
    basis: str = "dzp"
    ecut: float = 400.0
    xc: str = "PBE"
    kpt_density: float = 16.0
    h: float = 0.22
    smearing_eV: float = 0.1
    maxiter: int = 300
    timeout_s: float = 3600.0
    gas_box: float = 12.0
    setups: str = "reduced"
    processes: int = 1

    def validate(self) -> None:
        if self.setups not in SETUPS:
            raise InputError(f"DFT setups {self.setups!r}: use one of {', '.join(SETUPS)}")
        if self.mode not in MODES:
            raise InputError(f"DFT mode {self.mode!r}: use one of {', '.join(MODES)}")
        if self.mode == "lcao" and self.basis not in BASES:
            raise InputError(f"DFT basis {self.basis!r}: use one of {', '.join(BASES)}")
        if self.xc not in ("PBE", "RPBE", "LDA", "PW91", "revPBE"):
            raise InputError(f"DFT functional {self.xc!r}: use PBE, RPBE, revPBE, PW91 or LDA")
        for name, lo, hi in (
            ("kpt_density", 0.0, 200.0),
            ("h", 0.08, 0.4),
            ("smearing_eV", 0.0, 1.0),
            ("timeout_s", 1.0, 1e6),
            ("gas_box", 6.0, 40.0),
            ("ecut", 200.0, 2000.0),
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and lo <= value <= hi):
                raise InputError(f"DFT {name} {value!r} out of range [{lo:g}, {hi:g}]")
        if not 1 <= int(self.processes) <= 256:
            raise InputError(f"DFT processes {self.processes!r} out of range [1, 256]")
        if not 10 <= int(self.maxiter) <= 10000:
            raise InputError(f"DFT maxiter {self.maxiter!r} out of range [10, 10000]")

    def key(self) -> dict:
        """What changes a DFT energy (timeout_s only bounds the work; processes only spreads it)."""
        d = asdict(self)
        d.pop("timeout_s")
        d.pop("processes")
        if d["mode"] != "pw":  # label sets made before plane waves existed keep their keys
            d.pop("ecut")
        else:  # the plane waves' grid follows from ecut (gpaw_worker)
            d.pop("h")
        if d["setups"] == "standard":  # label sets made before the setting existed keep their keys
            d.pop("setups")
        return d

    def setups_of(self, symbols) -> dict[str, str]:
        """GPAW's setups argument for these elements: {element: valence} of the reduced-valence ones used."""
        if self.setups == "standard":
            return {}
        return {e: REDUCED_VALENCE[e] for e in sorted(set(symbols)) if e in REDUCED_VALENCE}

    def kpts(self, atoms: Atoms) -> tuple[int, int, int]:
        """Monkhorst-Pack grid: from kpt_density along periodic directions, 1 elsewhere."""
        if self.kpt_density == 0:
            return (1, 1, 1)
        lengths = atoms.cell.lengths()
        return tuple(
            max(1, math.ceil(self.kpt_density / L - 1e-9)) if p and L > 0 else 1 for p, L in zip(atoms.pbc, lengths)
        )

    def describe(self) -> str:
        """One line: 'GPAW LCAO dzp, PBE, k-density 20 Å, h 0.2 Å, Fermi-Dirac 0.1 eV'."""
        basis = f" {self.basis}" if self.mode == "lcao" else f" {self.ecut:g} eV" if self.mode == "pw" else ""
        return (
            f"GPAW {self.mode.upper()}{basis}, {self.xc}, k-point density {self.kpt_density:g} Å, "
            f"grid {self.h:g} Å, Fermi-Dirac {self.smearing_eV:g} eV, spin-polarised with Mn/Fe/Co/Ni"
            + (
                ", reduced-valence PAW setups where gpaw-data has one (Pd.10, Pt.10, Rh.9, Ru.8, Ni.10, Ag.11, ...)"
                if self.setups == "reduced"
                else ", standard PAW setups"
            )
        )


@dataclass
class SinglePoint:
    """One DFT single point: status ("ok", "failed: reason", "timeout"), energy eV, total magnetic
    moment (Bohr magnetons), SCF iterations, wall-clock seconds (all attempts), GPAW version, and the density
    mixer of a second attempt (None: GPAW's default mixer on the first)."""

    status: str
    energy: float | None = None
    magmom: float | None = None
    iterations: int | None = None
    wall_s: float = 0.0
    gpaw: str | None = None
    mixer: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict:
        return asdict(self)


def is_spin_polarised(atoms: Atoms) -> bool:
    return any(s in INITIAL_MAGMOM for s in atoms.get_chemical_symbols())


def worker_job(atoms: Atoms, settings: DFTSettings) -> dict:
    """The JSON job of one single point (what :mod:`gpaw_worker` reads)."""
    spin = is_spin_polarised(atoms)
    slab = bool(atoms.pbc[0] and atoms.pbc[1] and not atoms.pbc[2])
    return {
        "numbers": atoms.numbers.tolist(),
        "positions": atoms.positions.tolist(),
        "cell": atoms.cell[:].tolist(),
        "pbc": [bool(p) for p in atoms.pbc],
        "magmoms": [INITIAL_MAGMOM.get(s, 0.0) for s in atoms.get_chemical_symbols()] if spin else None,
        "settings": {
            "mode": settings.mode,
            "basis": settings.basis,
            "xc": settings.xc,
            "kpts": list(settings.kpts(atoms)),
            "h": settings.h,
            "smearing_eV": settings.smearing_eV,
            "spin": spin,
            "maxiter": int(settings.maxiter),
            "dipole": slab,
            **({"ecut": float(settings.ecut)} if settings.mode == "pw" else {}),
            # only where one is used: single points made before the setting existed keep their uids
            **({"setups": reduced} if (reduced := settings.setups_of(atoms.get_chemical_symbols())) else {}),
        },
    }


def single_point_uid(atoms: Atoms, settings: DFTSettings) -> str:
    """Content hash of a single point: atoms (numbers, positions to 1e-4 Å, cell, pbc) and settings."""
    job = worker_job(atoms, settings)
    job["positions"] = np.round(np.asarray(job["positions"]) * 1e4).astype(np.int64).tolist()
    job["cell"] = np.round(np.asarray(job["cell"]) * 1e4).astype(np.int64).tolist()
    # the setups that apply are in the job: the setting's name alone must not split identical single points
    job["settings"] = {**job["settings"], **{k: v for k, v in settings.key().items() if k != "setups"}}
    return "d" + hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()[:23]


def _launcher(processes: int) -> list[str]:
    """The command prefix that runs the worker on processes MPI ranks (none for one)."""
    if processes <= 1:
        return []
    mpiexec = shutil.which("mpiexec")
    if mpiexec is None:
        raise SimulatorUnavailable("DFT: mpiexec not found (Debian's gpaw brings OpenMPI); run `make setup-dft`")
    return [mpiexec, "--oversubscribe", "--bind-to", "none", "-n", str(int(processes))]


def single_point(atoms: Atoms, settings: DFTSettings = DFTSettings()) -> SinglePoint:
    """GPAW energy of atoms in an isolated process within settings.timeout_s; never raises for SCF trouble.
    InterruptedError when the GPAW process is stopped from outside (SIGTERM, SIGINT, SIGHUP): no result to record.

    An SCF that does not converge within settings.maxiter is tried once more with :data:`DAMPED_MIXER` (its own
    timeout_s); the result then names that mixer (SinglePoint.mixer). The mixer changes the path to the
    self-consistent density, not the density, so it is not part of the settings key.
    """
    settings.validate()
    job = worker_job(atoms, settings)
    first = run_job(job, settings)
    if first.ok or first.status == "timeout" or "converge" not in first.status.lower():
        return first
    retry = run_job({**job, "settings": {**job["settings"], "mixer": DAMPED_MIXER}}, settings)
    retry.wall_s += first.wall_s
    retry.mixer = DAMPED_MIXER_NAME
    if not retry.ok:
        retry.status = f"{retry.status} (after a first SCF that did not converge)"
    return retry


def run_job(job: dict, settings: DFTSettings) -> SinglePoint:
    """One worker process on one JSON job (worker_job's), killed after settings.timeout_s."""
    python = dft_python()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="phenograd-dft-") as tmp:
        inp, out = Path(tmp, "job.json"), Path(tmp, "result.json")
        inp.write_text(json.dumps(job))
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        # OpenMPI refuses root (containers, CI) unless told twice
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        env.pop("PYTHONPATH", None)  # the worker must not see phenograd's environment's packages
        try:
            proc = subprocess.Popen(
                _launcher(settings.processes) + [python, str(WORKER), str(inp), str(out)],
                cwd=tmp,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise SimulatorUnavailable(f"DFT: cannot start {python} ({exc}); run `make setup-dft`") from None
        try:
            _, stderr = proc.communicate(timeout=settings.timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return SinglePoint("timeout", wall_s=time.perf_counter() - t0)
        finally:
            if proc.poll() is None:  # interrupted: leave no orphan GPAW running
                os.killpg(proc.pid, signal.SIGKILL)
        if not out.is_file():
            tail = " ".join(stderr.decode(errors="replace").split())[-300:]
            if "No module named 'gpaw'" in tail or "No module named gpaw" in tail:
                raise SimulatorUnavailable(f"DFT: GPAW is not importable by {python}; run `make setup-dft`")
            if proc.returncode in INTERRUPTING_SIGNALS:  # stopped from outside: not a result, so nothing is recorded
                raise InterruptedError(f"DFT: the GPAW process was stopped by signal {-proc.returncode}")
            return SinglePoint(
                f"failed: GPAW process exited {proc.returncode}: {tail or 'no output'}", wall_s=time.perf_counter() - t0
            )
        result = json.loads(out.read_text())
    return SinglePoint(
        result["status"],
        result.get("energy"),
        result.get("magmom"),
        result.get("iterations"),
        time.perf_counter() - t0,
        result.get("gpaw"),
    )


# ----------------------------------------------------------------------------- adsorption energies


def gas_molecule(name: str, box: float) -> Atoms:
    """ASE's g2 molecule centred in a cubic box of edge box (Å), not periodic (GPAW: zero boundaries)."""
    if name not in GAS_MOLECULES:
        raise InputError(f"gas reference {name!r}: use one of {', '.join(GAS_MOLECULES)}")
    m = molecule(name)
    m.set_cell([box, box, box])
    m.center()
    m.pbc = False
    return m


def chemical_potentials(gas: dict[str, float]) -> dict[str, float]:
    """mu_H, mu_O, mu_N, mu_C (eV) from E(H2), E(H2O), E(N2), E(CO) (OC20's scheme)."""
    mu_o = gas["H2O"] - gas["H2"]
    return {"H": gas["H2"] / 2, "O": mu_o, "N": gas["N2"] / 2, "C": gas["CO"] - mu_o}


def adsorbate_reference(symbols, mu: dict[str, float]) -> float:
    """Sum of mu_X over an adsorbate's atoms (eV); InputError for an element without a reference."""
    bad = [s for s in symbols if s not in mu]
    if bad:
        raise InputError(
            f"no gas reference for adsorbate element {bad[0]} (references: {', '.join(REFERENCE_ELEMENTS)})"
        )
    return float(sum(mu[s] for s in symbols))


def split_adslab(adslab: Atoms, clean_positions: np.ndarray | None = None) -> tuple[Atoms, list[str]]:
    """The clean slab of an adslab (tag-2 atoms removed; positions from clean_positions (M, 3) Å when
    given, i.e. the separately relaxed clean slab) and the adsorbate's symbols."""
    tags = adslab.get_tags()
    if not (tags == TAG_ADSORBATE).any():
        raise InputError("DFT adsorption energy: no adsorbate (no atom has tag 2)")
    slab = adslab[tags != TAG_ADSORBATE]
    slab.set_constraint()
    if clean_positions is not None:
        clean_positions = np.asarray(clean_positions, float)
        if clean_positions.shape != slab.positions.shape:
            raise InputError(
                f"clean slab positions {clean_positions.shape} do not match the slab's {slab.positions.shape}"
            )
        slab.positions = clean_positions
    return slab, adslab[tags == TAG_ADSORBATE].get_chemical_symbols()
