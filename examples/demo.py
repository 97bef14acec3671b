"""phenograd demo: XFOIL polars of a NACA section and a real UIUC airfoil, plotted and tabulated.

    python examples/demo.py --out demo_out      (what `make demo` runs)

Writes demo_out/polars.png and demo_out/summary.md and prints a short table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from phenograd import XfoilSettings, naca, parse_alpha_spec, real_airfoils, run_polar  # noqa: E402

REAL_AIRFOIL = "e387"  # Eppler 387: a classic low-Reynolds section with wind-tunnel data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo_out", help="report folder (default demo_out)")
    parser.add_argument("--re", type=float, default=1e6, help="Reynolds number (default 1e6)")
    parser.add_argument("--alpha", default="-4:14:1", help="angles in degrees (default -4:14:1)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    foils = {"NACA 2412": naca("2412")}
    real = {f.name: f for f in real_airfoils("all")}
    foils[f"{REAL_AIRFOIL} (UIUC, {real[REAL_AIRFOIL].split})"] = real[REAL_AIRFOIL].coordinates
    alphas = parse_alpha_spec(args.alpha)
    settings = XfoilSettings(reynolds=args.re)

    polars = {}
    for name, coords in foils.items():
        t0 = time.perf_counter()
        polars[name] = run_polar(coords, alphas, settings, name=name)
        print(f"{name}: XFOIL polar of {len(alphas)} angles in {time.perf_counter() - t0:.2f} s "
              f"({polars[name].n_converged} converged)")

    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    for name, coords in foils.items():
        pts = [p for p in polars[name].points if p.converged]
        a = [p.alpha for p in pts]
        axes[0].plot(coords[:, 0], coords[:, 1], label=name)
        axes[1].plot(a, [p.CL for p in pts], "o-", ms=3, label=name)
        axes[2].plot([p.CD for p in pts], [p.CL for p in pts], "o-", ms=3, label=name)
        axes[3].plot(a, [p.CL / p.CD for p in pts], "o-", ms=3, label=name)
    axes[0].set(aspect="equal", xlabel="x/c", ylabel="y/c", title="shape")
    axes[1].set(xlabel="alpha [deg]", ylabel="CL", title="lift curve")
    axes[2].set(xlabel="CD", ylabel="CL", title="drag polar")
    axes[3].set(xlabel="alpha [deg]", ylabel="CL/CD", title="lift-to-drag")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend()
    fig.suptitle(f"XFOIL, Re {args.re:.2g}, Ncrit {settings.ncrit:g}, {settings.n_panels} panels")
    fig.tight_layout()
    fig.savefig(out / "polars.png", dpi=110)

    lines = [f"# phenograd demo: XFOIL polars at Re {args.re:.3g}", "",
             "| airfoil | CL at 0 deg | CLmax (alpha) | max CL/CD (alpha) | min CD |", "|---|---|---|---|---|"]
    for name, polar in polars.items():
        pts = [p for p in polar.points if p.converged]
        cl0 = next((p.CL for p in pts if p.alpha == 0), float("nan"))
        pmax = max(pts, key=lambda p: p.CL)
        pld = max(pts, key=lambda p: p.CL / p.CD)
        cdmin = min(p.CD for p in pts)
        lines.append(f"| {name} | {cl0:.4f} | {pmax.CL:.3f} ({pmax.alpha:g}) | {pld.CL / pld.CD:.1f} ({pld.alpha:g}) | {cdmin:.5f} |")
    lines += ["", "![polars](polars.png)", ""]
    (out / "summary.md").write_text("\n".join(lines))
    print("\n".join(lines[2:-3]))
    print(f"\nreport: {out / 'summary.md'}, plot: {out / 'polars.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
