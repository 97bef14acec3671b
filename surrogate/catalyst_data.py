"""Catalyst adsorption datasets as graphs and targets for training and evaluation.

One sample per labelled adslab row (status "ok") of a phenograd ase.db: the
*initial* structure's radius graph (IS2RE-direct: the relaxed energy from the
unrelaxed structure) and its E_ads in eV. Anomalous relaxations (the adsorbate
moved site, dissociated, ...) keep their label by default, as in OC20's IS2RE; their flags
are kept so that metrics can be reported with and without them (disqualified="drop" leaves out
those AdsorbML disqualifies).

Splits: the dataset's own held-out rows (v1's "test" and "ood", v2's "test",
"ood_composition" and "ood_facet"; HELD_OUT_SPLITS) are never trained on; of the rest, slabs whose uid's last hex digit
is 0 (1/16, fixed, whole slabs so no surface leaks) are "val", the others "train".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from torch_geometric.data import Data

from phenograd.core.errors import InputError
from phenograd.datasets.catalyst import HELD_OUT_SPLITS  # noqa: F401  (re-exported: the splits never trained on)
from phenograd.datasets.catalyst_store import CatalystStore
from phenograd.datasets.catalyst_v2 import is_disqualified

from .elements import elements_of_graphs
from .graphs import ATOM_CUTOFF, atoms_graph


@dataclass
class CatalystSamples:
    """graphs (one per sample), e_ads (S,) eV, and per-sample uid, split, adsorbate, anomalous flag."""

    graphs: list[Data]
    e_ads: torch.Tensor
    uids: list[str]
    split: list[str]
    adsorbate: list[str]
    anomalous: np.ndarray
    data_hash: str
    labels: dict | None = None  # label_fidelity of the file: which simulator computed the E_ads
    disqualified: np.ndarray | None = None  # (S,) bool: AdsorbML leaves the placement out of a surface's minimum

    def items_in(self, split: str) -> np.ndarray:
        return np.array([i for i, s in enumerate(self.split) if s == split], dtype=int)

    def elements_in(self, items) -> list[str]:
        """The element symbols of the samples `items`, in the vocabulary's (atomic-number) order."""
        return elements_of_graphs(self.graphs[int(i)] for i in items)


def label_fidelity(meta: dict) -> dict:
    """Which simulator labelled a catalyst dataset, from its metadata: {"calculators": [spec, ...] (the
    calculators whose gas references the file holds), "protocol": "v1" | "v2" | ..., and, where the file
    records them, "versions": {spec: {"name", "package", "version", "model"}}}. A DFT label set
    (data/catalyst_dft_v1.md) gives {"calculators": [], "protocol": "dft", "dft": its settings' description and
    GPAW version, "geometry": the potential spec whose relaxed geometries the single points are at}."""
    dft = meta.get("dft")
    if isinstance(dft, dict):
        potential = meta.get("potential") if isinstance(meta.get("potential"), dict) else {}
        labels = {"calculators": [], "protocol": "dft", "dft": {k: dft.get(k) for k in ("describe", "gpaw")}}
        if potential.get("spec"):
            labels["geometry"] = str(potential["spec"])
            labels["versions"] = {str(potential["spec"]): dict(potential)}
        return labels
    references = meta.get("references") or {}
    protocol = meta.get("protocol") or {}
    labels = {
        "calculators": sorted(references) if isinstance(references, dict) else [],
        "protocol": str(protocol.get("name", "v1")) if isinstance(protocol, dict) else "v1",
    }
    versions = meta.get("calculators")
    if isinstance(versions, dict) and versions:
        labels["versions"] = {k: dict(v) for k, v in versions.items() if isinstance(v, dict)}
    return labels


def split_of_row(record_split: str, slab_uid: str) -> str:
    if record_split in HELD_OUT_SPLITS:
        return record_split
    return "val" if slab_uid[-1] == "0" else "train"


def structure_graphs(atoms_list, cutoff: float = ATOM_CUTOFF) -> list[Data]:
    """Graphs of many structures. Neighbour search runs single-threaded: on small
    structures torch's intra-op threads cost 5x more than they save."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return [atoms_graph(a, cutoff=cutoff) for a in atoms_list]
    finally:
        torch.set_num_threads(threads)


def load_catalyst_samples(
    path, cutoff: float = ATOM_CUTOFF, limit: int | None = None, disqualified: str = "keep"
) -> CatalystSamples:
    """Read every labelled adslab of a catalyst dataset file (read-only).

    disqualified: "keep" (IS2RE as in OC20) or "drop" the placements AdsorbML disqualifies (is_disqualified)."""
    if disqualified not in ("keep", "drop"):
        raise InputError(f"disqualified must be keep or drop, got {disqualified!r}")
    store = CatalystStore.open_readonly(path)
    rows = list(store.db.select(kind="adslab", status="ok", sort="id", limit=limit))
    if disqualified == "drop":
        rows = [r for r in rows if not is_disqualified(r.get("anomalies"))]
    if not rows:
        raise InputError(f"{path}: no labelled adsorption structures in this dataset")
    atoms = [r.toatoms() for r in rows]
    try:
        graphs = structure_graphs(atoms, cutoff)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    uids = [r.uid for r in rows]
    digest = hashlib.sha256("".join(f"{u}:{r.e_ads:.6f};" for u, r in zip(uids, rows)).encode()).hexdigest()[:16]
    return CatalystSamples(
        graphs=graphs,
        e_ads=torch.tensor([r.e_ads for r in rows], dtype=torch.float32),
        uids=uids,
        split=[split_of_row(r.split, r.slab_uid) for r in rows],
        adsorbate=[r.adsorbate for r in rows],
        anomalous=np.array([r.anomalies != "none" for r in rows]),
        data_hash=digest,
        labels=label_fidelity(store.meta()),
        disqualified=np.array([is_disqualified(r.get("anomalies")) for r in rows], dtype=bool),
    )
