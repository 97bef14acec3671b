"""Screening prediction rate: clean slabs shared by every adsorbate and site, against evaluating every row.

Every path gives the surrogate's own numbers (the largest difference is printed). The shared path
(``FrameEvaluator.clean_slabs`` + ``predict_on``) encodes each decorated slab once and recomputes per candidate only
the slab atoms within reach of the adsorbate, in calls of one frame or of many frames of one shape; the other
evaluates all S + Q rows of every candidate (``FrameEvaluator.predict`` with ``shares_slabs`` off). Rates are
candidates per second of ``predict_enumeration`` on one torch thread, medians of ``--repeats`` runs that alternate
the three paths, with the frame cache cleared before each run.

    .venv/bin/python -m benchmarks.screen_throughput [--model M.pt ...] [--repeats 3] [--no-write]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from phenograd.optimize.frames import FrameEvaluator
from phenograd.optimize.screen import predict_enumeration
from phenograd.optimize.space import enumerate_space, parse_space
from phenograd.surrogate.predict import load_surrogate

from .report import machine, publish, today
from .screening import space_dict

TITLE = "Catalyst screening: prediction rate with shared clean slabs"


class EveryRow(FrameEvaluator):
    """The evaluator without sharing: every row of every candidate is evaluated."""

    shares_slabs = False


def spaces() -> dict[str, dict]:
    """The screening benchmark's space (O on fcc/hcp), and the same metals at step 1/4 with six adsorbates."""
    one = space_dict(False)
    six = space_dict(False)
    six["adsorbates"] = ["C", "CO", "H", "N", "O", "OH"]
    six["compositions"] = {"n_metals": [1, 2], "step": 0.25}
    return {"O, fcc + hcp, step 1/8 (the screening benchmark's space)": one, "6 adsorbates, fcc + hcp, step 1/4": six}


def rate(evaluator: FrameEvaluator, enum, max_frames: int = 32) -> tuple[float, np.ndarray]:
    evaluator._cache.clear()
    t0 = time.perf_counter()
    mean, _ = predict_enumeration(evaluator, enum, max_frames=max_frames)
    return len(enum.candidates) / (time.perf_counter() - t0), mean


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", help="catalyst checkpoint (repeatable; default the shipped model)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = ap.parse_args()
    models = args.model or ["surrogate/models/catalyst.pt"]
    load, when = machine(), today()
    rows = []
    for space_name, raw in spaces().items():
        enum = enumerate_space(parse_space(raw, "benchmark space"))
        for path in models:
            surrogate = load_surrogate(path, domain="catalyst")
            hidden = surrogate.ensemble.members[0].encoder.config["hidden"]
            layers = surrogate.ensemble.members[0].encoder.config["n_layers"]
            shared, dense = FrameEvaluator(surrogate), EveryRow(surrogate)
            predict_enumeration(shared, enum)  # warm the allocator
            rates: dict[str, list[float]] = {"shared": [], "dense": [], "per frame": []}
            diff = 0.0
            for _ in range(args.repeats):
                r_dense, m_dense = rate(dense, enum)
                r_frame, m_frame = rate(shared, enum, max_frames=1)
                r_shared, m_shared = rate(shared, enum)
                rates["dense"].append(r_dense)
                rates["per frame"].append(r_frame)
                rates["shared"].append(r_shared)
                diff = max(diff, float(np.abs(m_dense - m_shared).max()), float(np.abs(m_dense - m_frame).max()))
            med = {k: statistics.median(v) for k, v in rates.items()}
            rows.append(
                f"| {space_name} | {len(enum.candidates)} | `{path}` (hidden {hidden}, "
                f"{layers} layers, {len(surrogate.ensemble.members)} members) | {med['dense']:.0f} | "
                f"{med['per frame']:.0f} | {med['shared']:.0f} | {med['shared'] / med['dense']:.2f}x | {diff:.1e} |"
            )
            print(rows[-1], flush=True)
    model_args = " ".join(f"--model {m}" for m in models) if args.model else ""
    body = "\n".join(
        [
            f"`.venv/bin/python -m benchmarks.screen_throughput {model_args} --repeats {args.repeats}`".replace(
                "  ", " "
            )
            + f" ({when}; {load}).",
            "",
            "Candidates per second of `predict_enumeration` (1 torch thread, medians of "
            f"{args.repeats} alternating runs). 'Every row': each candidate's S + Q atoms through every layer. "
            "'Shared': each decorated slab encoded once, then per candidate only the slab atoms within reach of "
            "the adsorbate (one hop for 2 and 3 layers), in calls of one frame ('per frame') or of up to 32 frames "
            "of one shape ('across frames', the default). Speed-up: across frames against every row.",
            "",
            "| space | candidates | model | every row (/s) | shared, per frame (/s) | shared, across frames (/s) "
            "| speed-up | largest difference (eV) |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    publish(TITLE, body, write=not args.no_write)


if __name__ == "__main__":
    main()
