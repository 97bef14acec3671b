"""Airfoil polar datasets as tensors for training: one graph per shape, one row per point.

Splits: shapes of the held-out real airfoils are "test"; the other shapes go to
"val" when the first hex digit of their content hash is 0 (1/16, fixed) and to
"train" otherwise. A point's targets are NaN unless XFOIL converged there; the
convergence flag is itself a target (the head's logit). Where a dataset holds
finer-panelling retries of its non-converged points (datasets/airfoil_fallback.py),
a point counts as converged when its polar or a retry converged, as in verification.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch_geometric.data import Data

from phenograd.datasets.airfoil_fallback import merged_points
from phenograd.datasets.cst import N_CST
from phenograd.datasets.polar_store import PolarStore

from .graphs import AIRFOIL_STATIONS, airfoil_graph
from .heads import conditions


@dataclass
class AirfoilPoints:
    """graphs: one per shape; per point (P rows): shape index, conditions (P, 3), targets (P, 5)
    [CL, ln CD, CM, Top_Xtr, Bot_Xtr] (NaN where not converged) and converged (P,) bool; cst: per shape its
    stored CST fit (S, 18), NaN rows for shapes stored without one; stations: the graphs' chord stations per
    surface; contours: per shape its stored coordinates (M, 2), from which at_stations rebuilds the graphs."""

    graphs: list[Data]
    shape_ids: list[str]
    shape_split: list[str]
    point_shape: torch.Tensor
    cond: torch.Tensor
    targets: torch.Tensor
    converged: torch.Tensor
    data_hash: str
    cst: np.ndarray | None = None
    stations: int = AIRFOIL_STATIONS
    contours: list | None = None

    def at_stations(self, stations: int) -> "AirfoilPoints":
        """The same points with every graph rebuilt at another resolution (itself when it already has it)."""
        if stations == self.stations:
            return self
        if self.contours is None:
            raise ValueError("these airfoil points keep no contours to rebuild their graphs from")
        return replace(self, graphs=[airfoil_graph(c, stations) for c in self.contours], stations=stations)

    def shapes_in(self, split: str) -> np.ndarray:
        return np.array([i for i, s in enumerate(self.shape_split) if s == split], dtype=int)


def split_of_shape(shape_id: str, record_split: str) -> str:
    if record_split == "test":
        return "test"
    return "val" if shape_id[0] == "0" else "train"


def load_airfoil_points(path, stations: int = AIRFOIL_STATIONS) -> AirfoilPoints:
    """Read a polar dataset file into graphs (stations per surface) and point tensors (read-only)."""
    with PolarStore.open_readonly(path) as store:
        rows = list(merged_points(store))
        keys = store.conn.execute("SELECT key, status FROM polars ORDER BY key").fetchall()
        shape_ids = sorted({r[0] for r in rows})
        records = {sid: store.shape(sid) for sid in shape_ids}
    index = {sid: i for i, sid in enumerate(shape_ids)}
    contours = [records[sid].coordinates for sid in shape_ids]
    graphs = [airfoil_graph(c, stations) for c in contours]
    splits = [split_of_shape(sid, records[sid].split) for sid in shape_ids]
    arr = np.array([[index[r[0]], r[1], r[2], r[3], r[4]] for r in rows], dtype=float).reshape(-1, 5)
    tgt = np.array(
        [
            [r[5], math.log(r[6]) if r[6] and r[6] > 0 else None, r[7], r[8], r[9]] if r[4] else [np.nan] * 5
            for r in rows
        ],
        dtype=float,
    ).reshape(-1, 5)
    digest = hashlib.sha256("".join(f"{k}:{s};" for k, s in keys).encode()).hexdigest()[:16]
    return AirfoilPoints(
        graphs=graphs,
        shape_ids=shape_ids,
        shape_split=splits,
        point_shape=torch.as_tensor(arr[:, 0], dtype=torch.long),
        cond=conditions(*(torch.as_tensor(arr[:, k], dtype=torch.float32) for k in (3, 1, 2))),
        targets=torch.as_tensor(tgt, dtype=torch.float32),
        converged=torch.as_tensor(arr[:, 4] > 0.5),
        data_hash=digest,
        cst=np.array(
            [np.full(N_CST, np.nan) if records[sid].cst is None else records[sid].cst for sid in shape_ids], dtype=float
        ).reshape(-1, N_CST),
        stations=stations,
        contours=contours,
    )
