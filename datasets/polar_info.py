"""Summary of an airfoil polar dataset: counts, convergence by Reynolds band, value ranges.

Points are counted once per angle of each polar; where finer-panelling retries are stored
(datasets/airfoil_fallback.py), a point counts as converged when its polar or a retry converged."""

from __future__ import annotations

import math

from .airfoil_fallback import merged_points
from .polar_store import PolarStore

RE_BAND_EDGES = (0.0, 3e5, 1e6, 3e6, math.inf)


def _band_label(lo: float, hi: float) -> str:
    if lo == 0:
        return f"< {hi:.0e}"
    if math.isinf(hi):
        return f">= {lo:.0e}"
    return f"{lo:.0e} - {hi:.0e}"


def dataset_info(path) -> dict:
    """Counts, convergence rate by Re band and ranges of a dataset file (read-only).

    Args:
        path: an airfoil dataset file (opened read-only; InputError if it is not one).
    """
    with PolarStore.open_readonly(path) as store:
        q = store.conn.execute
        points = list(merged_points(store))  # one per angle of each polar, a retry's where it converged
        info = {
            "file": str(path),
            "format_version": store.meta().get("format_version"),
            "shapes": store.count("shapes"),
            "polars": store.count("polars"),
            "polars_by_panels": {
                str(k): v for k, v in q("SELECT n_panels, COUNT(*) FROM polars GROUP BY 1 ORDER BY 1")
            },
            "points": len(points),
            "shapes_by_source": dict(
                q("SELECT source || '/' || split, COUNT(*) FROM shapes GROUP BY 1 ORDER BY 1").fetchall()
            ),
            "polars_by_status": dict(
                q("SELECT status, COUNT(*) FROM polars GROUP BY status ORDER BY 2 DESC").fetchall()
            ),
            "points_converged": sum(int(r[4]) for r in points),
        }
        bands = []
        for lo, hi in zip(RE_BAND_EDGES[:-1], RE_BAND_EDGES[1:]):
            band = [r[4] for r in points if lo <= r[1] < hi]
            n, conv = len(band), sum(int(c) for c in band)
            if n:
                bands.append({"band": _band_label(lo, hi), "points": n, "converged": conv, "rate": conv / n})
        info["convergence_by_re"] = bands
        ranges = {}
        for col, table in (("reynolds", "polars"), ("alpha", "points")):
            ranges[col] = list(q(f"SELECT MIN({col}), MAX({col}) FROM {table}").fetchone())
        for col in ("CL", "CD", "CM"):
            ranges[col] = list(q(f"SELECT MIN({col}), MAX({col}) FROM points WHERE converged = 1").fetchone())
        info["ranges"] = ranges
    return info


def format_info(info: dict) -> str:
    """Human-readable text of :func:`dataset_info`."""
    lines = [
        f"{info['file']}  (format v{info['format_version']})",
        f"  shapes {info['shapes']}, polars {info['polars']} (by panelling: "
        + ", ".join(f"{k}: {v}" for k, v in info["polars_by_panels"].items())
        + f"), points {info['points']} "
        f"({info['points_converged']} converged"
        + (f", {info['points_converged'] / info['points']:.1%})" if info["points"] else ")"),
        "  shapes by source/split: " + ", ".join(f"{k} {v}" for k, v in info["shapes_by_source"].items()),
        "  polars by status: " + ", ".join(f"{k}: {v}" for k, v in info["polars_by_status"].items()),
        "  convergence by Reynolds band:",
    ]
    for b in info["convergence_by_re"]:
        lines.append(f"    Re {b['band']:>15}: {b['converged']:>7}/{b['points']:<7} {b['rate']:.1%}")
    lines.append("  ranges:")
    for k, (lo, hi) in info["ranges"].items():
        if lo is not None:
            lines.append(f"    {k:>8}: {lo:.6g} .. {hi:.6g}")
    return "\n".join(lines)
