"""Composition search: gradients against finite differences, discretization always valid,
a real search verified with EMT through the command line, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from phenograd.core.errors import InputError
from phenograd.optimize.composition import (
    CompositionProblem,
    SearchSettings,
    check_design,
    discretize_sites,
    optimize_composition,
    round_composition,
    template_slab,
)
from phenograd.optimize.frames import Frame, FrameEvaluator, element_probs, metal_indices
from phenograd.optimize.space import adsorbate_positions
from phenograd.surrogate.graphs import ELEMENTS
from phenograd.surrogate.predict import load_surrogate

METALS = ("Pt", "Cu", "Au", "Ni")


def small(**kw) -> CompositionProblem:
    return CompositionProblem(**{"metals": METALS, "target": -1.0, "size": (2, 2), "layers": 3, **kw})


@pytest.mark.parametrize("model", ["catalyst_model", "catalyst_model_adsorbate_readout"])
def test_objective_gradients_match_finite_differences(model, request):
    """d objective / d per-site logits through the surrogate, against central differences in float64; also
    through the frame evaluator's pruned last layers (the adsorbate readout's)."""
    surrogate = load_surrogate(request.getfixturevalue(model), domain="catalyst")
    for m in surrogate.ensemble.members:
        m.double()
    ev = FrameEvaluator(surrogate)
    problem = small()
    slab, top, _, sites = template_slab(problem)
    frame = Frame.of(slab)
    pos = adsorbate_positions(slab, "O", sites[0].xy)[None]
    cols = torch.as_tensor(metal_indices(METALS))
    base = element_probs(slab.get_chemical_symbols()).double()

    def objective(logits):
        probs = base.clone()
        probs[torch.as_tensor(top)[:, None], cols] = torch.softmax(logits / 0.7, -1)
        probs[
            torch.as_tensor(top)[:, None], torch.as_tensor([c for c in range(len(ELEMENTS)) if c not in cols.tolist()])
        ] = 0.0
        e = ev.mean_std(ev.predict(frame, probs[None], ["O"], pos))[0]
        return ((e - problem.target) ** 2).sum()

    if True:  # the evaluator follows the members' dtype: the check runs in float64 end to end
        logits = torch.randn(len(top), len(METALS), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        x = logits.clone().requires_grad_(True)
        objective(x).backward()
        grad = x.grad
        assert grad.abs().max() > 1e-6
        h = 1e-4
        for i, j in [(0, 0), (1, 2), (len(top) - 1, 3)]:
            e = torch.zeros_like(logits)
            e[i, j] = h
            fd = (objective(logits + e) - objective(logits - e)) / (2 * h)
            assert float(fd) == pytest.approx(float(grad[i, j]), rel=1e-4, abs=1e-8)


def test_rounding_always_yields_valid_compositions():
    rng = np.random.default_rng(0)
    problem = small(mode="global", bounds={"Pt": (0.25, 0.75), "Ni": (0.0, 0.25)}, max_metals=3)
    problem.validate()
    for _ in range(300):
        x = rng.dirichlet(np.full(len(METALS), rng.uniform(0.1, 3)))
        n = int(rng.integers(8, 40))
        comp = round_composition(problem, x, n)
        counts = {el: round(f * n) for el, f in comp.fractions}
        assert sum(counts.values()) == n and len(counts) <= 3
        symbols = [el for el, c in counts.items() for _ in range(c)]
        check_design(problem, symbols)


def test_site_discretization_always_yields_valid_slabs(catalyst_model):
    surrogate = load_surrogate(catalyst_model, domain="catalyst")
    ev = FrameEvaluator(surrogate)
    problem = small(metals=("Cu", "Au", "Ni"), host="Cu")
    slab, top, _, sites = template_slab(problem)
    rng = np.random.default_rng(1)
    for trial in range(3):
        probs = rng.dirichlet(np.ones(3) * 0.5, size=(2, len(top)))
        designs = discretize_sites(problem, ev, probs, (slab, top, sites[0]), n_samples=8, seed=trial)
        assert designs and [d.score for d in designs] == sorted(d.score for d in designs)
        for d in designs:
            tags = d.atoms.get_tags()
            metals = [s for s, t in zip(d.atoms.get_chemical_symbols(), tags) if t != 2]
            check_design(problem, metals)
            assert len(metals) == len(slab) and (tags == 2).sum() == 1
            assert d.atoms.get_chemical_symbols()[-1] == "O"


@pytest.mark.slow
def test_search_moves_toward_the_target_and_global_mode_honours_constraints(catalyst_model):
    surrogate = load_surrogate(catalyst_model, domain="catalyst")
    problem = small()
    r = optimize_composition(problem, surrogate, SearchSettings(steps=40, restarts=2), verify=0)
    first = np.mean([abs(h["e_pred"] - problem.target) for h in r.history[:3]])
    assert abs(r.designs[0].e_pred - problem.target) <= first + 1e-6
    g = small(mode="global", bounds={"Pt": (0.25, 1.0)}, max_metals=2)
    rg = optimize_composition(g, surrogate, SearchSettings(steps=30, samples=2), verify=0)
    assert abs(rg.probs.sum() - 1) < 1e-5 and rg.probs[0] >= 0.25 - 1e-6
    for d in rg.designs:
        assert len(d.composition) <= 2 and d.composition.get("Pt", 0) >= 0.25 - 1 / 12


@pytest.mark.slow
def test_cli_designs_and_verifies_with_emt(tmp_path, capsys, catalyst_model):
    from phenograd.cli import main

    out = tmp_path / "design"
    code = main(
        [
            "optimize",
            "composition",
            "--metals",
            "Pt",
            "Cu",
            "--target",
            "-1.2",
            "--size",
            "2x2",
            "--layers",
            "3",
            "--steps",
            "15",
            "--verify",
            "2",
            "--workers",
            "1",
            "--model",
            str(catalyst_model),
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and "verified" in text
    result = json.loads((out / "result.json").read_text())
    assert len(result["verified"]) == 2 and all(v["e_verified"] is not None for v in result["verified"])
    assert (out / "composition.png").stat().st_size > 1000 and (out / "designs.extxyz").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--metals", "Pt", "Fe", "--target", "-1"], "Fe is not an fcc metal"),
        (["--metals", "Pt", "Ir", "--target", "-1"], "calculator emt cannot handle Ir"),
        (["--metals", "Pt", "Qq", "--target", "-1"], "unknown element"),
        (
            ["--metals", "Pt", "Cu", "--target", "-1", "--mode", "global", "--bounds", "Pt:0.7:1,Cu:0.5:1"],
            "lower bounds",
        ),
        (["--metals", "Pt", "Cu", "--target", "-1", "--bounds", "Pt:0.1"], "bad --bounds"),
        (["--metals", "Pt", "Cu", "--target", "-1", "--site", "hollow"], "does not exist on fcc111"),
        (["--metals", "Pt", "Cu", "--volcano", "x"], "bad --volcano"),
    ],
)
def test_bad_input_gives_one_line_errors(tmp_path, capsys, catalyst_model, args, message):
    from phenograd.cli import main

    out = tmp_path / "o"
    code = main(["optimize", "composition", *args, "--model", str(catalyst_model), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_wrong_domain_and_far_target(tmp_path, capsys, catalyst_model):
    from pathlib import Path

    from phenograd.cli import main

    airfoil = Path(__file__).resolve().parents[1] / "surrogate/models/airfoil.pt"
    code = main(
        [
            "optimize",
            "composition",
            "--metals",
            "Pt",
            "--target",
            "-1",
            "--model",
            str(airfoil),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2 and "airfoil model" in capsys.readouterr().err
    surrogate = load_surrogate(catalyst_model, domain="catalyst")
    r = optimize_composition(small(target=9.0), surrogate, SearchSettings(steps=3, restarts=1), verify=0)
    assert r.flags and "outside the E_ads range" in r.flags[0]
    with pytest.raises(InputError):
        small(target=None).validate()
