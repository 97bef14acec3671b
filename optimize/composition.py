"""Gradient-based composition search through the catalyst surrogate, verified by the simulator.

    from phenograd.optimize.composition import CompositionProblem, optimize_composition
    problem = CompositionProblem(metals=("Pt", "Cu", "Ni", "Au"), adsorbate="O", target=-0.3, mode="sites")
    result = optimize_composition(problem, surrogate, verify=3)
    result.verified     # [{"label", "e_pred", "std", "e_verified", "status"}, ...]

Two designs (``mode``):

* ``"sites"``: per-site element logits L (D, M) on the D top-layer sites of a slab
  template of the ``host`` metal (a surface alloy on the host's lattice); the
  other sites stay host. Site probabilities softmax(L / T) go straight into the
  surrogate (it reads element probabilities per atom), so E_ads at the chosen
  adsorption site is differentiable in L. As T anneals to ``t_final`` the
  probabilities become one-hot: a concrete slab.
* ``"global"``: a global alloy composition x = softmax(theta) over the metals. Each
  step draws ``samples`` random decorations as Gumbel-softmax relaxations
  (Jang et al. 2017) of per-site draws from x, at temperature T, and evaluates the
  adsorbate on every site of the chosen kind: the objective is an average over the
  distribution of sites the composition produces (Batchelor et al. 2019; Pedersen et
  al. 2021). The template's lattice constant is Vegard's law of the current x
  (recomputed each annealing stage; not differentiated).

Objectives: ``target`` (mean squared distance of E_ads to it, eV^2) or ``volcano``
(maximise the mean volcano activity, see objectives.Volcano). Constraints (global):
``bounds`` per metal (quadratic penalty, then enforced when rounding), ``max_metals``
(the largest fractions are kept and the rest re-optimised), ``cost`` per metal with
``max_cost`` (penalty on sum cost_m x_m).

Discretization turns the result into concrete slabs (argmax plus samples for
sites; rounded counts and seeded random decorations for global), predicts them
exactly (the surrogate on the real structures, via FrameEvaluator) and ranks them;
``verify`` relaxes the best few with the simulator and reports predicted against
verified.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from phenograd.core.errors import InputError
from phenograd.datasets.catalyst import (
    ADSORBATES,
    Composition,
    SlabSpec,
    adsorption_sites,
    build_slab,
    check_fcc_metals,
    distinct_sites,
    place_adsorbate,
    vegard,
)
from phenograd.simulators.adsorption import TAG_SURFACE, check_elements

from .fidelity import verifying_calculator
from .frames import N_ELEMENTS, Frame, FrameEvaluator, element_probs, metal_indices, seen_range
from .objectives import Volcano
from .space import adsorbate_positions

MODES = ("sites", "global")
MAX_ENERGY = 100.0  # eV: largest |target| or |volcano optimum|; adsorption energies are a few eV
MAX_COST = 1e6  # largest cost per unit fraction (and max_cost); the squared cost penalty stays finite in float32


@dataclass
class CompositionProblem:
    """What to design. Energies in eV; fractions in [0, 1].

    Args:
        metals: allowed metals.
        adsorbate, facet, site: where E_ads is measured (site kind).
        target or volcano: the objective (exactly one).
        mode: "sites" or "global" (module docstring).
        host: template metal for mode "sites" (default: the first metal).
        bounds: {metal: (low, high)} fractions (global).
        max_metals: most metals in the alloy (global).
        cost: {metal: cost per unit fraction} (global).
        max_cost: limit on sum cost x (global).
        size, layers: the slab template.
    """

    metals: tuple[str, ...]
    adsorbate: str = "O"
    target: float | None = None
    volcano: Volcano | None = None
    mode: str = "sites"
    facet: str = "111"
    site: str = "fcc"
    host: str | None = None
    bounds: dict = field(default_factory=dict)
    max_metals: int | None = None
    cost: dict = field(default_factory=dict)
    max_cost: float | None = None
    size: tuple[int, int] = (3, 3)
    layers: int = 4

    def validate(self) -> None:
        if not self.metals or len(set(self.metals)) != len(self.metals):
            raise InputError("metals: give at least one metal, each once")
        check_fcc_metals(self.metals, "metals")  # the calculator's and the model's coverage: optimize_composition
        metal_indices(self.metals)
        if self.mode not in MODES:
            raise InputError(f"mode {self.mode!r}: use sites or global")
        if self.adsorbate not in ADSORBATES:
            raise InputError(f"unknown adsorbate {self.adsorbate!r}: use one of {', '.join(ADSORBATES)}")
        if (self.target is None) == (self.volcano is None):
            raise InputError("give exactly one objective: a target E_ads or a volcano")
        energies = (
            {"target": self.target}
            if self.target is not None
            else {"volcano optimum": self.volcano.optimum, "volcano kT": self.volcano.kT}
        )
        for name, value in energies.items():
            if not (math.isfinite(value) and abs(value) <= MAX_ENERGY):
                raise InputError(f"{name} must be a finite number of eV within ±{MAX_ENERGY:g}, got {value}")
        if self.volcano is not None and not self.volcano.kT > 0:
            raise InputError(f"volcano kT must be positive, got {self.volcano.kT}")
        if self.facet not in ("111", "100"):
            raise InputError(f"facet {self.facet!r}: use 111 or 100")
        kinds = {"111": ("ontop", "bridge", "fcc", "hcp"), "100": ("ontop", "bridge", "hollow")}[self.facet]
        if self.site not in kinds:
            raise InputError(f"site {self.site!r} does not exist on fcc{self.facet} ({', '.join(kinds)})")
        if self.host is not None and self.host not in self.metals:
            raise InputError(f"host {self.host} is not one of the metals")
        for m, (lo, hi) in self.bounds.items():
            if m not in self.metals:
                raise InputError(f"bounds: {m} is not one of the metals")
            if not 0 <= lo <= hi <= 1:
                raise InputError(f"bounds of {m}: need 0 <= low <= high <= 1, got ({lo}, {hi})")
        if sum(lo for lo, _ in self.bounds.values()) > 1 + 1e-9:
            raise InputError("bounds: the lower bounds add up to more than 1")
        if sum(self.bounds.get(m, (0, 1))[1] for m in self.metals) < 1 - 1e-9:
            raise InputError("bounds: the upper bounds add up to less than 1")
        if self.max_metals is not None and not 1 <= self.max_metals <= len(self.metals):
            raise InputError(f"max_metals must be within 1-{len(self.metals)}")
        if self.max_metals is not None and sum(1 for lo, _ in self.bounds.values() if lo > 0) > self.max_metals:
            raise InputError("bounds force more metals than max_metals allows")
        for m, c in self.cost.items():
            if m not in self.metals:
                raise InputError(f"cost: {m} is not one of the metals")
            if not 0 <= c <= MAX_COST:
                raise InputError(f"cost of {m} must be within [0, {MAX_COST:g}], got {c}")
        if self.max_cost is not None and not 0 <= self.max_cost <= MAX_COST:
            raise InputError(f"max_cost must be within [0, {MAX_COST:g}], got {self.max_cost}")
        if self.max_cost is not None and self.max_cost < min(self.cost.get(m, 0.0) for m in self.metals):
            raise InputError(f"max_cost {self.max_cost} is below the cheapest metal's cost: no composition fits")

    def score(self, e):
        """Per-structure score to minimise (eV): |E - target| or the volcano score."""
        if self.volcano is not None:
            return self.volcano.score(e)
        return (e - self.target).abs() if isinstance(e, torch.Tensor) else abs(e - self.target)


@dataclass
class SearchSettings:
    """How the composition search runs.

    Args:
        steps: optimizer steps per stage.
        lr: Adam's learning rate.
        t_start, t_final: the softmax temperature, annealed geometrically from the first to the second.
        samples: global mode: Gumbel-softmax decorations drawn per step.
        restarts: sites mode: independent starts.
        penalty: weight of the constraint penalties.
        sample_t: temperature of the per-site draws that discretize the result.
        seed: for every random draw.
        threads: torch threads while predicting (None: torch's default).
    """

    steps: int = 120
    lr: float = 0.15
    t_start: float = 1.0
    t_final: float = 0.05
    samples: int = 8
    restarts: int = 4
    penalty: float = 50.0
    sample_t: float = 0.3
    seed: int = 0
    threads: int | None = 1


@dataclass
class Design:
    """One concrete, discretized design: its slab, the adsorbate structure, predicted E_ads (eV)."""

    label: str
    slab_symbols: tuple[str, ...]
    atoms: object
    e_pred: float
    std: float
    score: float
    composition: dict


@dataclass
class CompositionResult:
    """history: [{"step", "loss", "T"}]; probs: final site probabilities (sites: (D, M)) or
    fractions (global: (M,)); designs: discretized designs, best first; verified: the
    verified ones [{label, e_pred, std, e_verified, status}]; flags: warnings."""

    problem: CompositionProblem
    history: list
    probs: np.ndarray
    designs: list
    verified: list = field(default_factory=list)
    flags: list = field(default_factory=list)


# ----------------------------------------------------------------------------- templates


def _host(problem: CompositionProblem) -> str:
    return problem.host or problem.metals[0]


def template_slab(problem: CompositionProblem, composition: Composition | None = None):
    """The template slab: pure host (sites mode), or the first metal at Vegard's lattice
    constant of `composition` (global mode). Returns (slab, design site indices (D,), site xy list)."""
    from phenograd.datasets.catalyst import fcc_lattice_constant

    host = _host(problem)
    slab = build_slab(SlabSpec(problem.facet, "pure", Composition(((host, 1.0),)), problem.size, problem.layers))
    if composition is not None:
        a0 = fcc_lattice_constant(host)
        a = vegard(composition)
        slab.set_cell(slab.cell[:] * np.array([[a / a0], [a / a0], [1.0]]), scale_atoms=False)
        z0 = slab.positions[:, 2].min()
        pos = slab.positions.copy()
        pos[:, :2] *= a / a0
        pos[:, 2] = z0 + (pos[:, 2] - z0) * a / a0
        slab.positions = pos
        slab.info["slab"] = {**slab.info["slab"], "a": a}
    tags = slab.get_tags()
    z = slab.positions[:, 2]
    top = np.flatnonzero((tags == TAG_SURFACE) & (z > z.max() - 0.3))
    sites = [s for s in distinct_sites(adsorption_sites(slab)) if s.kind == problem.site]
    all_sites = [s for s in adsorption_sites(slab) if s.kind == problem.site]
    return slab, top, sites, all_sites


def _centre_site(slab, sites):
    """The site nearest the cell centre (its neighbourhood is inside the design region)."""
    centre = 0.5 * (slab.cell[0, :2] + slab.cell[1, :2])
    return min(sites, key=lambda s: np.hypot(s.xy[0] - centre[0], s.xy[1] - centre[1]))


# ----------------------------------------------------------------------------- search


def _temperatures(s: SearchSettings) -> np.ndarray:
    return s.t_start * (s.t_final / s.t_start) ** (np.arange(s.steps) / max(1, s.steps - 1))


def _loss(problem: CompositionProblem, e: torch.Tensor) -> torch.Tensor:
    if problem.volcano is not None:
        return -problem.volcano.activity(e).mean()
    return ((e - problem.target) ** 2).mean()


def optimize_sites(problem: CompositionProblem, evaluator: FrameEvaluator, settings: SearchSettings):
    """Anneal per-site logits (restarts, D, M) on the host template. Returns (history, probs
    (restarts, D, M) at temperature sample_t for discretization, template info)."""
    slab, top, _, all_sites = template_slab(problem)
    site = _centre_site(slab, all_sites)
    frame = Frame.of(slab)
    cols = metal_indices(problem.metals)
    base = element_probs(slab.get_chemical_symbols())  # (S, E)
    pos = adsorbate_positions(slab, problem.adsorbate, site.xy)
    symbols = ADSORBATES[problem.adsorbate].get_chemical_symbols()
    g = torch.Generator().manual_seed(settings.seed)
    logits = (0.5 * torch.randn(settings.restarts, len(top), len(cols), generator=g)).requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=settings.lr)
    history = []
    embed = torch.zeros(len(cols), N_ELEMENTS)
    embed[torch.arange(len(cols)), torch.as_tensor(cols)] = 1.0
    top_t = torch.as_tensor(top)
    for step, t in enumerate(_temperatures(settings)):
        p = torch.softmax(logits / float(t), -1)  # (R, D, M)
        probs = base.expand(settings.restarts, -1, -1).clone()
        probs[:, top_t] = p @ embed
        e = evaluator.mean_std(evaluator.predict(frame, probs, symbols, np.repeat(pos[None], settings.restarts, 0)))[0]
        losses = ((e - problem.target) ** 2) if problem.volcano is None else -problem.volcano.activity(e)
        loss = losses.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(
            {
                "step": step,
                "loss": float(losses.detach().min()),
                "T": float(t),
                "e_pred": float(e.detach()[losses.argmin()]),
            }
        )
    with torch.no_grad():
        final = torch.softmax(logits / max(float(settings.t_final), settings.sample_t), -1).numpy()
    return history, final, (slab, top, site)


def _fractions(theta: torch.Tensor, lows: torch.Tensor) -> torch.Tensor:
    """Fractions (M,) >= the lower bounds, summing to 1."""
    return lows + (1 - lows.sum()) * torch.softmax(theta, -1)


def optimize_global(
    problem: CompositionProblem, evaluator: FrameEvaluator, settings: SearchSettings, active: list[int] | None = None
):
    """Anneal a global composition (fractions over the active metals). Returns (history, x (M,))."""
    m = len(problem.metals)
    active = list(range(m)) if active is None else active
    cols = torch.as_tensor(metal_indices([problem.metals[i] for i in active]))
    lows = torch.tensor([problem.bounds.get(problem.metals[i], (0.0, 1.0))[0] for i in active])
    highs = torch.tensor([problem.bounds.get(problem.metals[i], (0.0, 1.0))[1] for i in active])
    costs = torch.tensor([problem.cost.get(problem.metals[i], 0.0) for i in active])
    g = torch.Generator().manual_seed(settings.seed)
    theta = (0.1 * torch.randn(len(active), generator=g)).requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=settings.lr)
    symbols = ADSORBATES[problem.adsorbate].get_chemical_symbols()
    history = []
    temps = _temperatures(settings)
    frame = slab = None
    for step, t in enumerate(temps):
        x = _fractions(theta, lows)
        if step % 20 == 0:  # re-centre the template on Vegard's lattice constant of the current x
            comp = Composition(tuple((problem.metals[i], float(v)) for i, v in zip(active, x.detach()) if v > 1e-6))
            comp = Composition(tuple((el, v / sum(f for _, f in comp.fractions)) for el, v in comp.fractions))
            slab, _, _, all_sites = template_slab(problem, comp)
            frame = Frame.of(slab)
            pos = np.stack([adsorbate_positions(slab, problem.adsorbate, s.xy) for s in all_sites])
        n_sites = len(slab)
        gumbel = -torch.log(
            -torch.log(torch.rand(settings.samples, n_sites, len(active), generator=g).clamp(1e-9, 1 - 1e-9))
        )
        p = torch.softmax((torch.log(x.clamp_min(1e-9)) + gumbel) / float(t), -1)  # (K, S, M)
        probs = torch.zeros(settings.samples, n_sites, N_ELEMENTS)
        probs[:, :, cols] = p
        k, n = settings.samples, len(pos)
        probs = probs.repeat_interleave(n, 0)
        e = evaluator.mean_std(evaluator.predict(frame, probs, symbols, np.tile(pos, (k, 1, 1))))[0]
        loss = _loss(problem, e)
        penalty = (torch.relu(x - highs) ** 2).sum()
        if problem.max_cost is not None:
            penalty = penalty + torch.relu((costs * x).sum() - problem.max_cost) ** 2
        total = loss + settings.penalty * penalty
        opt.zero_grad()
        total.backward()
        opt.step()
        history.append({"step": step, "loss": float(loss.detach()), "T": float(t), "e_pred": float(e.detach().mean())})
    x = np.zeros(m)
    x[active] = _fractions(theta, lows).detach().numpy()
    return history, x


# ----------------------------------------------------------------------------- discretization


def keep_metals(problem: CompositionProblem, x: np.ndarray) -> list[int]:
    """Indices of the max_metals metals to keep: those with a positive lower bound, then the largest x."""
    forced = [i for i, m in enumerate(problem.metals) if problem.bounds.get(m, (0, 1))[0] > 0]
    rest = [int(i) for i in np.argsort(-np.asarray(x), kind="stable") if int(i) not in forced]
    return sorted(forced + rest[: max(0, problem.max_metals - len(forced))])


def round_composition(problem: CompositionProblem, x: np.ndarray, n_sites: int) -> Composition:
    """Whole-atom composition for n_sites from fractions x (M,): keep max_metals, round by
    largest remainder, then move atoms to honour bounds and the cost limit where possible."""
    x = np.asarray(x, float).clip(0)
    if problem.max_metals is not None:
        keep = keep_metals(problem, x)
        x = np.where(np.isin(np.arange(len(x)), keep), x, 0.0)
    x = x / x.sum()
    raw = x * n_sites
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n_sites - counts.sum()]:
        counts[i] += 1
    lo = np.array([math.ceil(problem.bounds.get(m, (0, 1))[0] * n_sites - 1e-9) for m in problem.metals])
    hi = np.array([math.floor(problem.bounds.get(m, (0, 1))[1] * n_sites + 1e-9) for m in problem.metals])
    usable = (x > 0) | (lo > 0)  # metals dropped by max_metals stay dropped
    for _ in range(n_sites):
        under, over = np.flatnonzero(counts < lo), np.flatnonzero(counts > hi)
        if not len(under) and not len(over):
            break
        src = over[0] if len(over) else int(np.argmax(counts - lo))
        room = np.flatnonzero(usable & (counts < hi) & (np.arange(len(x)) != src))
        if len(under):
            dst = under[0]
        elif len(room):
            dst = room[np.argmax(x[room])]
        else:
            break
        counts[src] -= 1
        counts[dst] += 1
    return Composition(tuple((m, c / n_sites) for m, c in zip(problem.metals, counts) if c > 0))


def check_design(problem: CompositionProblem, symbols) -> None:
    """AssertionError unless a concrete slab uses only allowed metals (and, for global designs,
    honours bounds, max_metals and max_cost within one atom's rounding)."""
    symbols = list(symbols)
    assert set(symbols) <= set(problem.metals), f"slab uses metals outside {problem.metals}: {set(symbols)}"
    if problem.mode != "global":
        return
    n = len(symbols)
    frac = {m: symbols.count(m) / n for m in problem.metals}
    if problem.max_metals is not None:
        assert sum(v > 0 for v in frac.values()) <= problem.max_metals
    for m, (lo, hi) in problem.bounds.items():
        assert lo - 1.0 / n - 1e-9 <= frac[m] <= hi + 1.0 / n + 1e-9, (m, frac[m], lo, hi)


def _predict_designs(problem, evaluator, slabs_and_sites, threads) -> list[Design]:
    """Exact predictions of concrete designs: [(slab, site_xy, label)] -> Designs, best first."""
    from .screen import torch_threads

    symbols = ADSORBATES[problem.adsorbate].get_chemical_symbols()
    designs = []
    with torch_threads(threads), torch.inference_mode():
        by_frame: dict = {}
        for slab, xy, label in slabs_and_sites:
            by_frame.setdefault(Frame.of(slab).key, []).append((slab, xy, label))
        for items in by_frame.values():
            frame = Frame.of(items[0][0])
            probs = torch.stack([element_probs(s.get_chemical_symbols()) for s, _, _ in items])
            pos = np.stack([adsorbate_positions(s, problem.adsorbate, xy) for s, xy, _ in items])
            mean, std = evaluator.mean_std(evaluator.predict(frame, probs, symbols, pos))
            for (slab, xy, label), e, sd in zip(items, mean.tolist(), std.tolist()):
                syms = tuple(slab.get_chemical_symbols())
                comp = {m: syms.count(m) / len(syms) for m in sorted(set(syms))}
                designs.append(
                    Design(
                        label, syms, place_adsorbate(slab, problem.adsorbate, xy), e, sd, float(problem.score(e)), comp
                    )
                )
    designs.sort(key=lambda d: d.score)
    return designs


def discretize_sites(
    problem, evaluator, probs, template, n_samples: int = 32, seed: int = 0, threads=1
) -> list[Design]:
    """Argmax of every restart, n_samples draws from the site probabilities (restarts, D, M)
    and every single-site change of the consensus argmax, deduplicated and predicted
    exactly. Every design is a valid slab."""
    slab, top, site = template
    rng = np.random.default_rng(seed)
    choices = set()
    for r in range(probs.shape[0]):
        choices.add(tuple(np.argmax(probs[r], -1).tolist()))
        for _ in range(n_samples // probs.shape[0]):
            p = probs[r] / probs[r].sum(-1, keepdims=True)
            choices.add(tuple(int(rng.choice(p.shape[1], p=row)) for row in p))
    best = tuple(np.argmax(probs.mean(0), -1).tolist())
    for d in range(len(best)):  # every single-site change of the consensus design
        for k in range(len(problem.metals)):
            choices.add(best[:d] + (k,) + best[d + 1 :])
    items = []
    for ch in sorted(choices):
        s = slab.copy()
        syms = s.get_chemical_symbols()
        for i, k in zip(top, ch):
            syms[i] = problem.metals[k]
        s.set_chemical_symbols(syms)
        label = "".join(problem.metals[k] for k in ch)
        items.append((s, site.xy, f"top[{label}]"))
    return _predict_designs(problem, evaluator, items, threads)


def discretize_global(problem, evaluator, x, decorations: int = 4, threads=1) -> list[Design]:
    """Round x to whole atoms, build `decorations` seeded random slabs (build_slab) and
    predict the adsorbate on every site of the chosen kind."""
    slab0, _, _, _ = template_slab(problem)
    comp = round_composition(problem, x, len(slab0))
    decoration = "pure" if len(comp.fractions) == 1 else "random"
    items = []
    for seed in range(1 if decoration == "pure" else decorations):
        slab = build_slab(SlabSpec(problem.facet, decoration, comp, problem.size, problem.layers, seed=seed))
        for s in distinct_sites(adsorption_sites(slab)):
            if s.kind == problem.site:
                items.append((slab, s.xy, f"{comp.label()} seed {seed} {s.kind}({s.xy[0]:.2f},{s.xy[1]:.2f})"))
    return _predict_designs(problem, evaluator, items, threads)


# ----------------------------------------------------------------------------- verification


def verify_designs(
    designs, calculator=None, settings=None, workers: int | None = 1, scheduler=None, geometries: list | None = None
) -> list[dict]:
    """Relax designs with the simulator (in parallel); [{label, e_pred, std, e_verified, status}].

    geometries: a list that receives, per design, (relaxed adslab, relaxed clean slab) Atoms, or None when its
    relaxation failed (what a DFT single point at the verified geometry needs).
    """
    from phenograd.datasets.catalyst_generate import Placement, SlabTask, run_slab_task
    from phenograd.simulators.adsorption import RelaxSettings, calculator_spec, clean_slab_of, gas_references
    from phenograd.simulators.parallel import run_unordered

    spec = calculator_spec(calculator)
    settings = settings or RelaxSettings()
    if not designs:
        return []
    refs = gas_references(spec, settings)
    tasks = [
        SlabTask(i, f"s{i}", clean_slab_of(d.atoms), {}, [Placement(f"a{i}", "", "", d.atoms)], spec, settings, refs)
        for i, d in enumerate(designs)
    ]
    out = [None] * len(designs)
    relaxed = [None] * len(designs)
    for i, res in run_unordered(run_slab_task, tasks, workers=workers, scheduler=scheduler):
        r = res.results[0][1]
        d = designs[i]
        out[i] = {
            "label": d.label,
            "e_pred": d.e_pred,
            "std": d.std,
            "status": r.status,
            "e_verified": float(r.e_ads) if r.ok else None,
            "composition": d.composition,
            "anomalies": ",".join(r.anomalies) if r.ok else "",
        }
        if r.ok:
            clean = r.relaxed[r.relaxed.get_tags() != 2]
            clean.positions = res.clean.positions
            relaxed[i] = (r.relaxed, clean)
    if geometries is not None:
        geometries.extend(relaxed)
    return out


def optimize_composition(
    problem: CompositionProblem,
    surrogate,
    settings: SearchSettings | None = None,
    verify: int = 3,
    calculator=None,
    relax=None,
    workers: int | None = 1,
    scheduler=None,
    verify_dft: int = 0,
    dft_settings=None,
) -> CompositionResult:
    """Search, discretize, and verify the best `verify` designs with the simulator (0: none).

    Args:
        problem: what to design (CompositionProblem).
        surrogate: a loaded CatalystSurrogate (load_surrogate(..., domain="catalyst")).
        settings: the search's settings (default SearchSettings()).
        verify: how many of the best discrete designs the simulator relaxes (0: none).
        calculator: the simulator's calculator spec (default: the one whose labels the surrogate learnt,
            optimize.fidelity).
        relax: its RelaxSettings (default RelaxSettings()).
        workers: local processes for the verification (1 runs in this process).
        scheduler: an existing Dask scheduler's address or JSON file; the verification runs there.
        verify_dft: GPAW single points of the best this-many verified designs at their relaxed geometries
            (their entries in ``verified`` gain ``e_dft`` and ``dft_status``); needs `make setup-dft`.
        dft_settings: a simulators.dft.DFTSettings (default: the DFT label set's).
    """
    problem.validate()
    if verify_dft and not verify:
        raise InputError(
            "verify_dft needs verify: DFT runs at the geometries the verification relaxed", parameter="verify_dft"
        )
    settings = settings or SearchSettings()
    evaluator = FrameEvaluator(surrogate)
    calculator, flags = verifying_calculator(surrogate.info, calculator)
    check_elements(problem.metals, calculator, "metals")
    surrogate.check_elements(problem.metals, "metals")
    lo, hi = seen_range(surrogate)
    ref = problem.target if problem.target is not None else problem.volcano.optimum
    if not lo <= ref <= hi:
        flags.append(
            f"target {ref:+.2f} eV is outside the E_ads range the model was trained on "
            f"({lo:+.2f} to {hi:+.2f} eV); the result is an extrapolation"
        )
    from .screen import torch_threads

    with torch_threads(settings.threads):
        if problem.mode == "sites":
            history, probs, template = optimize_sites(problem, evaluator, settings)
            designs = discretize_sites(
                problem, evaluator, probs, template, seed=settings.seed, threads=settings.threads
            )
        else:
            history, x = optimize_global(problem, evaluator, settings)
            if problem.max_metals is not None and (x > 1e-3).sum() > problem.max_metals:
                keep = keep_metals(problem, x)
                more, x = optimize_global(problem, evaluator, settings, active=keep)
                history += [{**h, "step": h["step"] + len(history)} for h in more]
            probs = x
            designs = discretize_global(problem, evaluator, x, threads=settings.threads)
    for d in designs:
        check_design(problem, [s for s, t in zip(d.atoms.get_chemical_symbols(), d.atoms.get_tags()) if t != 2])
    geometries: list = []
    verified = verify_designs(designs[:verify], calculator, relax, workers, scheduler, geometries) if verify else []
    if verify_dft:
        from .verify_dft import dft_verified_designs

        ref = problem.target if problem.target is not None else problem.volcano.optimum
        dft_verified_designs(verified, geometries, verify_dft, ref, dft_settings, workers, scheduler)
    return CompositionResult(problem, history, probs, designs, verified, flags)
