"""Multi-fidelity fine-tuning: a few expensive RANS cases on top of a surrogate trained on many XFOIL polars.

RANS cases enter the airfoil surrogate as polars at Ncrit 0 ("fully turbulent"), so the Ncrit input
is the fidelity flag. The recipe, in two stages from the XFOIL-trained ensemble (every member):

1. Forget the Ncrit input if the model never saw it vary (the shipped XFOIL data hold Ncrit 9 only,
   so the head's weights on that input are untrained and would move RANS predictions arbitrarily),
   then train only the output layer's biases: one offset per normalised target, the systematic
   shift between fidelities (fully turbulent RANS: about twice XFOIL's drag at these Reynolds
   numbers, slightly less lift). As BitFit (Ben Zaken et al., ACL 2022); learning the shift first
   is "linear probe, then fine-tune" (Kumar et al., ICLR 2022), which keeps the features intact.
2. Fine-tune every layer at a low learning rate, keeping the stage-1 model unless the validation
   cases say otherwise (with init_model the starting point is a candidate in early stopping).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from .heads import N_CONDITIONS
from .model import Ensemble, load_checkpoint
from .train_airfoil import train_airfoil
from .trainer import TrainConfig

#: Position of Ncrit among the operating-point inputs (alpha, Re, Ncrit; see heads.conditions).
NCRIT_INPUT = 2
#: Stage 1 (output biases): learning rate, epochs at most, patience. Stage 2 (all layers): learning rate.
BIAS_LR, BIAS_EPOCHS, BIAS_PATIENCE = 0.03, 60, 15
FINE_TUNE_LR = 3e-5


def forget_ncrit_input(ensemble: Ensemble) -> Ensemble:
    """Zero every member's head weights on the Ncrit input (in place; returns the ensemble).

    Only for a model trained at a single Ncrit: its predictions at that Ncrit do not change, and at
    any other Ncrit they become the same until training on new data teaches the difference."""
    for member in ensemble.members:
        first = member.head.net[0]
        column = first.in_features - N_CONDITIONS + NCRIT_INPUT
        with torch.no_grad():
            first.weight[:, column] = 0.0
    return ensemble


def fine_tune_airfoil(
    base_path: str | Path,
    data_path: str | Path,
    out: str | Path,
    cfg: TrainConfig,
    bias_lr: float = BIAS_LR,
    bias_epochs: int = BIAS_EPOCHS,
    bias_patience: int = BIAS_PATIENCE,
    progress: bool = False,
) -> dict:
    """Fine-tune the airfoil surrogate at `base_path` on the polars in `data_path` (the recipe above).

    cfg: the stage-2 settings (members, epochs, patience, batch size, seed, lr: keep it low, FINE_TUNE_LR).
    The stage-1 model is written beside `out` as <out>.bias.pt. Returns {"bias": report, "all": report}.
    """
    out = Path(out)
    base = load_checkpoint(base_path, "airfoil")
    forget_ncrit_input(base[0])
    stage1 = out.with_name(out.stem + ".bias.pt")
    bias_cfg = replace(cfg, lr=bias_lr, epochs=bias_epochs, patience=bias_patience)
    first = train_airfoil(data_path, stage1, bias_cfg, progress=progress, init_model=base, train_only="output-bias")
    second = train_airfoil(data_path, out, cfg, progress=progress, init_model=load_checkpoint(stage1, "airfoil"))
    return {"bias": first, "all": second}
