"""Summary of a catalyst dataset: counts by kind, status, split, facet and decoration;
E_ads distribution per adsorbate; anomaly counts; the calculators' gas references."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from phenograd.core.errors import InputError, one_line
from phenograd.simulators.adsorption import ANOMALIES

from .catalyst_store import CatalystStore

UNLABELLED_KIND = "phenograd-catalyst-unlabelled"


def _tally(values) -> dict:
    out: dict = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def e_ads_stats(values) -> dict:
    """n, mean, std, min, 5/50/95th percentiles, max of adsorption energies (eV)."""
    v = np.asarray(list(values), float)
    if not len(v):
        return {"n": 0}
    p5, p50, p95 = np.percentile(v, [5, 50, 95])
    return {
        "n": int(len(v)),
        "mean": float(v.mean()),
        "std": float(v.std()),
        "min": float(v.min()),
        "p5": float(p5),
        "median": float(p50),
        "p95": float(p95),
        "max": float(v.max()),
    }


def unlabelled_info(path) -> dict:
    """Counts of an unlabelled pretraining file written by `phenograd data unlabelled` (.db)."""
    import sqlite3

    from ase.db import connect

    from .output_file import check_integrity

    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            check_integrity(conn, Path(path), "ase.db file")
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{path}: not a usable ase.db file ({one_line(exc)})") from None
    rows = [r.key_value_pairs for r in connect(str(path), type="db").select(include_data=False)]
    return {
        "file": str(path),
        "kind": UNLABELLED_KIND,
        "structures": len(rows),
        "by_facet": _tally(r.get("facet") for r in rows),
        "by_decoration": _tally(r.get("decoration") for r in rows),
        "by_n_adsorbates": _tally(r.get("n_adsorbates") for r in rows),
    }


def dataset_info(path) -> dict:
    """Counts and label statistics of a catalyst dataset file (read-only).

    Args:
        path: a catalyst dataset file (opened read-only; InputError if it is not one).
    """
    if metadata_kind(path) == UNLABELLED_KIND:
        return unlabelled_info(path)
    store = CatalystStore.open_readonly(path)
    rows = [r.key_value_pairs for r in store.db.select(kind="adslab", include_data=False)]
    slabs = [r.key_value_pairs for r in store.db.select(kind="slab", include_data=False)]
    ok = [r for r in rows if r.get("status") == "ok"]
    clean = [r for r in ok if r.get("anomalies") == "none"]
    meta = store.meta()
    info = {
        "file": str(path),
        "kind": meta.get("kind"),
        "format_version": meta.get("format_version"),
        "adslabs": len(rows),
        "slabs": len(slabs),
        "labelled_ok": len(ok),
        "ok_without_anomaly": len(clean),
        "converged": sum(bool(r.get("converged")) for r in ok),
        "by_status": _tally(r.get("status") for r in rows),
        "by_split": _tally(r.get("split") for r in ok),
        "by_facet": _tally(r.get("facet") for r in ok),
        "by_decoration": _tally(r.get("decoration") for r in ok),
        "anomalies": {a: sum(bool(r.get(a)) for r in ok) for a in ANOMALIES},
        "e_ads_by_adsorbate": {
            a: e_ads_stats(r["e_ads"] for r in clean if r.get("adsorbate") == a)
            for a in sorted({r.get("adsorbate") for r in clean})
        },
        "references": meta.get("references", {}),
        "splits": meta.get("splits", {}),
    }
    if any(r.get("protocol") == "v2" for r in rows):
        info["v2"] = v2_info(rows, meta)
    return info


def v2_info(rows: list[dict], meta: dict) -> dict:
    """The v2 protocol's counts: systems (slab + adsorbate) with an AdsorbML minimum, metals, facets,
    adsorbates, and how often the first placement already is the minimum on the several-placement subset."""
    from .catalyst_v2 import system_minima

    minima = system_minima(rows)
    labelled = {k: m for k, m in minima.items() if m["row"] is not None}
    best = [m["row"] for m in labelled.values()]
    multi = [k for k, m in labelled.items() if m["placements"] > 1]
    first = {r["system"]: r for r in rows if r.get("placement") == 0}
    first_is_min = sum(
        1
        for k in multi
        if k in first
        and first[k].get("e_ads") is not None
        and abs(first[k]["e_ads"] - labelled[k]["row"]["e_ads"]) < 0.05
    )
    metals = {}
    for r in best:
        for m in str(r.get("metals", "")).split("-"):
            metals[m] = metals.get(m, 0) + 1
    return {
        "systems": len(minima),
        "systems_labelled": len(labelled),
        "calculators": meta.get("calculators", {}),
        "by_metal": dict(sorted(metals.items(), key=lambda kv: -kv[1])),
        "by_facet": _tally(r.get("facet") for r in best),
        "by_adsorbate": _tally(r.get("adsorbate") for r in best),
        "by_split": _tally(r.get("split") for r in best),
        "minimum_subset": len(multi),
        "first_placement_within_0.05_eV_of_minimum": first_is_min,
        "e_ads_by_adsorbate": {
            a: e_ads_stats(r["e_ads"] for r in best if r.get("adsorbate") == a)
            for a in sorted({r.get("adsorbate") for r in best})
        },
    }


def metadata_kind(path) -> str | None:
    """The "kind" an ase.db file's metadata names (UNLABELLED_KIND, a dataset's kind), or None."""
    import json
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM information WHERE name='metadata'").fetchone()
        finally:
            conn.close()
        return json.loads(row[0]).get("kind") if row else None
    except (sqlite3.DatabaseError, ValueError):
        return None


def format_info(info: dict) -> str:
    """Human-readable text of :func:`dataset_info`."""
    if info.get("kind") == UNLABELLED_KIND:
        return "\n".join(
            [
                f"{info['file']}  (unlabelled catalyst structures for pretraining)",
                f"  structures {info['structures']}",
                *(
                    f"  {name.replace('_', ' ')}: " + ", ".join(f"{k} {v}" for k, v in info[name].items())
                    for name in ("by_facet", "by_decoration", "by_n_adsorbates")
                ),
            ]
        )
    lines = [
        f"{info['file']}  (catalyst adsorption dataset, format v{info['format_version']})",
        f"  adslabs {info['adslabs']} ({info['labelled_ok']} labelled ok, "
        f"{info['ok_without_anomaly']} without anomaly, "
        f"{info['converged']} converged), clean slabs {info['slabs']}",
        "  by status: " + ", ".join(f"{k}: {v}" for k, v in info["by_status"].items()),
        "  by split: " + ", ".join(f"{k} {v}" for k, v in info["by_split"].items()),
        "  by facet: " + ", ".join(f"{k} {v}" for k, v in info["by_facet"].items()),
        "  by decoration: " + ", ".join(f"{k} {v}" for k, v in info["by_decoration"].items()),
        "  anomalies: " + ", ".join(f"{k} {v}" for k, v in info["anomalies"].items()),
        "  E_ads (eV, rows without anomaly):",
    ]
    for ads, s in info["e_ads_by_adsorbate"].items():
        if s["n"]:
            lines.append(
                f"    {ads:>3}: n {s['n']:>6}  mean {s['mean']:+.3f}  std {s['std']:.3f}  "
                f"p5 {s['p5']:+.3f}  median {s['median']:+.3f}  p95 {s['p95']:+.3f}"
            )
    if "v2" in info:
        v = info["v2"]
        lines += [
            f"  v2 systems (slab + adsorbate): {v['systems']} planned and relaxed, {v['systems_labelled']} with an "
            f"AdsorbML minimum over {len(v['by_metal'])} metals, {len(v['by_facet'])} facets, "
            f"{len(v['by_adsorbate'])} adsorbates",
            *(
                f"    {name.replace('by_', 'by ')}: " + ", ".join(f"{k} {n}" for k, n in v[name].items())
                for name in ("by_metal", "by_facet", "by_adsorbate", "by_split")
            ),
            f"    several-placement subset: {v['minimum_subset']} systems; the first placement is within 0.05 eV of "
            f"the minimum in {v['first_placement_within_0.05_eV_of_minimum']}",
            "    E_ads per system (eV, AdsorbML minimum):",
        ]
        for ads, st in v["e_ads_by_adsorbate"].items():
            if st["n"]:
                lines.append(
                    f"      {ads:>4}: n {st['n']:>5}  median {st['median']:+.3f}  p5 {st['p5']:+.3f}  "
                    f"p95 {st['p95']:+.3f}  min {st['min']:+.3f}  max {st['max']:+.3f}"
                )
        for c in v["calculators"].values():
            lines.append(f"    calculator {c.get('name')}: {c.get('model')}, {c.get('package')} {c.get('version')}")
    for calc, ref in info["references"].items():
        mu = ", ".join(f"mu_{k} {v:+.4f}" for k, v in ref.get("mu", {}).items())
        lines.append(f"  references [{calc}]: {mu} eV")
    return "\n".join(lines)
