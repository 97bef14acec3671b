"""GPAW single point in its own process: ``python3 gpaw_worker.py INPUT.json OUTPUT.json``.

Runs under the interpreter that has GPAW (Debian's python3), not phenograd's environment, so it
imports only the standard library, NumPy, ASE and GPAW, and reads plain JSON (no pickles):

    {"numbers": [...], "positions": [[x, y, z], ...] (Å), "cell": [[...] x 3] (Å), "pbc": [b, b, b],
     "magmoms": [...] or null, "settings": {"mode": "lcao", "basis": "dzp", "xc": "PBE", "kpts": [k1, k2, k3],
     "h": 0.2 (not in pw mode), "ecut": 400.0 (pw mode only), "smearing_eV": 0.1, "spin": bool, "maxiter": 300,
     "dipole": bool, "setups": {"Pd": "10", ...},
     "mixer": {"method": "sum", "beta": 0.02, ...} (optional)}}

and writes ``{"status": "ok", "energy": E (eV), "magmom": M, "iterations": n, "wall_s": t, "gpaw": version}``
or ``{"status": "failed: reason", ...}`` to OUTPUT.json (written to a temporary name, then renamed).
"""

import json
import os
import sys
import time


def _write(path, payload):
    try:
        from gpaw.mpi import world  # under mpiexec every rank has the result; rank 0 writes it
    except ImportError:
        world = None
    if world is not None and world.rank != 0:
        return
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(payload, f)
    os.replace(tmp, path)


def main(argv):
    inp, out = argv[1], argv[2]
    t0 = time.time()
    with open(inp) as f:
        job = json.load(f)
    s = job["settings"]
    try:
        import gpaw
        from ase import Atoms
        from gpaw import GPAW, FermiDirac

        atoms = Atoms(numbers=job["numbers"], positions=job["positions"], cell=job["cell"], pbc=job["pbc"])
        if s.get("spin") and job.get("magmoms") is not None:
            atoms.set_initial_magnetic_moments(job["magmoms"])
        kwargs = dict(
            mode=s["mode"],
            xc=s["xc"],
            kpts=tuple(s["kpts"]),
            h=s["h"],
            occupations=FermiDirac(s["smearing_eV"]),
            spinpol=bool(s.get("spin")),
            maxiter=int(s["maxiter"]),
            txt="gpaw.txt",
        )
        if s["mode"] == "lcao":
            kwargs["basis"] = s["basis"]
        if s["mode"] == "pw":
            from gpaw import PW

            kwargs["mode"] = PW(float(s["ecut"]))
            del kwargs["h"]  # GPAW sizes the grid to hold the plane waves' density; a coarser h aliases it
        if s.get("dipole"):
            kwargs["poissonsolver"] = {"dipolelayer": "xy"}
        if s.get("setups"):
            kwargs["setups"] = {str(k): str(v) for k, v in s["setups"].items()}
        if s.get("mixer"):  # GPAW's mixer keywords: method, beta, history, weight
            kwargs["mixer"] = {str(k): v for k, v in s["mixer"].items()}
        atoms.calc = GPAW(**kwargs)
        energy = float(atoms.get_potential_energy())
        try:
            iterations = int(atoms.calc.scf.niter)
        except AttributeError:
            iterations = None
        magmom = float(atoms.calc.get_magnetic_moment()) if s.get("spin") else 0.0
        _write(
            out,
            {
                "status": "ok",
                "energy": energy,
                "magmom": magmom,
                "iterations": iterations,
                "wall_s": time.time() - t0,
                "gpaw": gpaw.__version__,
            },
        )
    except Exception as exc:  # an SCF that does not converge raises; record why
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        _write(out, {"status": f"failed: {reason}", "wall_s": time.time() - t0})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
