"""A surrogate = the shared encoder + a domain head; an ensemble of them gives a measured
uncertainty; a checkpoint is one file holding all of it.

Checkpoint format (torch.save of a dict, version FORMAT_VERSION):
    {"format": "phenograd-surrogate", "format_version": 1, "domain": a registered domain's name (domain.py),
     "encoder": {...config}, "head": {...config}, "members": [state_dict, ...],
     "data_hash": str, "meta": {...training facts}}
"""

from __future__ import annotations

import errno
import io
import math
import os
from pathlib import Path

import torch
from torch import Tensor, nn

from phenograd.core.atomic import atomic_file, remove_stale_temps
from phenograd.core.errors import InputError
from phenograd.core.runs import damaged_member

from .domain import domain_names, get_domain, unknown_domain
from .encoder import GeometricEncoder
from .heads import READOUTS, REFERENCES

FORMAT = "phenograd-surrogate"
FORMAT_VERSION = 1
MAX_SIZE = 1024  # largest width, depth or count a checkpoint's settings may state
MAX_CUTOFF = 20.0  # largest encoder cutoff (Å for atoms, chords for airfoils) a checkpoint may state
HEAD_SETTINGS = ("depth", "hidden", "width")


def default_encoder_config(domain: str, hidden: int = 64, n_layers: int = 3) -> dict:
    """Encoder settings of a domain's graphs (Domain.encoder_config): airfoil lengths are in chords, atoms in Å."""
    return get_domain(domain).encoder_config(hidden, n_layers)


class Surrogate(nn.Module):
    """One ensemble member: GeometricEncoder + the domain's head; forward is the domain's (Domain.forward).

    airfoil: forward(graphs, point_graph (P,), cond (P, 3)) -> (values (P, 5), conv_logit (P,))
    catalyst: forward(graphs) -> E_ads (B,) in eV
    """

    def __init__(self, domain: str, encoder: dict, head: dict):
        super().__init__()
        spec = get_domain(domain)
        self.domain = domain
        self.encoder = GeometricEncoder(**encoder, node_inputs=spec.node_inputs)
        self.head = spec.head(head)

    def forward(self, graphs, *inputs):
        return get_domain(self.domain).forward(self, graphs, *inputs)

    def airfoil_shape_embedding(self, graphs) -> Tensor:
        """The airfoil head's shape embedding (B, D): all it sees of a shape (see AirfoilHead)."""
        nodes, pooled = self.encoder(graphs)
        return self.head.shape_embedding(nodes, pooled, self.encoder.node_inputs(graphs))


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


def build_ensemble(
    domain: str, n_members: int = 3, encoder: dict | None = None, head: dict | None = None, seed: int = 0
) -> Ensemble:
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
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "domain": model.domain,
        "encoder": dict(m0.encoder.config),
        "head": dict(m0.head.config),
        "members": [m.state_dict() for m in model.members],
        "data_hash": data_hash,
        "meta": meta or {},
        "graph_version": get_domain(model.domain).graph_version,
    }
    save_torch_atomic(path, payload)


def save_torch_atomic(path: str | os.PathLike, payload) -> None:
    """torch.save to a temporary file beside `path`, then rename: never a half-written file."""
    p = Path(path)
    remove_stale_temps(p)  # left by a kill between a write and its rename (one writer per path)
    with atomic_file(p) as f:
        try:
            torch.save(payload, f)
        except (OSError, RuntimeError) as exc:  # a full disk or a file-size limit; torch reports a RuntimeError
            reason = getattr(exc, "strerror", None) or "write failed"
            raise OSError(
                errno.EIO,
                f"cannot write: {reason} (disk full or over a file-size limit?); the previous file, if any, is kept",
                str(p),
            ) from None


def same(value, expected) -> bool:
    """value == expected for a value read from a file, which may be of any type (a tensor compares elementwise)."""
    return type(value) is type(expected) and value == expected


def shown(value) -> str:
    """A value read from a file as a short one-line text for an error message (a tensor's repr spans lines)."""
    text = " ".join((value if isinstance(value, str) else repr(value)).split())
    return text if len(text) <= 60 else text[:57] + "..."


def upgrade_payload(payload: dict) -> dict:
    """A model or encoder file's payload as this phenograd builds it, where its domain knows how to convert an
    older graph version (Domain.upgrade_checkpoint, optional); otherwise unchanged."""
    upgrade = getattr(get_domain(payload["domain"]), "upgrade_checkpoint", None)
    return payload if upgrade is None else upgrade(payload)


def check_graph_version(p: Path, domain, version) -> None:
    """InputError when a file was trained on another graph construction than this phenograd builds."""
    expected = get_domain(domain).graph_version if domain in domain_names() else None
    if expected is not None and not same(version, expected):
        raise InputError(
            f"{p}: trained on {domain} graphs of version {shown(version)}, this phenograd builds version "
            f"{expected}; retrain it (`make models` for the shipped ones)"
        )


SHIPPED_MODELS = Path(__file__).parent / "models"


def shipped_file(domain: str, kind: str = "model") -> Path:
    """A file shipped inside the package for a domain (see surrogate/models/README.md): the surrogate
    (kind "model", <domain>.pt) or the pretrained encoder (kind "encoder", <domain>_encoder.pt)."""
    if domain not in domain_names():
        raise unknown_domain(domain)
    path = SHIPPED_MODELS / (f"{domain}.pt" if kind == "model" else f"{domain}_{kind}.pt")
    if not path.is_file():
        raise InputError(f"no shipped {domain} {kind} in this installation ({path}); pass {kind}=FILE", parameter=kind)
    return path


def shipped_model_path(domain: str) -> Path:
    """The surrogate file shipped inside the package for a domain."""
    return shipped_file(domain, "model")


def read_torch_file(p: Path, what: str):
    """torch.load of a weights-only file; InputError naming the file if missing, truncated or corrupted."""
    if not p.is_file():
        raise InputError(f"{p}: no such {what} file")
    data = p.read_bytes()
    bad = damaged_member(data)
    if bad:
        raise InputError(f"{p}: not a readable phenograd {what} (truncated or corrupted: checksum mismatch in {bad})")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged zip/pickle
        raise InputError(
            f"{p}: not a readable phenograd {what} (truncated or corrupted: {type(exc).__name__})"
        ) from None


def _check_settings(p: Path, what: str, config: dict) -> None:
    """InputError unless every setting is a positive number in range: whole numbers up to
    MAX_SIZE, cutoff up to MAX_CUTOFF, neighbours up to MAX_SIZE."""
    for name, value in config.items():
        if name == "readout":
            if value not in READOUTS:
                raise InputError(
                    f"{p}: {what} setting readout = {shown(value)} is not one of {', '.join(READOUTS)} (damaged file?)"
                )
            continue
        if name == "reference":
            if value not in REFERENCES:
                raise InputError(
                    f"{p}: {what} setting reference = {shown(value)} is not one of {', '.join(REFERENCES)} "
                    "(damaged file?)"
                )
            continue
        if name == "vectors":
            if value is not False:
                raise InputError(f"{p}: {what} setting vectors = {shown(value)} is not false (damaged file?)")
            continue
        if name == "station_y":
            if value is not True:
                raise InputError(f"{p}: {what} setting station_y = {shown(value)} is not true (damaged file?)")
            continue
        whole = name not in ("cutoff", "neighbours")
        high = MAX_CUTOFF if name == "cutoff" else MAX_SIZE
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) or not 0 < value <= high:
            raise InputError(f"{p}: {what} setting {shown(name)} = {shown(value)} is out of range (damaged file?)")


def check_encoder_config(p: Path, domain: str, config) -> None:
    """InputError unless config holds the encoder settings this phenograd builds for domain, in range."""
    expected = default_encoder_config(domain)
    if not isinstance(config, dict) or set(config) - {"vectors", "graph_nodes"} != set(expected):
        raise InputError(f"{p}: the encoder settings must be {', '.join(sorted(expected))} (damaged file?)")
    _check_settings(p, "encoder", config)
    if config["in_features"] != expected["in_features"]:
        raise InputError(
            f"{p}: the encoder takes {config['in_features']} input features where {domain} graphs "
            f"have {expected['in_features']}"
        )


def module_shapes(build) -> dict:
    """{name: shape} of the parameters and buffers of the module build() makes, allocating nothing."""
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in build().state_dict().items()}


def check_state(p: Path, shapes: dict, state, what: str) -> None:
    """InputError unless state holds a tensor of the given shape for every name of shapes, and nothing else."""
    if (
        not isinstance(state, dict)
        or set(state) != set(shapes)
        or any(not isinstance(state[k], Tensor) or tuple(state[k].shape) != shape for k, shape in shapes.items())
    ):
        raise InputError(f"{p}: the {what} weights do not fit the file's settings (damaged file?)")


def _members(p: Path, payload: dict) -> list[Surrogate]:
    """The ensemble members of a checkpoint; InputError when its settings and weights do not fit together."""
    domain, encoder, head, states = (payload.get(k) for k in ("domain", "encoder", "head", "members"))
    check_encoder_config(p, domain, encoder)
    optional = tuple(get_domain(domain).head_options)
    if not isinstance(head, dict) or not set(HEAD_SETTINGS) <= set(head) <= set(HEAD_SETTINGS + optional):
        allowed = f" (and optionally {', '.join(optional)})" if optional else ""
        raise InputError(f"{p}: the head settings must be {', '.join(HEAD_SETTINGS)}{allowed} (damaged file?)")
    _check_settings(p, "head", head)
    if head["hidden"] != encoder["hidden"]:
        raise InputError(f"{p}: head width {head['hidden']} does not match the encoder's {encoder['hidden']}")
    if "nodes" in head and head["nodes"] != encoder.get("graph_nodes"):
        raise InputError(f"{p}: the head's {head['nodes']} graph nodes are not the encoder's (damaged file?)")
    if not isinstance(states, list) or not states:
        raise InputError(f"{p}: the checkpoint holds no ensemble members (damaged file?)")
    shapes = module_shapes(lambda: Surrogate(domain, encoder, head))
    members = []
    for k, state in enumerate(states):
        check_state(p, shapes, state, f"member {k}")
        m = Surrogate(domain, encoder, head)
        m.load_state_dict(state)
        members.append(m)
    return members


def _info(p: Path, payload: dict) -> dict:
    """domain, data_hash, meta, encoder and head of a checkpoint; InputError for values of the wrong kind."""
    data_hash, meta = payload.get("data_hash", ""), payload.get("meta", {})
    if not isinstance(data_hash, str) or not isinstance(meta, dict):
        raise InputError(f"{p}: data_hash must be a string and meta a dict (damaged file?)")
    scales = meta.get("std_scale", {})
    if not isinstance(scales, dict) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in scales.values()
    ):
        raise InputError(f"{p}: meta.std_scale must map target names to numbers (damaged file?)")
    return {
        "domain": payload["domain"],
        "data_hash": data_hash,
        "meta": meta,
        "encoder": payload["encoder"],
        "head": payload["head"],
    }


def load_checkpoint(path: str | os.PathLike, domain: str | None = None) -> tuple[Ensemble, dict]:
    """Load a checkpoint; InputError (one line, naming the file) if it is truncated, of another
    format or version, of another domain than `domain`, or its settings and weights do not fit."""
    p = Path(path)
    payload = read_torch_file(p, "model")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"{p}: not a phenograd surrogate checkpoint")
    if not same(payload.get("format_version"), FORMAT_VERSION):
        raise InputError(
            f"{p}: checkpoint format version {shown(payload.get('format_version'))} is not supported "
            f"(this phenograd reads version {FORMAT_VERSION})"
        )
    if domain is not None and payload.get("domain") != domain:
        raise InputError(f"{p}: a {shown(payload.get('domain'))} model where the {domain} domain's is needed")
    if payload.get("domain") not in domain_names():
        raise InputError(
            f"{p}: unknown model domain {shown(payload.get('domain'))}; this phenograd knows "
            f"{', '.join(domain_names())}"
        )
    payload = upgrade_payload(payload)
    check_graph_version(p, payload.get("domain"), payload.get("graph_version", 1))
    ensemble = Ensemble(_members(p, payload)).eval()
    return ensemble, _info(p, payload)
