"""The DFT label set with each adsorbate-slab row's atoms replaced by its initial (unrelaxed) structure.

The DFT rows store the geometry the potential relaxed, but the catalyst surrogates learn IS2RE-direct: initial
structure -> relaxed E_ads. This writes a copy of the label set whose adslab rows hold the structure the
potential's winning placement started from (``datasets.catalyst_dft.initial_adslab``), labels unchanged, so that a
surrogate is fine-tuned and scored on the DFT rows with the task it was trained for:

    .venv/bin/python -m benchmarks.dft_initial --dft data/catalyst_dft_v1.db --out /tmp/dft_initial.db
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ase.db import connect
from ase.geometry import find_mic

from phenograd.core.errors import InputError
from phenograd.datasets.catalyst_dft import initial_adslab


def write_initial(source: Path, out: Path) -> tuple[int, int]:
    """Copy source to out (written beside it, then renamed: no half-written file), adslab rows with status ok
    holding their initial structures. Returns (rows replaced, rows copied as they were)."""
    src = connect(source)
    tmp = out.with_name(out.stem + ".partial.db")
    tmp.unlink(missing_ok=True)
    replaced = kept = 0
    with connect(tmp, type="db", append=False) as dst:
        for row in src.select(sort="id"):
            atoms = row.toatoms()
            if row.get("kind") == "adslab" and row.get("status") == "ok":
                start = initial_adslab(src, row)
                if start.get_chemical_symbols() != atoms.get_chemical_symbols():
                    raise InputError(f"adslab row {row.uid}: the rebuilt initial structure has other atoms")
                moved = float(find_mic(start.positions - atoms.positions, atoms.cell, atoms.pbc)[1].max())
                atoms = start
                replaced += 1
                dst.write(atoms, key_value_pairs={**row.key_value_pairs, "relaxation_max_shift": moved}, data=row.data)
            else:
                kept += 1
                dst.write(atoms, key_value_pairs=row.key_value_pairs, data=row.data)
    dst = connect(tmp, type="db")
    dst.metadata = src.metadata
    os.replace(tmp, out)
    return replaced, kept


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dft", type=Path, default=Path("data/catalyst_dft_v1.db"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if not args.dft.is_file():
        parser.error(f"{args.dft}: no such DFT label set")
    if args.out.resolve() == args.dft.resolve():
        parser.error("--out must differ from --dft")
    try:
        replaced, kept = write_initial(args.dft, args.out)
    except InputError as exc:
        parser.exit(2, f"dft_initial: error: {exc}\n")
    print(f"{args.out}: {replaced} adslab rows hold their initial structures, {kept} rows copied as they were")
    return 0


if __name__ == "__main__":
    sys.exit(main())
