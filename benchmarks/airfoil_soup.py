"""Weight averaging of an airfoil ensemble's members ("model soup"): can one encoder do the work of five?

    .venv/bin/python -m benchmarks.airfoil_soup [--model surrogate/models/airfoil.pt] [--data data/airfoil_v1.db]
        [--refit-epochs 8] [--no-write]

The shipped members are fine-tuned from one pretrained encoder with different seeds. When such fine-tuned models
stay in one basin, the average of their weights predicts about as well as their ensemble at the cost of one model
(Wortsman et al., "Model soups", ICML 2022). Here the members' encoder weights are averaged; the averaged encoder
is scored (validation split, XFOIL-converged points) with every member's own head (an ensemble of heads on one
encoder pass, the cheap case), and with member 0's head refit on the averaged encoder's features
(surrogate/head_refit.py, encoder frozen), against the ensemble, member 0 alone and member 0 given the same refit
(the control). Writes the section "Airfoil member weight averaging (model soup)".
"""

from __future__ import annotations

import argparse
import copy

import torch

from phenograd.surrogate.evaluate import evaluate_airfoil, load_domain_data
from phenograd.surrogate.head_refit import refit_airfoil_head
from phenograd.surrogate.model import Ensemble, load_checkpoint

from .report import machine, publish, today

TITLE = "Airfoil member weight averaging (model soup)"
TARGETS = ("CL", "lnCD", "CM")


def averaged_encoder_state(ensemble: Ensemble) -> dict:
    """The mean of the members' encoder tensors (floating-point ones; the rest taken from member 0)."""
    states = [m.encoder.state_dict() for m in ensemble.members]
    mean = dict(states[0])
    for key, value in states[0].items():
        if value.is_floating_point():
            mean[key] = sum(s[key] for s in states) / len(states)
    return mean


def spread(ensemble: Ensemble, mean: dict) -> tuple[float, list[float]]:
    """|mean| and each member's |member - mean| over the encoder's floating-point tensors (L2 norms)."""
    keys = [k for k, v in mean.items() if v.is_floating_point()]
    norm = float(torch.sqrt(sum((mean[k] ** 2).sum() for k in keys)))
    dists = []
    for m in ensemble.members:
        s = m.encoder.state_dict()
        dists.append(float(torch.sqrt(sum(((s[k] - mean[k]) ** 2).sum() for k in keys))))
    return norm, dists


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="surrogate/models/airfoil.pt")
    ap.add_argument("--data", default="data/airfoil_v1.db")
    ap.add_argument("--refit-epochs", type=int, default=8)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ensemble, info = load_checkpoint(args.model, "airfoil")
    data = load_domain_data(info, args.data)
    train, val = data.shapes_in("train"), data.shapes_in("val")
    config = info["meta"].get("config", {})
    huber, conv_weight = float(config.get("huber_delta", 0.0)), float(config.get("conv_weight", 0.2))

    mean = averaged_encoder_state(ensemble)
    norm, dists = spread(ensemble, mean)
    soup = copy.deepcopy(ensemble)
    for member in soup.members:
        member.encoder.load_state_dict(mean)
    refit_soup = copy.deepcopy(soup.members[0])
    soup_fit = refit_airfoil_head(
        refit_soup, data, train, val, args.refit_epochs, conv_weight, "cpu", 0, huber_delta=huber
    )
    refit_control = copy.deepcopy(ensemble.members[0])
    control_fit = refit_airfoil_head(
        refit_control, data, train, val, args.refit_epochs, conv_weight, "cpu", 0, huber_delta=huber
    )
    arms = [
        (f"ensemble ({len(ensemble.members)} members)", ensemble),
        ("member 0 alone", Ensemble([ensemble.members[0]])),
        ("averaged encoder + every member's head", soup),
        ("averaged encoder + member 0's head", Ensemble([soup.members[0]])),
        (f"averaged encoder + member 0's head refit {args.refit_epochs} epochs", Ensemble([refit_soup])),
        (f"member 0 + its head refit {args.refit_epochs} epochs (control)", Ensemble([refit_control])),
    ]
    rows = []
    for label, model in arms:
        metrics, _ = evaluate_airfoil(model.eval(), data, "val")
        mae = metrics["mae"]
        rows.append(
            f"| {label} | {mae['CL']:.4f} | {mae['lnCD']:.4f} | {mae['CM']:.5f} | {metrics['convergence_auc']:.3f} |"
        )
    body = "\n".join(
        [
            f"Command: `python -m benchmarks.airfoil_soup --model {args.model} --data {args.data} "
            f"--refit-epochs {args.refit_epochs}`  ",
            f"Date: {today()}  ",
            f"Machine: {machine()}; one torch thread.  ",
            f"Model: `{args.model}`; encoder weights: |mean of the members| = {norm:.1f}, each member's distance "
            f"from the mean {', '.join(f'{d:.1f}' for d in dists)} (L2 over every encoder tensor).  ",
            f"Head refits (validation loss, start -> best): averaged encoder {soup_fit['start_val']:.4f} -> "
            f"{soup_fit['best_val']:.4f}; control {control_fit['start_val']:.4f} -> {control_fit['best_val']:.4f}.",
            "",
            f"Validation split ({len(val)} shapes), XFOIL-converged points:",
            "",
            "| model | CL MAE | ln CD MAE | CM MAE | convergence ROC AUC |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )
    publish(TITLE, body, write=not args.no_write)


if __name__ == "__main__":
    main()
