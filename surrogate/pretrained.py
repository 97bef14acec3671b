"""Encoders to start training from: a pretrained encoder file, or the encoder of a surrogate.

An encoder file (written by pretraining) is a torch.save'd dict
{"format": "phenograd-encoder", "format_version": 1, "domain": ..., "encoder": config,
"state": state_dict, "meta": {...}}. A surrogate checkpoint of the same domain also
works: its first member's encoder is used (fine-tuning from an existing model). The
name "shipped" stands for the pretrained encoder shipped inside the package
(surrogate/models/<domain>_encoder.pt; see surrogate/models/README.md).
"""

from __future__ import annotations

from pathlib import Path

from phenograd.core.errors import InputError

from .encoder import GeometricEncoder
from .model import (
    FORMAT,
    check_encoder_config,
    check_state,
    load_checkpoint,
    module_shapes,
    read_torch_file,
    same,
    shipped_file,
    shown,
    upgrade_payload,
)

ENCODER_FORMAT = "phenograd-encoder"
ENCODER_FORMAT_VERSION = 1


SHIPPED = "shipped"


def shipped_encoder_path(domain: str) -> Path:
    """The pretrained encoder shipped inside the package for a domain (surrogate/models/<domain>_encoder.pt)."""
    return shipped_file(domain, "encoder")


def load_encoder_state(path, domain: str) -> dict:
    """{"config": encoder config, "state": state_dict, "elements": the elements its weights were trained on (None
    where not recorded)} from an encoder or surrogate file of `domain`,
    or from the shipped pretrained encoder when `path` is "shipped"."""
    p = shipped_encoder_path(domain) if str(path) == SHIPPED else Path(path)
    payload = read_torch_file(p, "encoder")
    kind = payload.get("format") if isinstance(payload, dict) else None
    if kind == FORMAT:
        ensemble, info = load_checkpoint(p, domain)
        return {
            "config": dict(info["encoder"]),
            "state": ensemble.members[0].encoder.state_dict(),
            "elements": info["meta"].get("elements"),
        }
    if kind != ENCODER_FORMAT:
        raise InputError(f"{p}: neither a phenograd encoder nor a surrogate checkpoint")
    if not same(payload.get("format_version"), ENCODER_FORMAT_VERSION):
        raise InputError(
            f"{p}: encoder format version {shown(payload.get('format_version'))} is not supported "
            f"(this phenograd reads version {ENCODER_FORMAT_VERSION})"
        )
    if payload.get("domain") != domain:
        raise InputError(f"{p}: a {shown(payload.get('domain'))} encoder where the {domain} domain's is needed")
    payload = upgrade_payload(payload)
    config, state = payload.get("encoder"), payload.get("state")
    check_encoder_config(p, domain, config)
    check_state(p, module_shapes(lambda: GeometricEncoder(**config)), state, "encoder")
    meta = payload.get("meta") if isinstance(payload.get("meta"), dict) else {}
    return {"config": dict(config), "state": state, "elements": meta.get("elements")}
