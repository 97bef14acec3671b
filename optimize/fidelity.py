"""Which simulator checks a catalyst surrogate: the fidelity its labels came from.

A surrogate trained on CHGNet labels predicts CHGNet's E_ads; verifying it with EMT would compare two
fidelities and call the difference an error. Checkpoints trained since 2026-12-05 record their labels'
calculators (``meta["labels"]``, surrogate.catalyst_data.label_fidelity); older ones (the EMT v1 model)
do not, and are taken to be EMT's, the only calculator of those releases.
"""

from __future__ import annotations

from phenograd.simulators.calculators import EMT_SPEC, calculator_name, calculator_spec


def _labels(info: dict) -> dict:
    labels = (info.get("meta") or {}).get("labels") or {}
    return labels if isinstance(labels, dict) else {}


def learnt_dft(info: dict) -> bool:
    """Whether a catalyst surrogate's last labels were DFT's (fine-tuned on the DFT label set)."""
    return _labels(info).get("protocol") == "dft"


def label_calculators(info: dict) -> list[str]:
    """Calculator specs of the labels a catalyst surrogate learnt (its checkpoint info); [EMT] when unrecorded.
    For DFT labels: the potential whose relaxed geometries they were computed at (the closest calculator that
    relaxes a structure; the DFT itself checks a screen with --verify-dft)."""
    labels = _labels(info)
    if learnt_dft(info):
        return [str(labels.get("geometry") or calculator_spec("chgnet"))]
    found = labels.get("calculators")
    return [str(c) for c in found] if found else [EMT_SPEC]


def verifying_calculator(info: dict, calculator: str | None) -> tuple[str, list[str]]:
    """The calculator spec that verifies a surrogate's predictions, and warnings.

    calculator: an explicit choice (name or module:factory), or None for the surrogate's own label fidelity
    (its single label calculator). A choice that differs from the labels is allowed (e.g. checking a cheap
    model with a better simulator) and flagged, since predicted and verified values then differ by more than
    the model's error."""
    learnt = label_calculators(info)
    spec = calculator_spec(calculator if calculator is not None else (learnt[0] if len(learnt) == 1 else None))
    flags = []
    if learnt_dft(info):
        flags.append(
            f"the model learnt DFT labels ({_labels(info).get('dft', {}).get('describe') or 'GPAW'}) and is verified "
            f"with {calculator_name(spec)}: predicted and verified E_ads are of two fidelities (--verify-dft checks "
            "the best candidates with GPAW)"
        )
    elif spec not in learnt:
        flags.append(
            f"the model learnt {', '.join(calculator_name(c) for c in learnt)} labels and is verified with "
            f"{calculator_name(spec)}: predicted and verified E_ads are of two fidelities"
        )
    return spec, flags
