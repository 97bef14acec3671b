"""Target search over site decorations: the residual Gaussian process conditions as it should, the candidate
neighbourhoods are complete, and a real search with EMT as the simulator verifies a reachable target."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm

from phenograd.optimize.composition import CompositionProblem, _predict_designs
from phenograd.optimize.frames import FrameEvaluator
from phenograd.optimize.target_search import (
    NUGGET,
    DesignPredictor,
    ResidualGP,
    hit_probability,
    neighbours,
    search_target,
)
from phenograd.simulators.adsorption import adsorption_energy, gas_references
from phenograd.surrogate.predict import load_surrogate


def test_residual_gp_learns_an_offset_and_stays_unsure_far_from_what_it_saw():
    gp = ResidualGP(np.array([1.0, 1.0, 0.3, 0.3]), amplitude=0.5, centre=0.0)
    seen = np.array([[0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    gp.fit(seen, m=np.zeros(3), r=np.array([0.30, 0.32, 0.28]), select=False)
    mu, sd = gp.predict(seen, np.zeros(3))
    assert np.allclose(mu, [0.30, 0.32, 0.28], atol=0.02) and (sd < 0.06).all()
    far = np.array([[2, 2, 2, 2]])
    mu_far, sd_far = gp.predict(far, np.zeros(1))
    assert 0.1 < mu_far[0] < 0.3  # the shared offset carries over, shrunk towards the prior's zero
    assert sd_far[0] > 3 * sd.max()
    # the slope term: a design predicted 1 eV from the centre is less certain than one at the centre
    _, sd_off = gp.predict(far, np.ones(1))
    assert sd_off[0] > sd_far[0]
    # the marginal likelihood picks a smaller amplitude for residuals this alike
    gp.fit(seen, m=np.zeros(3), r=np.array([0.30, 0.32, 0.28]))
    assert gp.amplitude < 0.5 and NUGGET < sd_far[0]


def test_one_residual_far_beyond_the_spread_moves_the_whole_template():
    """A surrogate off by 1 eV where its spread says 0.2: after one verification the marginal likelihood widens the
    prior and gives most of the residual to the offset every design shares (the earlier fixed prior kept 0.58 eV of
    it here)."""
    gp = ResidualGP(np.array([1.0, 1.0, 0.3, 0.3]), amplitude=0.2, centre=0.0)
    gp.fit(np.array([[0, 0, 0, 0]]), m=np.zeros(1), r=np.array([1.0]))
    mu_far, sd_far = gp.predict(np.array([[2, 2, 2, 2]]), np.zeros(1))
    assert mu_far[0] > 0.7 and sd_far[0] > 0.2
    assert gp.amplitude > 0.2


def test_hit_probability_is_the_normal_mass_inside_the_window():
    for mu, s in [(0.0, 0.1), (0.3, 0.05), (-1.0, 2.0)]:
        exact, _ = quad(lambda e: norm.pdf(e, mu, s), 0.2 - 0.05, 0.2 + 0.05)
        assert hit_probability(np.array([mu]), np.array([s]), 0.2, 0.05)[0] == pytest.approx(exact, abs=1e-9)


def test_neighbours_are_every_design_one_or_two_sites_away():
    design = (0, 1, 2, 0)
    out = neighbours(design, 3, 2)
    assert len(out) == 4 * 2 + 6 * 4  # D (M-1) + C(D, 2) (M-1)^2
    differing = (out != np.array(design)).sum(1)
    assert set(differing.tolist()) == {1, 2} and len({tuple(x) for x in out.tolist()}) == len(out)
    every = [x for x in itertools.product(range(3), repeat=4) if 1 <= sum(a != b for a, b in zip(x, design)) <= 2]
    assert sorted(map(tuple, out.tolist())) == sorted(every)


def test_design_predictor_matches_the_composition_search_on_real_structures(catalyst_model):
    """The batched predictor against composition._predict_designs, which places the adsorbate on each built slab."""
    problem = CompositionProblem(metals=("Pt", "Cu", "Au"), target=-1.0, size=(2, 2), layers=3)
    evaluator = FrameEvaluator(load_surrogate(catalyst_model, domain="catalyst"))
    predictor = DesignPredictor(problem, evaluator, batch=3)
    designs = np.random.default_rng(0).integers(0, 3, size=(7, len(predictor.top)))
    mean, std = predictor.predict(np.concatenate([designs, designs[:2]]))
    assert len(predictor.known) == len({tuple(d) for d in designs.tolist()})  # each design predicted once
    items = [(predictor.structure(d), predictor.site.xy, str(k)) for k, d in enumerate(designs)]
    reference = {int(d.label): d for d in _predict_designs(problem, evaluator, items, threads=1)}
    for k in range(len(designs)):
        assert mean[k] == pytest.approx(reference[k].e_pred, abs=1e-5)
        assert std[k] == pytest.approx(reference[k].std, abs=1e-5)
    assert mean[7:] == pytest.approx(mean[:2])


@pytest.mark.slow
def test_search_verifies_a_reachable_target_with_emt(catalyst_model):
    """An untrained surrogate (wrong by an offset and a scale): the Gaussian process has to learn the truth from the
    verifications. The target is EMT's E_ads of one design of the space, so it is reachable."""
    problem = CompositionProblem(metals=("Pt", "Cu", "Au", "Ni"), target=0.0, size=(2, 2), layers=3)
    evaluator = FrameEvaluator(load_surrogate(catalyst_model, domain="catalyst"))
    predictor = DesignPredictor(problem, evaluator)
    refs = gas_references("emt")
    calls = []

    def simulate(symbols):
        calls.append(symbols)
        slab = predictor.structure([problem.metals.index(m) for m in symbols])
        from phenograd.datasets.catalyst import place_adsorbate

        result = adsorption_energy(place_adsorbate(slab, "O", predictor.site.xy), "emt", references=refs)
        return result.e_ads if result.ok else None

    problem.target = simulate(("Cu", "Au", "Pt", "Cu"))
    calls.clear()
    trace = search_target(problem, evaluator, simulate, tol=0.01, budget=25, seed=0, pool=300)
    assert trace.hit is not None and trace.calls == len(calls) <= 25
    assert len(set(calls)) == len(calls)  # nothing verified twice
    symbols, _, e = trace.verified[-1]
    assert symbols == trace.hit and abs(e - problem.target) <= 0.01
    assert all(abs(e - problem.target) > 0.01 for _, _, e in trace.verified[:-1] if e is not None)


@pytest.mark.slow
def test_cli_searches_until_within_the_tolerance_with_emt(tmp_path, capsys, catalyst_model):
    from phenograd.cli import main
    from phenograd.optimize.target_search import verifying_simulator

    metals = ("Pt", "Cu", "Au", "Ni")
    problem = CompositionProblem(metals=metals, target=0.0, size=(2, 2), layers=3)
    target = verifying_simulator(problem, "emt")(("Cu", "Au", "Pt", "Cu"))
    out = tmp_path / "search"
    args = ["optimize", "composition", "--metals", *metals, "--target", f"{target:.6f}", "--size", "2x2"]
    args += ["--layers", "3", "--calculator", "emt", "--model", str(catalyst_model), "--out", str(out)]
    code = main([*args, "--until-within", "0.01", "--verify", "40"])
    text = capsys.readouterr().out
    search = json.loads((out / "result.json").read_text())["search"]
    assert code == 0 and "within 0.01 eV" in text and search["hit"] is not None
    assert search["calls"] == len(search["verified"]) <= 40
    assert abs(search["verified"][-1]["e_verified"] - target) <= 0.01 + 1e-6
    assert search["verified"][-1]["symbols"] == search["hit"]

    code = main([*args[:-1], str(tmp_path / "bad"), "--until-within", "0.01", "--mode", "global"])
    err = capsys.readouterr().err
    assert code == 2 and "--until-within needs --mode sites" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()


def test_a_model_without_spread_is_refused_in_one_line(catalyst_model, tmp_path):
    """The residual prior starts from the ensemble's spread: a one-member model (a distilled student) has none."""
    import torch

    from phenograd.core.errors import InputError
    from phenograd.surrogate.model import load_checkpoint, save_checkpoint

    ensemble, info = load_checkpoint(catalyst_model, domain="catalyst")
    ensemble.members = torch.nn.ModuleList(ensemble.members[:1])
    single = tmp_path / "single.pt"
    save_checkpoint(single, ensemble, info["data_hash"], info["meta"])
    problem = CompositionProblem(metals=("Pt", "Cu", "Au", "Ni"), target=0.0, size=(2, 2), layers=3)
    evaluator = FrameEvaluator(load_surrogate(single, domain="catalyst"))
    with pytest.raises(InputError, match="ensemble spread"):
        search_target(problem, evaluator, lambda symbols: 0.0, tol=0.01, budget=3, seed=0, pool=50)
