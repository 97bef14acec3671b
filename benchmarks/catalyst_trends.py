"""Sanity of the catalyst ground truths against known chemistry: O, H and OH on the close-packed facet of
every pure v2 metal, by each universal potential (and EMT where it has parameters), side by side.

    .venv/bin/python -m benchmarks.catalyst_trends [--calculators chgnet sevennet emt] [--metals ...]
        [--adsorbates O H OH] [--placements 2] [--no-write]

Each system is the v2 protocol's cell (2x2 of the close-packed facet, four layers, bottom two fixed) relaxed
with BFGS to 0.05 eV/Å; its E_ads is the AdsorbML minimum over the first `placements` symmetry-distinct sites
(hollows first: the preferred sites of O, H and OH on close-packed metals). Results are appended to
benchmarks/results/catalyst_trends.jsonl as each finishes, so a killed run resumes where it stopped.

The d-band trend (Hammer and Norskov, Adv. Catal. 45, 71 (2000)): across each transition-metal period,
binding weakens from the early metals to the coinage metals as the d band fills and sinks below the
Fermi level. The benchmark reports Spearman's rank correlation of E_ads with the group number within the
3d, 4d and 5d transition metals (positive = the trend), and whether Au binds O most weakly of all.
Where the DFT label set (data/catalyst_dft_v1.db) holds the same system, its DFT value is shown beside.
Writes the section "Catalyst ground truth: trends" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from benchmarks.report import machine, today, write_section
from phenograd.datasets.catalyst_v2 import MINIMUM_EXCLUDES, place
from phenograd.datasets.surfaces import (
    CRYSTAL_OF,
    FACETS_OF,
    V2_METALS,
    BulkSpec,
    SurfaceSpec,
    build_surface,
    surface_sites,
)
from phenograd.simulators.adsorption import RelaxSettings, adsorption_energy, gas_references, relax_slab
from phenograd.simulators.calculators import calculator_info, calculator_spec, get_calculator

RESULTS = Path(__file__).resolve().parent / "results" / "catalyst_trends.jsonl"
GROUP = {
    m: g
    for g, ms in {
        3: "Sc Y",
        4: "Ti Zr Hf",
        5: "V Nb Ta",
        6: "Cr Mo W",
        7: "Mn Tc Re",
        8: "Fe Ru Os",
        9: "Co Rh Ir",
        10: "Ni Pd Pt",
        11: "Cu Ag Au",
        12: "Zn Cd",
    }.items()
    for m in ms.split()
}
PERIOD = {
    m: p
    for p, ms in {
        "3d": "Sc Ti V Cr Mn Fe Co Ni Cu Zn",
        "4d": "Y Zr Nb Mo Tc Ru Rh Pd Ag Cd",
        "5d": "Hf Ta W Re Os Ir Pt Au",
    }.items()
    for m in ms.split()
}


def system_energy(metal: str, adsorbate: str, calculator: str, placements: int, settings: RelaxSettings, refs) -> dict:
    """The AdsorbML minimum of adsorbate on metal's close-packed facet with calculator (one result dict)."""
    t0 = time.process_time()
    crystal = CRYSTAL_OF[metal]
    slab = build_surface(SurfaceSpec(BulkSpec("pure", ((metal, 1.0),)), FACETS_OF[crystal][0]), calculator)
    clean = relax_slab(slab, calculator, settings)
    sites = sorted(surface_sites(slab), key=lambda s: s.kind != "hollow")[:placements]
    tried = []
    for site in sites:
        r = adsorption_energy(place(slab, adsorbate, site.xy), calculator, settings, refs, slab=clean)
        valid = r.ok and not set(r.anomalies) & set(MINIMUM_EXCLUDES)
        tried.append(
            {
                "site": r.site_final or site.kind,
                "e_ads": r.e_ads if valid else None,
                "status": r.status,
                "anomalies": r.anomalies,
            }
        )
    energies = [t["e_ads"] for t in tried if t["e_ads"] is not None]
    return {
        "metal": metal,
        "adsorbate": adsorbate,
        "calculator": calculator_info(calculator)["name"],
        "facet": slab.info["slab"]["facet"],
        "e_ads": min(energies) if energies else None,
        "site": min((t for t in tried if t["e_ads"] is not None), key=lambda t: t["e_ads"])["site"]
        if energies
        else None,
        "placements": tried,
        "cpu_s": round(time.process_time() - t0, 2),
    }


def load_results() -> dict:
    out = {}
    if RESULTS.exists():
        for line in RESULTS.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:  # the line a killed run was writing
                continue
            out[(r["metal"], r["adsorbate"], r["calculator"])] = r
    return out


def dft_values() -> dict:
    """(metal, adsorbate) -> DFT E_ads of pure close-packed systems in the DFT label set, if present."""
    path = Path(__file__).resolve().parents[1] / "data" / "catalyst_dft_v1.db"
    if not path.exists():
        return {}
    from ase.db import connect

    out = {}
    for row in connect(str(path)).select(kind="adslab", status="ok", stage="validation"):
        out[(row.metals, row.adsorbate)] = float(row.e_ads)
    return out


def report(results: dict, calculators, metals, adsorbates, placements: int) -> str:
    dft = dft_values()
    lines = [
        f"Command: `python -m benchmarks.catalyst_trends --calculators {' '.join(calculators)} --placements "
        f"{placements}`; {today()}; {machine()}.",
        "",
        "E_ads in eV against H2O - H2 (O), H2/2 (H) and H2O - H2/2 (OH), the OC20 scheme; each cell is the "
        f"minimum over {placements} placements (hollows first) on the v2 cell (2x2, four layers) of the metal's "
        "close-packed facet; '-' = no valid placement, blank = not run (element unsupported or skipped). "
        "DFT columns: the DFT label set's value for the same adsorbate and metal (GPAW single point at CHGNet's "
        "geometry in a three-layer cell; section 'Catalyst fidelities against DFT'), where it has one yet.",
        "",
    ]
    head = "| metal | facet | " + " | ".join(f"{a} {c}" for a in adsorbates for c in calculators)
    head += " | " + " | ".join(f"{a} DFT" for a in adsorbates) + " |" if dft else " |"
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for m in metals:
        cells = []
        facet = ""
        for a in adsorbates:
            for c in calculators:
                r = results.get((m, a, c))
                facet = facet or (r or {}).get("facet", "")
                cells.append("" if r is None else ("-" if r["e_ads"] is None else f"{r['e_ads']:+.2f}"))
        if dft:
            cells += [f"{dft[(m, a)]:+.2f}" if (m, a) in dft else "" for a in adsorbates]
        lines.append(f"| {m} | {facet} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Trend checks (Spearman rank correlation of E_ads with the group number, transition metals of one "
        "period; positive = binding weakens left to right as the d-band model says):",
        "",
        "| adsorbate | calculator | 3d | 4d | 5d | all periods pooled | Au binds weakest of the transition metals |",
        "|---|---|---|---|---|---|---|",
    ]
    for a in adsorbates:
        for c in calculators:
            row = [a, c]
            pooled_x, pooled_y = [], []
            for period in ("3d", "4d", "5d"):
                pts = [
                    (GROUP[m], results[(m, a, c)]["e_ads"])
                    for m in metals
                    if PERIOD.get(m) == period and (m, a, c) in results and results[(m, a, c)]["e_ads"] is not None
                ]
                pooled_x += [x for x, _ in pts]
                pooled_y += [y for _, y in pts]
                row.append(f"{spearmanr(*zip(*pts))[0]:+.2f} (n={len(pts)})" if len(pts) >= 4 else "n/a")
            row.append(f"{spearmanr(pooled_x, pooled_y)[0]:+.2f} (n={len(pooled_x)})" if len(pooled_x) >= 4 else "n/a")
            tm = {
                m: results[(m, a, c)]["e_ads"]
                for m in metals
                if m in PERIOD and (m, a, c) in results and results[(m, a, c)]["e_ads"] is not None
            }
            row.append(
                ("yes" if max(tm, key=tm.get) == "Au" else f"no ({max(tm, key=tm.get)})") if "Au" in tm else "n/a"
            )
            lines.append("| " + " | ".join(row) + " |")
    spread = {
        (a, c): [
            r["e_ads"]
            for (m, aa, cc), r in results.items()
            if aa == a and cc == c and r["e_ads"] is not None and m in metals
        ]
        for a in adsorbates
        for c in calculators
    }
    lines += [
        "",
        "Span of E_ads over the pure metals (max - min, eV): "
        + "; ".join(f"{a} {c} {max(v) - min(v):.2f}" for (a, c), v in spread.items() if len(v) > 1)
        + ".",
    ]
    cpu = [r["cpu_s"] / max(len(r["placements"]), 1) for r in results.values()]
    if cpu:
        lines.append(f"CPU seconds per relaxation (median over systems, clean slab included): {np.median(cpu):.1f}.")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calculators", nargs="+", default=["chgnet", "sevennet", "emt"])
    ap.add_argument("--metals", nargs="+", default=list(V2_METALS))
    ap.add_argument("--adsorbates", nargs="+", default=["O", "H", "OH"])
    ap.add_argument("--placements", type=int, default=2)
    ap.add_argument("--no-write", action="store_true", help="print the section without writing BENCHMARKS.md")
    args = ap.parse_args(argv)
    settings = RelaxSettings()
    results = load_results()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    refs, allowed = {}, {}
    for c in args.calculators:
        refs[c] = gas_references(c, settings)
        allowed[c] = getattr(get_calculator(c), "supported_elements", None)
        if calculator_spec(c) == calculator_spec("emt"):
            from ase.calculators.emt import parameters

            allowed[c] = set(parameters)
    for a in args.adsorbates:
        for m in args.metals:
            for c in args.calculators:
                key = (m, a, calculator_info(c)["name"])
                if key in results or (allowed[c] is not None and m not in allowed[c]):
                    continue
                results[key] = system_energy(m, a, c, args.placements, settings, refs[c])
                with open(RESULTS, "a") as f:
                    f.write(json.dumps(results[key]) + "\n")
                print(f"{c} {a} on {m}: {results[key]['e_ads']}", flush=True)
    names = [calculator_info(c)["name"] for c in args.calculators]
    body = report(results, names, args.metals, args.adsorbates, args.placements)
    print(body)
    if not args.no_write:
        write_section("Catalyst ground truth: trends", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
