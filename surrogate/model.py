"""A surrogate = the shared encoder + a domain head; an ensemble of them gives a measured
uncertainty; a checkpoint is one file holding all of it.

Checkpoint format (torch.save of a dict, version FORMAT_VERSION):
    {"format": "phenograd-surrogate", "format_version": 1, "domain": "airfoil"|"catalyst",
     "encoder": {...config}, "head": {...config}, "members": [state_dict, ...],
     "data_hash": str, "meta": {...training facts}}
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import torch
from torch import Tensor, nn

from phenograd.simulators.errors import InputError

from .encoder import GeometricEncoder
from .graphs import AIRFOIL_GRAPH_VERSION, AIRFOIL_NODE_FEATURES, ATOM_CUTOFF, ELEMENTS, N_TAGS
from .heads import AdsorptionHead, AirfoilHead

FORMAT = "phenograd-surrogate"
FORMAT_VERSION = 1
DOMAINS = ("airfoil", "catalyst")


def default_encoder_config(domain: str, hidden: int = 64, n_layers: int = 3) -> dict:
    """Encoder settings per domain: airfoil lengths are in chords, atoms in Å."""
    if domain == "airfoil":
        return dict(in_features=AIRFOIL_NODE_FEATURES, hidden=hidden, n_layers=n_layers, n_rbf=16, cutoff=0.25,
                    neighbours=8.0)
    if domain == "catalyst":
        return dict(in_features=len(ELEMENTS) + N_TAGS, hidden=hidden, n_layers=n_layers, n_rbf=20,
                    cutoff=ATOM_CUTOFF, neighbours=17.0)
    raise InputError(f"unknown domain {domain!r}; use airfoil or catalyst")


class Surrogate(nn.Module):
    """One ensemble member: GeometricEncoder + the domain's head.

    airfoil: forward(graphs, point_graph (P,), cond (P, 3)) -> (values (P, 5), conv_logit (P,))
    catalyst: forward(graphs) -> E_ads (B,) in eV
    """

    def __init__(self, domain: str, encoder: dict, head: dict):
        super().__init__()
        self.domain = domain
        self.encoder = GeometricEncoder(**encoder)
        self.head = AirfoilHead(**head) if domain == "airfoil" else AdsorptionHead(**head)

    def forward(self, graphs, point_graph: Tensor | None = None, cond: Tensor | None = None):
        nodes, pooled = self.encoder(graphs)
        if self.domain == "airfoil":
            return self.head(pooled[point_graph], cond)
        batch = getattr(graphs, "batch", None)
        if batch is None:
            batch = torch.zeros(nodes.shape[0], dtype=torch.long, device=nodes.device)
        return self.head(nodes, batch, n_graphs=pooled.shape[0])


class Ensemble(nn.Module):
    """Independently trained members; predictions are their mean and standard deviation."""

    def __init__(self, members: list[Surrogate]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.domain = members[0].domain

    def forward(self, *args):
        outs = [m(*args) for m in self.members]
        if isinstance(outs[0], tuple):
            return tuple(torch.stack(parts) for parts in zip(*outs))
        return torch.stack(outs)


def build_ensemble(domain: str, n_members: int = 3, encoder: dict | None = None, head: dict | None = None,
                   seed: int = 0) -> Ensemble:
    enc = encoder or default_encoder_config(domain)
    hd = head or {"hidden": enc["hidden"]}
    members = []
    for k in range(n_members):
        torch.manual_seed(seed * 1000 + k)
        members.append(Surrogate(domain, enc, hd))
    return Ensemble(members)


def save_checkpoint(path: str | os.PathLike, model: Ensemble, data_hash: str = "", meta: dict | None = None) -> None:
    """Write the ensemble as one file, atomically (temp file, then rename)."""
    m0 = model.members[0]
    payload = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "domain": model.domain,
        "encoder": dict(m0.encoder.config), "head": dict(m0.head.config),
        "members": [m.state_dict() for m in model.members], "data_hash": data_hash, "meta": meta or {},
        "graph_version": GRAPH_VERSIONS[model.domain],
    }
    save_torch_atomic(path, payload)


def save_torch_atomic(path: str | os.PathLike, payload) -> None:
    """torch.save to a temporary file beside `path`, then rename: never a half-written file."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(dir=p.parent if str(p.parent) else ".", prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


#: Version of each domain's graph construction (graphs.py); a model only works on the graphs it was trained on.
GRAPH_VERSIONS = {"airfoil": AIRFOIL_GRAPH_VERSION, "catalyst": 1}


def check_graph_version(p: Path, domain, version) -> None:
    """InputError when a file was trained on another graph construction than this phenograd builds."""
    if domain in GRAPH_VERSIONS and version != GRAPH_VERSIONS[domain]:
        raise InputError(f"{p}: trained on {domain} graphs of version {version}, this phenograd builds version "
                         f"{GRAPH_VERSIONS[domain]}; retrain it (`make models` for the shipped ones)")


SHIPPED_MODELS = Path(__file__).parent / "models"


def shipped_model_path(domain: str) -> Path:
    """The model file shipped inside the package for a domain (see surrogate/models/README.md)."""
    if domain not in DOMAINS:
        raise InputError(f"unknown domain {domain!r}; use airfoil or catalyst")
    path = SHIPPED_MODELS / f"{domain}.pt"
    if not path.is_file():
        raise InputError(f"no shipped {domain} model in this installation ({path}); pass --model FILE")
    return path


def read_torch_file(p: Path, what: str):
    """torch.load of a weights-only file; InputError naming the file if missing, truncated or corrupted."""
    if not p.is_file():
        raise InputError(f"{p}: no such {what} file")
    try:
        return torch.load(io.BytesIO(p.read_bytes()), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged zip/pickle
        raise InputError(f"{p}: not a readable phenograd {what} (truncated or corrupted: {type(exc).__name__})") from None


def load_checkpoint(path: str | os.PathLike, domain: str | None = None) -> tuple[Ensemble, dict]:
    """Load a checkpoint; InputError (one line, naming the file) if it is truncated, of another
    format or version, or of another domain than `domain`."""
    p = Path(path)
    payload = read_torch_file(p, "model")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"{p}: not a phenograd surrogate checkpoint")
    if payload.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{p}: checkpoint format version {payload.get('format_version')!r} is not supported "
                         f"(this phenograd reads version {FORMAT_VERSION})")
    if domain is not None and payload.get("domain") != domain:
        raise InputError(f"{p}: a {payload.get('domain')} model where the {domain} domain's is needed")
    check_graph_version(p, payload.get("domain"), payload.get("graph_version", 1))
    members = []
    for state in payload["members"]:
        m = Surrogate(payload["domain"], payload["encoder"], payload["head"])
        m.load_state_dict(state)
        members.append(m)
    ensemble = Ensemble(members).eval()
    return ensemble, {k: payload[k] for k in ("domain", "data_hash", "meta", "encoder", "head")}
