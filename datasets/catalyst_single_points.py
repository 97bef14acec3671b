"""Single points of a potential on unlabelled catalyst structures: cheap labels for pretraining the encoder.

A single point (energy and forces at the stored positions, no relaxation) of CHGNet costs about 0.06 s of one core on
a v2 structure (median over the release's 6,393 pretraining structures), against 8.4 s on average (median 3.9 s) for
the relaxation behind one E_ads label of the release (its rows' `wall_s`): some 150 single points for the price of
one label. Pretraining the encoder to reproduce them (surrogate/pretrain.py, objective "potential") is supervised by
the cheap end of the same potential, not self-supervised.

Input: an unlabelled ase.db (`phenograd data unlabelled`) or a labelled catalyst dataset, of which only the adsorbate
+ slab *initial* structures that pretraining may see are taken (split not held out, slab not holding both metals of
datasets.catalyst.OOD_PAIR), in row order. Output: an unlabelled ase.db (the same kind, so `phenograd pretrain` reads
it) whose rows carry the potential's energy (eV) and forces (eV/Å) and the source row's unique id; its metadata names
the potential (calculators.calculator_info).

Resumable: rows are written one per transaction, and a rerun skips the source structures already present, so a
killed run loses at most the structure it was computing and computes nothing twice. A rerun with another potential
is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from phenograd.core.errors import InputError, one_line

from .catalyst import HELD_OUT_SPLITS, OOD_PAIR
from .catalyst_info import UNLABELLED_KIND, metadata_kind
from .catalyst_store import CatalystStore

SOURCE_KEY = "source_uid"
# What a row keeps of its source's keys: where the structure came from, never a label of the relaxation.
DESCRIPTIVE_KEYS = (
    "protocol",
    "facet",
    "crystal",
    "decoration",
    "composition",
    "metals",
    "n_metals",
    "split",
    "slab_uid",
    "adsorbate",
    "site",
    "n_adsorbates",
    "seed",
    "index",
)


def pretraining_rows(source, relaxed_only: bool = False) -> tuple[list, int]:
    """(the ase.db rows of `source` that pretraining may see, in row order; how many were skipped as held out).

    All rows of an unlabelled file; of a labelled dataset, the adsorbate + slab rows (relaxed_only: of status "ok")
    outside the held-out splits. In both, slabs holding both metals of OOD_PAIR are skipped."""
    from ase.db import connect

    p = Path(source)
    if not p.is_file():
        raise InputError(f"{p}: no such data file")
    if metadata_kind(p) == UNLABELLED_KIND:
        rows = list(connect(str(p), type="db").select(sort="id"))
        skipped = 0
    else:
        db = CatalystStore.open_readonly(p).db  # checks kind and version
        every = list(db.select(kind="adslab", sort="id", **({"status": "ok"} if relaxed_only else {})))
        rows = [r for r in every if r.get("split") not in HELD_OUT_SPLITS]
        skipped = len(every) - len(rows)
    keep = [r for r in rows if not set(OOD_PAIR) <= set(r.symbols)]
    return keep, skipped + len(rows) - len(keep)


def _open_output(out: Path, info: dict, source: Path):
    from ase.db import connect

    if out.exists():
        if metadata_kind(out) != UNLABELLED_KIND:
            raise InputError(f"{out}: exists and is not an unlabelled catalyst file; choose another --out")
        db = connect(str(out), type="db", use_lock_file=False)
        had = db.metadata.get("single_points")
        if had is None or had.get("spec") != info["spec"]:
            name = had.get("name") if had else "no potential"
            raise InputError(f"{out}: holds single points of {name}, not {info['name']}; choose another --out")
        return db
    db = connect(str(out), type="db", use_lock_file=False)
    db.metadata = {"kind": UNLABELLED_KIND, "single_points": info, "source": source.name}
    return db


def write_single_points(source, out, calculator: str = "chgnet", limit: int | None = None, progress: bool = False):
    """Label the pretraining structures of `source` with the potential's single points into `out` (resumable).

    Args:
        source: an unlabelled ase.db or a labelled catalyst dataset (module docstring: which rows).
        out: the ase.db to write or extend (.db).
        calculator: the potential's spec (calculators.get_calculator: "chgnet", "sevennet", "emt", ...).
        limit: at most this many structures of the source (the first ones).
        progress: show a progress bar.

    Returns: {"out", "structures", "already_present", "written", "seconds_per_structure" (median, s)}.
    """
    import time

    from ase.calculators.singlepoint import SinglePointCalculator

    from phenograd.simulators.calculators import calculator_info, get_calculator

    src, out = Path(source), Path(out)
    if out.suffix != ".db":
        raise InputError(f"{out}: single points are written to an ase.db (.db) file")
    if not out.parent.exists():
        raise InputError(f"{out}: folder {out.parent} does not exist")
    if out.resolve() == src.resolve():
        raise InputError(f"{out}: the output must not be the source file")
    if limit is not None and limit < 0:
        raise InputError(f"limit must be >= 0, got {limit}", parameter="limit")
    rows = pretraining_rows(src)[0][:limit]
    info = calculator_info(calculator)
    db = _open_output(out, info, src)
    done = {r.get(SOURCE_KEY) for r in db.select(include_data=False)}
    todo = [r for r in rows if r.unique_id not in done]
    calc = get_calculator(calculator) if todo else None
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=f"single points ({info['name']})", unit="structure")
    seconds = []
    for r in todo:
        atoms = r.toatoms()
        atoms.calc = calc
        t0 = time.perf_counter()
        try:
            energy = float(atoms.get_potential_energy())
            forces = np.asarray(atoms.get_forces(apply_constraint=False), float)  # fixed atoms feel forces too
        except Exception as exc:  # the potential's own failure on one structure: name it, keep what is written
            raise InputError(f"{src}: row {r.id} ({r.formula}): {info['name']} failed ({one_line(exc)})") from None
        seconds.append(time.perf_counter() - t0)
        if not np.isfinite(energy) or not np.all(np.isfinite(forces)):
            raise InputError(f"{src}: row {r.id} ({r.formula}): {info['name']} gave a non-finite energy or force")
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        keep = {k: v for k, v in r.key_value_pairs.items() if k in DESCRIPTIVE_KEYS}
        db.write(atoms, key_value_pairs={**keep, SOURCE_KEY: r.unique_id})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return {
        "out": os.fspath(out),
        "structures": len(rows),
        "already_present": len(rows) - len(todo),
        "written": len(todo),
        "seconds_per_structure": float(np.median(seconds)) if seconds else None,
    }
