"""Airfoil surrogate throughput (issue 31): the fixed-topology fast path beside the graph path and NeuralFoil, one run.

    .venv/bin/python -m benchmarks.airfoil_throughput [--reps 5] [--shapes 64] [--angles 16] [--model M.pt]
        [--compare LABEL=M.pt] [--no-write]

One torch thread. The shipped model (or --model; --compare: another one's fast path timed alongside) through
`AirfoilSurrogate(fast=True)` (encoder.StackedEncoders on the contour graph's fixed topology, members and heads
batched; the default), the same with `compile=True` (the encoder's pass through torch.compile; its first call per
case, compilation included, is timed apart) and `fast=False` (the torch_geometric graph path, members one after
another), and NeuralFoil 0.3.3 (NumPy) large and xxxlarge on the same CST shapes.
Cases: --shapes CST shapes x --angles angles without gradients; the same with the gradient of sum(CL) + sum(CD)
with respect to the CST weights (phenograd only: NeuralFoil is NumPy); one shape at one angle (latency). Every
case runs all its variants alternately, rep by rep, after a warm-up; medians of --reps are quoted, and their
ratios (the machine is shared with background simulations, so absolute rates move with its load, ratios less).
Also where the fast path's time goes (node building, encoder, heads) and the encoder's arithmetic rate beside
that of a batched matmul of the same shapes timed in the same run. Writes the section "Airfoil surrogate
throughput" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from benchmarks.hotspots import side_by_side
from benchmarks.report import labelled_path, machine, one_thread, publish, today

NEURALFOIL_SIZES = ("large", "xxxlarge")


def phenograd_cases(model, cst: torch.Tensor, alphas: list[float], grad: bool):
    def run():
        if grad:
            p = cst.clone().requires_grad_(True)
            out = model.predict_airfoil(p, alpha=alphas, reynolds=1e6)
            (out["CL"].sum() + out["CD"].sum()).backward()
        else:
            with torch.no_grad():
                model.predict_airfoil(cst, alpha=alphas, reynolds=1e6)

    return run


def neuralfoil_case(cst: torch.Tensor, alphas: list[float], size: str):
    import neuralfoil as nf

    per_point = cst.repeat_interleave(len(alphas), 0).double().numpy()
    kulfan = {
        "upper_weights": per_point[:, :8].T,
        "lower_weights": per_point[:, 8:16].T,  # (8, batch)
        "leading_edge_weight": per_point[:, 16],
        "TE_thickness": per_point[:, 17],
    }
    alpha = np.tile(alphas, len(cst))
    re = np.full(len(alpha), 1e6)
    return lambda: nf.get_aero_from_kulfan_parameters(kulfan, alpha=alpha, Re=re, model_size=size)


def breakdown(model, cst: torch.Tensor, alphas: list[float], reps: int) -> dict:
    """Median seconds of the fast path's stages without gradients: nodes, encoder, heads."""
    from phenograd.surrogate.predict import airfoil_topology

    members = len(model.ensemble.members)
    topology = airfoil_topology(model.stations)
    with torch.no_grad():
        pos, x = model.nodes(cst)
        encoders, _ = model.stacked()
        # what the heads read: the pooled embedding, with the station y values where they take them
        emb = model.embedding_of_nodes(pos, x)
        return side_by_side(
            {
                "nodes (vectorised CST -> contour graph nodes)": lambda: model.nodes(cst),
                f"encoder ({members} members stacked)": lambda: encoders(pos[..., :2], x, topology),
                f"heads ({members} members stacked)": lambda: model.predict_from_embedding(emb, alphas, 1e6),
            },
            reps,
        )


def describe(model) -> str:
    """'5 members x 2 layers x 65 nodes, hidden 64' of an AirfoilSurrogate."""
    enc = model.ensemble.members[0].encoder.config
    return (
        f"{len(model.ensemble.members)} members x {enc['n_layers']} layers x {2 * model.stations - 1} nodes, "
        f"hidden {enc['hidden']}"
    )


def encoder_flops(config: dict, members: int, topology) -> float:
    """Multiply-add FLOPs of the fast path's encoder per shape: the linear layers (phi, filters once per pair,
    U and V on 2 vector components, the update MLP), all members; elementwise work left out."""
    f, r, n, pairs = config["hidden"], config["n_rbf"], topology.n_nodes, topology.n_pairs + 1
    per_layer = n * (f * f + f * 3 * f) * 2 + pairs * (r + 1) * 3 * f * 2
    per_layer += n * (2 * f * 2 * f * 2 + (2 * f * f + f * 3 * f) * 2)
    return float(per_layer * config["n_layers"] * members)


def matmul_rate(reps: int) -> float:
    """FLOP/s of a batched float32 matmul shaped like the encoder's ((5, 8256, 64) x (5, 64, 192)) on this machine
    now: the arithmetic rate the encoder can reach at best."""
    a, b = torch.randn(5, 8256, 64), torch.randn(5, 64, 192)
    t = side_by_side({"bmm": lambda: torch.bmm(a, b)}, reps)["bmm"]
    return 5 * 8256 * 64 * 192 * 2 / t


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="timed repeats per variant (median quoted)")
    parser.add_argument("--shapes", type=int, default=64)
    parser.add_argument("--angles", type=int, default=16)
    parser.add_argument("--model", default=None, help="airfoil checkpoint (default: the shipped model)")
    parser.add_argument(
        "--compare", default=None, metavar="LABEL=MODEL.pt", help="another checkpoint timed in the same run (fast path)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    threads = one_thread()
    from phenograd.datasets.airfoil_sampling import training_cst
    from phenograd.surrogate.predict import AirfoilSurrogate, load_surrogate

    options = (("reps", args.reps), ("shapes", args.shapes), ("angles", args.angles))
    options += tuple((k, v) for k, v in (("model", args.model), ("compare", args.compare and f'"{args.compare}"')) if v)
    command = "python -m benchmarks.airfoil_throughput" + "".join(f" --{k} {v}" for k, v in options)
    started, where = today(), machine()
    shipped = load_surrogate(args.model, domain="airfoil")
    fast = AirfoilSurrogate(shipped.ensemble, shipped.info, fast=True)
    compiled = AirfoilSurrogate(shipped.ensemble, shipped.info, fast=True, compile=True)
    graph = AirfoilSurrogate(shipped.ensemble, shipped.info, fast=False)
    previous, label, previous_path = None, "", ""
    if args.compare:
        label, previous_path = labelled_path(args.compare, parser)
        previous = load_surrogate(previous_path, domain="airfoil")
    cst = torch.as_tensor(training_cst().params[: args.shapes], dtype=torch.float32)
    alphas = [float(a) for a in np.linspace(-4.0, 11.0, args.angles)]
    cases = {
        f"{len(cst)} shapes x {len(alphas)} angles, no gradients": (cst, alphas, False, True),
        f"{len(cst)} shapes x {len(alphas)} angles, gradient w.r.t. the CST weights": (cst, alphas, True, False),
        "1 shape x 1 angle (latency), no gradients": (cst[:1], [4.0], False, True),
        "1 shape x 1 angle (latency), gradient w.r.t. the CST weights": (cst[:1], [4.0], True, False),
    }
    results, first_call = {}, {}
    for name, (shapes, angles, grad, peers) in cases.items():
        fns = {
            "phenograd fast path, compiled": phenograd_cases(compiled, shapes, angles, grad),
            "phenograd fast path": phenograd_cases(fast, shapes, angles, grad),
            "phenograd graph path": phenograd_cases(graph, shapes, angles, grad),
        }
        if previous is not None:
            fns[f"{label} fast path"] = phenograd_cases(previous, shapes, angles, grad)
        if peers:
            fns.update({f"NeuralFoil {s}": neuralfoil_case(shapes, angles, s) for s in NEURALFOIL_SIZES})
        first_call[name] = side_by_side({"first": fns["phenograd fast path, compiled"]}, 1)["first"]
        for fn in fns.values():
            fn()  # warm-up
        results[name] = (len(shapes) * len(angles), side_by_side(fns, args.reps))
        print(name, {k: f"{v * 1e3:.2f} ms" for k, v in results[name][1].items()}, flush=True)
    stages = breakdown(fast, cst, alphas, args.reps)
    from phenograd.surrogate.predict import airfoil_topology

    flops = encoder_flops(shipped.info["encoder"], len(shipped.ensemble.members), airfoil_topology(shipped.stations))
    rate = matmul_rate(args.reps)
    lines = [
        f"Command: `{command}`  ",
        f"Date: {started}  ",
        f"Machine: {where}; {threads}.  ",
        f"Model: `{args.model or 'surrogate/models/airfoil.pt'}` ({describe(shipped)}), through "
        "`AirfoilSurrogate(fast=True)` (the default: the fixed-topology path, encoder.StackedEncoders, members and "
        "heads batched, nodes of all CST vectors in one call), the same with `compile=True` (the encoder's pass "
        "through torch.compile, inductor) and `fast=False` (the torch_geometric graph path, members one after "
        "another); the three agree to float rounding (tests/test_golden.py, tests/test_fast_airfoil.py). "
        "NeuralFoil 0.3.3 (NumPy) on the same CST parameters, one call per batch."
        + (f" {label}: `{previous_path}` ({describe(previous)}), its fast path." if previous else ""),
        "",
        f"Medians of {args.reps} alternating repeats after a warm-up; predictions per second = shapes x angles / "
        "median seconds; ratios are of medians from the same run.",
        "",
        "| case | phenograd fast path, compiled | phenograd fast path | phenograd graph path | "
        + (f"{label} fast path | " if previous else "")
        + "NeuralFoil large | NeuralFoil xxxlarge | compiled / fast | fast / graph | "
        + (f"fast / {label} | " if previous else "")
        + "compiled / NeuralFoil large | compiled / NeuralFoil xxxlarge | fast / NeuralFoil xxxlarge |",
        "|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if previous else ""),
    ]

    def cell(n, t):
        if t is None:
            return "n/a (NumPy)"
        return f"{n / t:,.0f}/s ({t * 1e3:.1f} ms)"

    for name, (n, t) in results.items():
        c, f, g = t["phenograd fast path, compiled"], t["phenograd fast path"], t["phenograd graph path"]
        nl, nx = t.get("NeuralFoil large"), t.get("NeuralFoil xxxlarge")
        ratio = lambda a, b: f"{b / a:.2f}x" if b is not None else "-"  # noqa: E731
        prev = t.get(f"{label} fast path")
        lines.append(
            f"| {name} | {cell(n, c)} | {cell(n, f)} | {cell(n, g)} | "
            + (f"{cell(n, prev)} | " if previous else "")
            + f"{cell(n, nl)} | {cell(n, nx)} | {ratio(c, f)} | {ratio(f, g)} | "
            + (f"{ratio(f, prev)} | " if previous else "")
            + f"{ratio(c, nl)} | {ratio(c, nx)} | {ratio(f, nx)} |"
        )
    lines += [
        "",
        "The compiled variant's first call in each case (torch.compile's compilation, then one pass; inductor keeps "
        "its kernels on disk, so a later process compiles faster): "
        + "; ".join(f"{name}: {t:.1f} s" for name, t in first_call.items())
        + ".",
    ]
    total = sum(stages.values())
    lines += [
        "",
        f"Where the fast path's time goes ({len(cst)} shapes x {len(alphas)} angles, no gradients, medians, "
        "stages timed alone):",
        "",
        "| stage | ms | share |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {v * 1e3:.1f} | {v / total:.0%} |" for k, v in stages.items()]
    encoder_s = next(v for k, v in stages.items() if k.startswith("encoder"))
    achieved = flops * len(cst) / encoder_s
    n, times = results[next(iter(results))]
    per_shape, per_nf_point = times["phenograd fast path"] / len(cst), times["NeuralFoil xxxlarge"] / n
    lines += [
        "",
        f"Arithmetic: the encoder's linear layers cost {flops / 1e6:.0f} MFLOP per shape ({describe(shipped)}); at {len(cst)} shapes the encoder ran at {achieved / 1e9:.1f} GFLOP/s, "
        f"{achieved / rate:.0%} of the {rate / 1e9:.1f} GFLOP/s of a batched matmul of the same shapes timed in "
        f"this run. One shape through the fast path takes as long as {per_shape / per_nf_point:,.0f} "
        "NeuralFoil xxxlarge points.",
    ]
    publish("Airfoil surrogate throughput", "\n".join(lines), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
