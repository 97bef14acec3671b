"""Where an airfoil surrogate has seen shapes: the range of each CST weight over its training shapes.

A design optimizer follows the surrogate wherever its gradients lead, including where the
training data is thin and the model extrapolates. The checkpoint keeps, per CST weight,
the 0.5th and 99.5th percentiles over the training shapes (meta["design_range"]); a design
with a weight outside that range is rare in the data, and the optimizer says so (its false-alarm
rate on real airfoils and why these percentiles: surrogate/models/README.md, "Measurements behind the defaults").

    .venv/bin/python -m phenograd.surrogate.design_range MODEL.pt DATA.db
records the range of DATA's training split in an existing checkpoint (atomically; weights untouched).
"""

from __future__ import annotations

import sys

import numpy as np

from phenograd.datasets.cst import CST_NAMES, N_CST

#: Share of the training shapes left out on each side of a weight's range.
TAIL = 0.005


def design_range(cst: np.ndarray, tail: float = TAIL) -> dict | None:
    """Per-weight range {"names", "low", "high" (18 each), "tail", "shapes"} of CST vectors (S, 18);
    rows with NaN (shapes without a CST fit) are skipped; None when fewer than 2 rows remain."""
    cst = np.asarray(cst, dtype=float).reshape(-1, N_CST)
    cst = cst[np.isfinite(cst).all(1)]
    if len(cst) < 2:
        return None
    low, high = np.quantile(cst, tail, axis=0), np.quantile(cst, 1.0 - tail, axis=0)
    return {"names": list(CST_NAMES), "low": low.tolist(), "high": high.tolist(), "tail": tail, "shapes": int(len(cst))}


def range_bounds(rng: dict | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(low, high), each (18,), of a recorded range; None when rng is None or malformed (a checkpoint
    written before ranges were recorded)."""
    try:
        low, high = np.asarray(rng["low"], dtype=float), np.asarray(rng["high"], dtype=float)
    except (TypeError, KeyError, ValueError):
        return None
    return (low, high) if low.shape == high.shape == (N_CST,) else None


def outside(cst, rng: dict | None) -> list[tuple[str, float, float, float]]:
    """(name, value, low, high) for each weight of one CST design (18,) outside rng; [] without a valid range."""
    bounds = range_bounds(rng)
    if bounds is None:
        return []
    low, high = bounds
    x = np.asarray(cst, dtype=float).reshape(N_CST)
    return [
        (CST_NAMES[i], float(x[i]), float(low[i]), float(high[i]))
        for i in range(N_CST)
        if x[i] < low[i] or x[i] > high[i]
    ]


def design_warning(cst, rng: dict | None, what: str = "optimum") -> str | None:
    """One warning line naming the weights of `cst` outside the surrogate's training range, or None."""
    out = outside(cst, rng)
    if not out:
        return None
    share = 100.0 * (1.0 - 2.0 * float(rng.get("tail", TAIL)))
    items = ", ".join(f"{n} {v:+.3f} (range {lo:+.3f} to {hi:+.3f})" for n, v, lo, hi in out)
    return (
        f"{what}: CST weight{'s' if len(out) > 1 else ''} outside the central {share:g} % of the surrogate's "
        f"training shapes: {items}; its predictions there are extrapolations, so verify (XFOIL) before "
        "trusting them"
    )


def record_in_checkpoint(model_path: str, data_path: str) -> dict:
    """Compute the range over DATA's training split and store it in MODEL's meta (atomic rewrite)."""
    from pathlib import Path

    from phenograd.core.errors import InputError

    from .airfoil_data import load_airfoil_points
    from .model import load_checkpoint, read_torch_file, save_torch_atomic

    _, info = load_checkpoint(model_path, domain="airfoil")
    data = load_airfoil_points(data_path)
    if info["data_hash"] and data.data_hash != info["data_hash"]:
        raise InputError(
            f"{data_path}: data hash {data.data_hash} is not the model's training data ({info['data_hash']})"
        )
    rng = design_range(data.cst[data.shapes_in("train")])
    if rng is None:
        raise InputError(f"{data_path}: fewer than 2 training shapes with a CST fit")
    payload = read_torch_file(Path(model_path), "model")  # weights_only, like load_checkpoint: tensors and data
    payload["meta"]["design_range"] = rng
    save_torch_atomic(model_path, payload)
    return rng


def main(argv=None) -> int:
    from phenograd.core.errors import InputError

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m phenograd.surrogate.design_range MODEL.pt DATA.db", file=sys.stderr)
        return 2
    try:
        rng = record_in_checkpoint(*args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args[0]}: design range of {rng['shapes']} training shapes recorded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
