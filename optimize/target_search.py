"""Hit a target adsorption energy with as few simulator calls as possible: the surrogate as the prior mean of a
Gaussian process over site decorations, corrected by every verified design.

    from phenograd.optimize.target_search import search_target
    trace = search_target(problem, evaluator, simulate, tol=0.05, budget=40)
    trace.calls, trace.hit        # simulator calls spent; the design that verified within tol (or None)

The design is the element of each of the D top-layer sites of the ``sites`` template
(composition.template_slab), the adsorbate on the site nearest the cell centre. A surrogate
that is right on average but off by a few tenths of an eV on a given design (its scatter) cannot
pick a design within 0.05 eV of a target by itself. Its errors are correlated, though: two
decorations that differ at a site far from the adsorbate share most of their error. So the
verified energy is modelled as

    E(x) = m(x) + r(x),
    r ~ GP(0, a^2 (beta + u(x) u(x') exp(-sum_i w_i [x_i != x'_i] / ell)) + b^2 (m(x) - t)(m(x') - t) + n^2 [x = x'])

with m the surrogate's ensemble mean and t the target. w_i = exp(-(d_i - d_min) / 1.5 Å) is a site's
weight from its lateral distance d_i to the adsorbate (the sites of the hollow weigh 1; exp of a
weighted Hamming distance is a product of positive-definite kernels on categories, so the kernel is
one). beta is an offset shared by every design (the surrogate's bias on this template), b the
uncertainty of the surrogate's scale (a slope other than 1 between verified and predicted), n the
simulator's own scatter, u(x) = 1, or with ensemble_spread a design's ensemble spread relative to
the pool's median (clipped to 0.5-2), so that designs the ensemble members agree on are trusted
first. a starts as the surrogate's calibrated ensemble spread (median over the pool), b as 0.3 and n
as 0.03 eV; from the first verification on, the marginal likelihood chooses a (up to 8x the spread), ell, b,
n and beta (1, 4 or 16) on a small grid, so that a surrogate that is off by far more than its spread on this
template, wrong in scale, or even anti-correlated, is corrected. Each call
verifies the untried design with the highest probability of landing within tol
of the target under the posterior, Phi((t + tol - mu) / s) - Phi((t - tol - mu) / s).

Candidates: designs drawn from Dirichlet(0.5) compositions (pure-ish corners as well as mixtures),
the gradient search's discretized designs for the target (composition.optimize_sites), and every
one- and two-site change of the three verified designs nearest the target (added as verifications
arrive). The surrogate predicts each candidate once (exactly, on its real structure).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from phenograd.core.errors import InputError
from phenograd.datasets.catalyst import ADSORBATES, place_adsorbate

from .composition import (
    CompositionProblem,
    Design,
    SearchSettings,
    _centre_site,
    discretize_sites,
    optimize_sites,
    template_slab,
    verify_designs,
)
from .frames import Frame, FrameEvaluator, element_probs
from .space import adsorbate_positions

SITE_DECAY = 1.5  # Å: a top-layer site's kernel weight decays by e per 1.5 Å beyond the nearest sites
NUGGET = 0.03  # eV: the simulator's own scatter (a relaxation that ends in a neighbouring minimum); the marginal
# likelihood may lower it to 0.01 or 0.003 eV for a deterministic simulator
# prior std of the slope of verified against predicted E_ads about 1 (a surrogate's scale error); the marginal
# likelihood may raise it to 1 or 3
SLOPE_SD = 0.3
BETA = 1.0  # prior variance of one offset shared by every design, relative to the local part's
# The marginal likelihood's grid. The surrogate's error on one template can be many times its ensemble spread (O on
# Au-rich tops of Pt(111): 0.5-1.0 eV against a median spread of about 0.2 eV), so the amplitude may grow to 8x the
# spread and the shared offset may carry up to 16x the local part's variance.
AMPLITUDES = np.array([0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0])  # times the prior amplitude
LENGTHS = (0.75, 1.5, 3.0, 6.0)  # weighted sites
SLOPES = (SLOPE_SD, 1.0, 3.0)
NUGGETS = (NUGGET, 0.01, 0.003)  # eV
BETAS = (BETA, 4.0, 16.0)


@dataclass
class SearchTrace:
    """What a target search did. verified: [(design symbols (D,), E_pred eV, E_verified eV or None)] in
    call order; hit: the design within tol (or None); calls: simulator calls spent."""

    target: float
    tol: float
    verified: list = field(default_factory=list)
    hit: tuple | None = None

    @property
    def calls(self) -> int:
        return len(self.verified)


def decorate(slab, top, symbols) -> object:
    """A copy of the template slab with the design sites top (D,) set to the elements symbols (D,)."""
    s = slab.copy()
    syms = s.get_chemical_symbols()
    for i, m in zip(top, symbols):
        syms[i] = m
    s.set_chemical_symbols(syms)
    return s


class DesignPredictor:
    """The surrogate's E_ads (ensemble mean, calibrated std; eV) of site decorations of the sites template,
    each on its real structure (the adsorbate placed as the simulator places it). Designs are int arrays
    (n, D) indexing problem.metals; every design is predicted once."""

    def __init__(self, problem: CompositionProblem, evaluator: FrameEvaluator, batch: int = 256):
        self.problem, self.evaluator, self.batch = problem, evaluator, batch
        self.slab, self.top, _, sites = template_slab(problem)
        self.site = _centre_site(self.slab, sites)
        self.frame = Frame.of(self.slab)
        self.symbols = ADSORBATES[problem.adsorbate].get_chemical_symbols()
        self.base = element_probs(self.slab.get_chemical_symbols())  # (S, E)
        self.metal_rows = torch.stack([element_probs([m])[0] for m in problem.metals])  # (M, E)
        self.known: dict[tuple, tuple[float, float]] = {}

    def site_distances(self) -> np.ndarray:
        """(D,) lateral distance (Å, minimum image) of every design site to the adsorption site."""
        cell = self.slab.cell[:2, :2]
        delta = self.slab.positions[self.top, :2] - np.asarray(self.site.xy)[None]
        frac = np.linalg.solve(cell.T, delta.T).T
        frac -= np.round(frac)
        return np.linalg.norm(frac @ cell, axis=1)

    def structure(self, design) -> object:
        """The clean slab of one design (int sequence (D,))."""
        return decorate(self.slab, self.top, [self.problem.metals[k] for k in design])

    def predict(self, designs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and calibrated std (n,) eV of designs (n, D); new ones are evaluated in batches."""
        designs = np.asarray(designs, dtype=np.int64).reshape(-1, len(self.top))
        new = [d for d in dict.fromkeys(map(tuple, designs.tolist())) if d not in self.known]
        top = torch.as_tensor(self.top)
        with torch.no_grad():  # not inference_mode: the evaluator caches frame tensors that a gradient search reuses
            for start in range(0, len(new), self.batch):
                chunk = new[start : start + self.batch]
                idx = torch.as_tensor(chunk)
                probs = self.base.expand(len(chunk), -1, -1).clone()
                probs[:, top] = self.metal_rows[idx]
                pos = np.stack(
                    [adsorbate_positions(self.structure(d), self.problem.adsorbate, self.site.xy) for d in chunk]
                )
                mean, std = self.evaluator.mean_std(self.evaluator.predict(self.frame, probs, self.symbols, pos))
                self.known.update(zip(chunk, zip(mean.tolist(), std.tolist())))
        out = np.array([self.known[tuple(d)] for d in designs.tolist()]).reshape(-1, 2)
        return out[:, 0], out[:, 1]


class ResidualGP:
    """GP regression of verified - predicted E_ads (eV) over site decorations (module docstring).

    Args:
        weights: (D,) per-site weights of the Hamming distance.
        amplitude: prior std of the residual (eV).
        length: the kernel's length in weighted sites.
    """

    def __init__(self, weights: np.ndarray, amplitude: float, centre: float, length: float = 1.5, beta: float = BETA):
        self.w = np.asarray(weights, float)
        self.centre = centre
        self.slope, self.nugget = SLOPE_SD, NUGGET
        self.amplitude, self.length, self.beta = amplitude, length, beta
        self.prior_amplitude = amplitude
        self.x = np.zeros((0, len(self.w)), np.int64)
        self.r = np.zeros(0)
        self.m = np.zeros(0)
        self.u = np.zeros(0)

    def kernel(self, a, ma, ua, b, mb, ub, amplitude: float, length: float, beta: float, slope: float) -> np.ndarray:
        """(na, nb) prior covariance (eV^2) of the residuals of designs a (na, D), b (nb, D) with predictions
        ma (na,), mb (nb,) eV and relative uncertainties ua (na,), ub (nb,)."""
        hamming = (a[:, None, :] != b[None, :, :]) @ self.w  # weighted sites that differ
        local = np.outer(ua, ub) * np.exp(-hamming / length)
        return amplitude**2 * (beta + local) + slope**2 * np.outer(ma - self.centre, mb - self.centre)

    def _solve(self, amplitude: float, length: float, beta: float, slope: float, nugget: float):
        k = self.kernel(self.x, self.m, self.u, self.x, self.m, self.u, amplitude, length, beta, slope)
        k += nugget**2 * np.eye(len(self.r))
        chol = np.linalg.cholesky(k)
        alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, self.r))
        return chol, alpha

    def fit(self, x: np.ndarray, m: np.ndarray, r: np.ndarray, u: np.ndarray | None = None, select: bool = True):
        """Condition on designs x (n, D) predicted m (n,) eV, relative uncertainty u (n,; default 1), with
        residuals r (n,) eV; with select the amplitude, length, slope std, nugget and offset share are chosen by the
        marginal likelihood on a small grid around the prior's (from the first verification on)."""
        self.x, self.r = np.asarray(x, np.int64).reshape(-1, len(self.w)), np.asarray(r, float)
        self.m = np.asarray(m, float)
        self.u = np.ones(len(self.r)) if u is None else np.asarray(u, float)
        if select and len(self.r):
            best = None
            for amplitude, length, slope, nugget, beta in itertools.product(
                self.prior_amplitude * AMPLITUDES, LENGTHS, SLOPES, NUGGETS, BETAS
            ):
                chol, alpha = self._solve(amplitude, length, beta, slope, nugget)
                loglik = -0.5 * self.r @ alpha - np.log(np.diag(chol)).sum()
                if best is None or loglik > best[0]:
                    best = (loglik, amplitude, length, slope, nugget, beta)
            self.amplitude, self.length, self.slope, self.nugget, self.beta = best[1:]

    def predict(self, xq: np.ndarray, mq: np.ndarray, uq: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std (eV) of the residual at designs xq (n, D) predicted mq (n,) eV with relative
        uncertainty uq (n,; default 1), simulator scatter included."""
        uq = np.ones(len(mq)) if uq is None else np.asarray(uq, float)
        prior = self.amplitude**2 * (self.beta + uq**2) + self.slope**2 * (mq - self.centre) ** 2 + self.nugget**2
        if len(self.r) == 0:
            return np.zeros(len(xq)), np.sqrt(prior)
        chol, alpha = self._solve(self.amplitude, self.length, self.beta, self.slope, self.nugget)
        xq = np.asarray(xq, np.int64)
        kq = self.kernel(xq, mq, uq, self.x, self.m, self.u, self.amplitude, self.length, self.beta, self.slope)
        v = np.linalg.solve(chol, kq.T)  # (N, n)
        var = np.maximum(prior - (v**2).sum(0), self.nugget**2)
        return kq @ alpha, np.sqrt(var)


def hit_probability(mu: np.ndarray, sigma: np.ndarray, target: float, tol: float) -> np.ndarray:
    """P(|E - target| <= tol) for E ~ N(mu, sigma^2), elementwise."""
    from scipy.stats import norm

    return norm.cdf((target + tol - mu) / sigma) - norm.cdf((target - tol - mu) / sigma)


def neighbours(design: tuple, n_metals: int, changes: int) -> np.ndarray:
    """Every design that differs from `design` at exactly 1..changes sites (n, D)."""
    out = []
    d = len(design)
    for k in range(1, changes + 1):
        for sites in itertools.combinations(range(d), k):
            for metals in itertools.product(range(n_metals), repeat=k):
                if all(design[s] != m for s, m in zip(sites, metals)):
                    x = list(design)
                    for s, m in zip(sites, metals):
                        x[s] = m
                    out.append(x)
    return np.asarray(out, np.int64).reshape(-1, d)


def search_target(
    problem: CompositionProblem,
    evaluator: FrameEvaluator,
    simulate: Callable[[tuple[str, ...]], float | None],
    tol: float,
    budget: int,
    seed: int = 0,
    pool: int = 4000,
    gradient_designs: bool = True,
    ensemble_spread: bool = False,
) -> SearchTrace:
    """Verify designs one at a time until one lands within tol (eV) of problem.target or budget calls are spent.

    Args:
        problem: a sites-mode CompositionProblem with a target.
        evaluator: the surrogate's FrameEvaluator.
        simulate: design symbols (D,) -> verified E_ads (eV), None when the simulation failed.
        tol: success tolerance (eV).
        budget: most simulator calls.
        seed: of the random candidates and the gradient search.
        pool: random candidates (Dirichlet(0.5) compositions, sites drawn from each).
        gradient_designs: add the gradient search's discretized designs for the target.
        ensemble_spread: scale each design's local prior std by its ensemble spread relative to the pool's median
            (clipped to 0.5-2), so that designs the ensemble agrees on are trusted first. Off by default: on the
            CHGNet composition benchmark (O on Pt-Pd-Cu-Ni-Ag-Au(111)) its first five runs took 18, 9, 4, 5 and 8
            calls against 9, 13, 7, ... without, no clear gain for the shipped 3-member ensemble.
    """
    if problem.mode != "sites" or problem.target is None:
        raise ValueError("search_target needs a sites-mode problem with a target")
    predictor = DesignPredictor(problem, evaluator)
    n_sites, n_metals = len(predictor.top), len(problem.metals)
    rng = np.random.default_rng(seed)
    fractions = rng.dirichlet(np.full(n_metals, 0.5), size=pool)
    candidates = [np.array([rng.choice(n_metals, size=n_sites, p=f) for f in fractions])]
    if gradient_designs:
        _, probs, template = optimize_sites(problem, evaluator, SearchSettings(seed=seed))
        index = {m: k for k, m in enumerate(problem.metals)}
        for d in discretize_sites(problem, evaluator, probs, template, n_samples=64, seed=seed):
            candidates.append(np.array([[index[d.slab_symbols[i]] for i in predictor.top]]))
    x = np.unique(np.concatenate(candidates), axis=0)
    m, s = predictor.predict(x)
    distances = predictor.site_distances()
    weights = np.exp(-(distances - distances.min()) / SITE_DECAY)
    median = float(np.median(s))
    if not median > 0:  # the residual prior's amplitude starts from the ensemble's spread
        raise InputError(
            "composition search needs a model with an ensemble spread (this one has none: one member?); "
            "use an ensemble such as the shipped catalyst.pt"
        )
    gp = ResidualGP(weights, amplitude=median, centre=problem.target)

    def relative(spread: np.ndarray) -> np.ndarray:
        return np.clip(spread / median, 0.5, 2.0) if ensemble_spread and median > 0 else np.ones(len(spread))

    trace = SearchTrace(problem.target, tol)
    tried: set[tuple] = set()
    xs, ms, us, rs, es = [], [], [], [], []
    while trace.calls < budget:
        u = relative(s)
        mu_r, sd_r = gp.predict(x, m, u)
        p = hit_probability(m + mu_r, sd_r, problem.target, tol)
        order = np.argsort(-p, kind="stable")
        pick = next((int(i) for i in order if tuple(x[i].tolist()) not in tried), None)
        if pick is None:
            break
        design = tuple(x[pick].tolist())
        tried.add(design)
        e = simulate(tuple(problem.metals[k] for k in design))
        trace.verified.append((tuple(problem.metals[k] for k in design), float(m[pick]), e))
        if e is None:
            continue
        if abs(e - problem.target) <= tol:
            trace.hit = trace.verified[-1][0]
            break
        xs.append(design)
        ms.append(float(m[pick]))
        us.append(float(u[pick]))
        rs.append(e - float(m[pick]))
        es.append(e)
        gp.fit(np.array(xs), np.array(ms), np.array(rs), np.array(us))
        nearest = sorted(range(len(xs)), key=lambda j: abs(es[j] - problem.target))[:3]
        local = np.concatenate([neighbours(xs[j], n_metals, 2) for j in nearest])
        x = np.unique(np.concatenate([x, local]), axis=0)
        m, s = predictor.predict(x)
    return trace


def verifying_simulator(
    problem: CompositionProblem, calculator: str | None = None, relax=None
) -> Callable[[tuple[str, ...]], float | None]:
    """A simulate(symbols) for search_target: the design's adslab on the sites template, relaxed with the calculator
    (composition.verify_designs: adslab and clean slab, E_ads in eV; None when the relaxation failed). Each call's
    record (label, status, anomalies) is appended to the function's ``records`` list."""
    slab, top, _, sites = template_slab(problem)
    site = _centre_site(slab, sites)
    records: list[dict] = []

    def simulate(symbols: tuple[str, ...]) -> float | None:
        design = decorate(slab, top, symbols)
        label = f"top[{''.join(symbols)}]"
        atoms = place_adsorbate(design, problem.adsorbate, site.xy)
        nan = float("nan")
        slab_symbols = tuple(design.get_chemical_symbols())
        record = verify_designs([Design(label, slab_symbols, atoms, nan, nan, nan, {})], calculator, relax)[0]
        records.append(record)
        return record["e_verified"]

    simulate.records = records
    return simulate
