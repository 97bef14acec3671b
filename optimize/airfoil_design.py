"""The airfoil design vector and everything evaluated on it, with exact Jacobians.

Design vector x (numpy, float64): the free CST entries (fixed ones, e.g. a sharp
trailing edge, are held at their value) followed by alpha/10 of every point whose
angle is a design variable (scaled so that all entries are of order 0.1-1 for the solver).

With the problem's solver.angles "solved" (the default), a point with a target CL and no
fixed angle is not a design variable: every evaluation solves its angle for the target
(the lowest angle where the surrogate's CL curve crosses it, refined by Newton's method on
the heads with the shape's encoding fixed), and the angle enters the autograd graph as
alpha* - (CL(x, alpha*) - target) / (dCL/dalpha), whose value is alpha* and whose
derivative is the implicit function theorem's -(dCL/dx) / (dCL/dalpha). The solver then
sees no CL equality rows: the Daedalus problem needs 2 reverse passes through the encoder
per iterate (objective and the aggregated inequalities) instead of 8. A target the shape
cannot reach within the angle bounds is kept out of the feasible set by reach rows inside
that aggregate (CL max over the bounds >= target and CL at the lowest angle <= target).

`DesignEvaluator.at(x)` runs the surrogate once at x and returns every quantity
the solver needs (objective, equality and inequality constraint vectors) with
their Jacobians from torch autograd; results are cached per x, because scipy
asks for the objective, its gradient and each constraint separately at the same x.
Inequalities follow scipy's convention: g(x) >= 0 is feasible.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from phenograd.core.errors import InputError
from phenograd.datasets.cst import CST_NAMES, N_CST, N_WEIGHTS

from . import airfoil_geometry as geom
from .airfoil_problem import AirfoilProblem

ALPHA_SCALE = 10.0  # degrees per unit of the design vector
ALPHA_GRID_STEP = 0.5  # degrees between the angles where a solved point's CL curve is searched for its target
NEWTON_STEPS = 8  # at most, per solve; 2-3 reach NEWTON_TOL from the grid's linear interpolation
NEWTON_TOL = 1e-6  # |CL - target| at which a solved angle counts as solved
NEWTON_DIFFERENCE = 1e-2  # degrees: the forward difference of Newton's slope (its error ~1e-3, relative)
REACH_NAME = "target CL within the angle bounds"
CM_TOLERANCE = 1e-3  # the aggregated soft minimum's unit: its CM rows' tolerance (_surrogate_rows)
# CST weight per unit of the design vector: SLSQP's conditioning. Daedalus from NACA 0012 and starts 1e-5 from it
# (the default model, 2026-12-07), median iterations over 8 starts: 54 at 0.25, 65 at 0.2, 79 at 0.15, 67 at 0.5;
# over 4-5 starts: 87 at 2, 103 at 1 (82-158)
CST_SCALE = 0.25


@dataclass
class DesignSpace:
    """Which entries of (CST (18,), alpha (P,)) the solver moves, and their bounds."""

    free_cst: np.ndarray  # indices into the 18 CST entries
    fixed_cst: np.ndarray  # (18,) values used for entries that are not free
    free_alpha: np.ndarray  # indices of points whose alpha is a design variable
    fixed_alpha: np.ndarray  # (P,) fixed angles in degrees (nan where free)
    lower: np.ndarray  # (n,) bounds of x
    upper: np.ndarray
    solved_alpha: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # points solved for CL

    @classmethod
    def build(cls, problem: AirfoilProblem, start_cst: np.ndarray) -> "DesignSpace":
        b = problem.bounds
        lo, hi = np.empty(N_CST), np.empty(N_CST)
        lo[:N_WEIGHTS], hi[:N_WEIGHTS] = b.upper
        lo[N_WEIGHTS : 2 * N_WEIGHTS], hi[N_WEIGHTS : 2 * N_WEIGHTS] = b.lower
        fixed = np.array(start_cst, dtype=float)
        free = np.ones(N_CST, dtype=bool)
        for k, v in ((N_CST - 2, b.le_weight), (N_CST - 1, b.te_thickness)):
            if isinstance(v, (tuple, list)):
                lo[k], hi[k] = v
            else:
                free[k], fixed[k] = False, float(v)
        solve = problem.solver.angles == "solved"
        solved = np.array(
            [k for k, p in enumerate(problem.points) if solve and p.alpha_is_free and p.cl is not None], dtype=int
        )
        free_alpha = np.array(
            [k for k, p in enumerate(problem.points) if p.alpha_is_free and k not in solved], dtype=int
        )
        fixed_alpha = np.array([np.nan if p.alpha is None else p.alpha for p in problem.points], dtype=float)
        a_lo, a_hi = (v / ALPHA_SCALE for v in problem.bounds.alpha)
        lower = np.concatenate([lo[free] / CST_SCALE, np.full(len(free_alpha), a_lo)])
        upper = np.concatenate([hi[free] / CST_SCALE, np.full(len(free_alpha), a_hi)])
        return cls(np.flatnonzero(free), fixed, free_alpha, fixed_alpha, lower, upper, solved)

    @property
    def size(self) -> int:
        return len(self.lower)

    def pack(self, cst: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [np.asarray(cst, float)[self.free_cst] / CST_SCALE, np.asarray(alpha, float)[self.free_alpha] / ALPHA_SCALE]
        )

    def unpack(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """CST (18,) and alpha (P,) in degrees as differentiable functions of x (solved angles: 0, a placeholder
        for DesignEvaluator.predict)."""
        n = len(self.free_cst)
        cst = torch.as_tensor(self.fixed_cst, dtype=x.dtype).clone()
        cst = cst.index_put((torch.as_tensor(self.free_cst),), x[:n] * CST_SCALE)
        alpha = torch.as_tensor(np.nan_to_num(self.fixed_alpha), dtype=x.dtype).clone()
        alpha = alpha.index_put((torch.as_tensor(self.free_alpha, dtype=torch.long),), x[n:] * ALPHA_SCALE)
        return cst, alpha

    def clip(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x, self.lower, self.upper)

    def narrowed(self, low: np.ndarray, high: np.ndarray) -> "DesignSpace":
        """This space with each free CST weight's bounds intersected with [low, high] (18,);
        InputError naming the first weight whose bounds and range do not overlap."""
        n = len(self.free_cst)
        lower, upper = self.lower.copy(), self.upper.copy()
        lower[:n] = np.maximum(lower[:n], np.asarray(low, float)[self.free_cst] / CST_SCALE)
        upper[:n] = np.minimum(upper[:n], np.asarray(high, float)[self.free_cst] / CST_SCALE)
        for j in np.flatnonzero(lower[:n] > upper[:n]):
            k = int(self.free_cst[j])
            raise InputError(
                f"trust.training_range: the bounds of CST weight {CST_NAMES[k]} miss the model's training "
                f"range {low[k]:+.3f} to {high[k]:+.3f}"
            )
        return DesignSpace(
            self.free_cst, self.fixed_cst, self.free_alpha, self.fixed_alpha, lower, upper, self.solved_alpha
        )


def geometry_scalars(cst: torch.Tensor) -> dict[str, torch.Tensor]:
    """Shape quantities an objective expression may use: area (chords²), max_thickness (t/c),
    te_angle (degrees)."""
    return {"area": geom.area(cst), "max_thickness": geom.max_thickness(cst), "te_angle": geom.te_angle(cst)}


def objective_value(problem: AirfoilProblem, q: dict[str, torch.Tensor]) -> torch.Tensor:
    """The problem's objective (to minimise) from per-point quantities q[name] (P,) and the
    shape's scalars (geometry_scalars)."""
    w = q["weight"]
    if problem.objective == "weighted_cd":
        return (w * q["CD"]).sum() / w.sum()
    if problem.objective == "max_cl_cd":
        return -(w * q["CL"] / q["CD"]).sum() / w.sum()
    value = problem.checked_expression.evaluate(q)  # the tree checked when the problem was made, never eval
    if value.numel() != 1:
        raise InputError(
            f"objective expression {problem.expression!r} must give one number, not a tensor of shape "
            f"{tuple(value.shape)}"
        )
    return value.reshape(())


@dataclass
class Evaluation:
    """Everything at one design x. Arrays are numpy float64; jac_* are (rows, n).

    The surrogate rows' Jacobian costs one reverse pass through the encoder per row (two on the Daedalus problem
    with solved angles, eight with the angles as variables, where they took nine tenths of a solve's time), and
    SLSQP asks for it only at the iterates, not at its line search's trial points: it is computed on first use
    (grad, jac_eq, jac_ineq) from the kept autograd graph, then the graph is released."""

    objective: float
    eq: np.ndarray
    ineq: np.ndarray
    eq_names: list[str]
    ineq_names: list[str]
    predicted: dict[str, np.ndarray]  # per point: alpha, CL, CD, CM, CL_std, CD_std, confidence, ...
    jac_geometry: np.ndarray  # (geometry rows, n): the last rows of jac_ineq
    # (len(ineq),) what one unit of each inequality row is in the constraints' own units (the aggregated surrogate
    # row counts in tolerances, 1e-3 of CM each; the geometry rows 1)
    ineq_unit: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # weights (surrogate rows,) -> sum_k weights[k] * gradient of surrogate row k (n,): one reverse pass
    surrogate_vjp: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    _jac: np.ndarray | None = field(default=None, repr=False)

    def weighted_gradient(self, weights: np.ndarray) -> np.ndarray:
        """sum_k weights[k] * gradient of row k (n,), rows ordered as grad, jac_eq, jac_ineq: one reverse pass
        through the encoder, not one per row, unless the Jacobian is already at hand."""
        n_surrogate = len(weights) - len(self.jac_geometry)
        w_surrogate, w_geometry = weights[:n_surrogate], weights[n_surrogate:]
        if self._jac is not None:
            return w_surrogate @ self._jac + w_geometry @ self.jac_geometry
        return self.surrogate_vjp(w_surrogate) + w_geometry @ self.jac_geometry

    def _surrogate_rows(self) -> np.ndarray:
        """(1 + eq + surrogate inequality rows, n): objective, equality and soft-minimum rows, one reverse pass
        per row."""
        if self._jac is None:
            n_surrogate = 1 + len(self.eq) + len(self.ineq) - len(self.jac_geometry)
            self._jac = np.stack([self.surrogate_vjp(row) for row in np.eye(n_surrogate)])
            self.surrogate_vjp = None  # releases the autograd graph
        return self._jac

    @property
    def grad(self) -> np.ndarray:
        return self._surrogate_rows()[0]

    @property
    def jac_eq(self) -> np.ndarray:
        return self._surrogate_rows()[1 : 1 + len(self.eq)]

    @property
    def jac_ineq(self) -> np.ndarray:
        return np.vstack([self._surrogate_rows()[1 + len(self.eq) :], self.jac_geometry])


def _norm(squared: torch.Tensor) -> torch.Tensor:
    """sqrt of a sum of squares, with a finite derivative at zero (0 there)."""
    return torch.sqrt(squared + 1e-24)


def soft_min(values: torch.Tensor, rho: float) -> torch.Tensor:
    """Kreisselmeier-Steinhauser soft minimum of a 1-D tensor (<= its minimum, smooth)."""
    m = values.min()
    return m - torch.log(torch.exp(-rho * (values - m)).sum()) / rho


class DesignEvaluator:
    """Surrogate + problem + design space -> cached Evaluations.

    The design and geometry are float64; the network runs in float32 as trained (its
    outputs are smooth to ~1e-7 relative, far below the solver's tolerances).
    `calls` counts surrogate evaluations (one per distinct x).
    """

    def __init__(self, surrogate, problem: AirfoilProblem, space: DesignSpace, start_cst: np.ndarray):
        self.problem, self.space = problem, space
        self.surrogate = copy.copy(surrogate)
        self.surrogate.ensemble = copy.deepcopy(surrogate.ensemble).eval()
        for p in self.surrogate.ensemble.parameters():
            p.requires_grad_(False)
        pts = problem.points
        self.reynolds = torch.tensor([p.reynolds for p in pts], dtype=torch.float64)
        self.ncrit = torch.tensor([p.ncrit for p in pts], dtype=torch.float64)
        self.weight = torch.tensor([p.weight for p in pts], dtype=torch.float64)
        solved = set(space.solved_alpha.tolist())
        self.cl_points = [k for k, p in enumerate(pts) if p.cl is not None and k not in solved]  # CL = target rows
        self.cl_target = torch.tensor([pts[k].cl for k in self.cl_points], dtype=torch.float64)
        self.solved_target = torch.tensor([pts[k].cl for k in space.solved_alpha], dtype=torch.float64)
        lo, hi = problem.bounds.alpha
        self.alpha_grid = torch.linspace(lo, hi, int(round((hi - lo) / ALPHA_GRID_STEP)) + 1, dtype=torch.float64)
        self.start_wiggliness = float(geom.wiggliness(torch.as_tensor(start_cst, dtype=torch.float64)))
        self.calls = 0
        self._cache: dict[bytes, Evaluation] = {}

    # ---------------------------------------------------------------- quantities

    def predict(self, cst: torch.Tensor, alpha: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-point predictions (P,) for one design (differentiable); with solved angles, alpha's solved entries
        are replaced by the solution and q["CL_reach"] (2 S,) holds the reach rows (_solve_angles)."""
        self.calls += 1
        embedding = self.surrogate.shape_embedding(cst[None])  # (M, 1, D): the encoder, once per design
        reach = None
        if len(self.space.solved_alpha):
            alpha, reach = self._solve_angles(embedding, alpha)
        out = self.surrogate.predict_from_embedding(embedding, alpha, self.reynolds, self.ncrit)
        q = {k: v[0].double() for k, v in out.items()}
        q.update(alpha=alpha, weight=self.weight, **geometry_scalars(cst))
        if reach is not None:
            q["CL_reach"] = reach
        return q

    def _cl(self, embedding: torch.Tensor, alpha: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """CL (len(alpha),) float64 of the shape encoded by embedding at the angles alpha (degrees) and the
        Reynolds numbers and ncrit of the points index (same length): the heads alone."""
        out = self.surrogate.predict_from_embedding(embedding, alpha, self.reynolds[index], self.ncrit[index])
        return out["CL"][0].double()

    def _solve_angles(self, embedding: torch.Tensor, alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """alpha (P,) with every solved point's angle (degrees) for its target CL, and the reach rows (2 S,) >= 0:
        CL max over the angle grid - target, then target - CL at the lowest angle, per solved point.

        The angle is the lowest upward crossing of the target on a grid of ALPHA_GRID_STEP degrees (the attached-
        flow branch), refined by safeguarded Newton steps within its grid interval. Differentiable with respect
        to the embedding by the implicit function theorem (module docstring); an unreachable target's angle (the
        CL maximum, or the lowest angle) is held constant and its reach row is negative."""
        index = torch.as_tensor(self.space.solved_alpha, dtype=torch.long)
        target, grid = self.solved_target, self.alpha_grid
        n, g = len(index), len(grid)
        fixed = embedding.detach()
        with torch.no_grad():
            curve = self._cl(fixed, grid.repeat(n), index.repeat_interleave(g)).view(n, g)
            up = (curve[:, :-1] <= target[:, None]) & (curve[:, 1:] >= target[:, None])  # (S, G - 1)
            reachable = up.any(1)
            first = torch.where(reachable, up.float().argmax(1), torch.zeros_like(index))
            left, right = grid[first], grid[first + 1]
            c_left, c_right = curve.gather(1, first[:, None])[:, 0], curve.gather(1, first[:, None] + 1)[:, 0]
            a = left + (target - c_left) / torch.clamp(c_right - c_left, min=1e-12) * (right - left)
            # Newton's steps without a tape: the slope by a forward difference (one call at a and a + h); the
            # exact slope, which the derivative needs, comes from the one taped call below
            for _ in range(NEWTON_STEPS):
                both = self._cl(fixed, torch.cat([a, a + NEWTON_DIFFERENCE]), index.repeat(2))
                residual = both[:n] - target
                if float(torch.max(torch.abs(torch.where(reachable, residual, 0.0)))) < NEWTON_TOL:
                    break
                slope = (both[n:] - both[:n]) / NEWTON_DIFFERENCE
                step = torch.where(slope > 0, residual / torch.clamp(slope, min=1e-12), 0.0)
                a = torch.minimum(torch.maximum(a - step, left), right)
            peak = grid[curve.argmax(1)]
            a = torch.where(reachable, a, torch.where(curve[:, 0] > target, grid[0], peak))
        # one taped call: CL at the solved angles and at both ends of the angle range; then one Newton step as a
        # function of the embedding: value a (to NEWTON_TOL), derivative -dCL/dx / dCL/dalpha
        at = a.clone().requires_grad_(True)
        cl = self._cl(embedding, torch.cat([at, peak, grid[:1].expand(n)]), index.repeat(3))
        (slope,) = torch.autograd.grad(cl[:n].sum(), at, retain_graph=True)
        safe_slope = torch.where(reachable & (slope > 0), slope, 1.0)
        solved = a + torch.where(reachable, (target - cl[:n]) / safe_slope, 0.0)
        reach = torch.cat([cl[n : 2 * n] - target, target - cl[2 * n :]])
        return alpha.index_put((index,), solved), reach

    def point_rows(self, q: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], list[list[str]]]:
        """Per-point inequality rows (>= 0) that need the surrogate, grouped by kind: CM bound,
        convergence confidence, CL spread. Each group is a tensor (P,)."""
        p, t = self.problem.constraints, self.problem.trust
        n = len(self.problem.points)
        groups, names = [], []
        if p.cm_min is not None:
            groups.append(q["CM"] - p.cm_min)
            names.append([f"CM >= {p.cm_min:g} at point {k + 1}" for k in range(n)])
        if t.confidence_min is not None:
            groups.append(q["confidence"] - t.confidence_min)
            names.append([f"confidence >= {t.confidence_min:g} at point {k + 1}" for k in range(n)])
        if t.cl_std_max is not None:
            groups.append(t.cl_std_max - q["CL_std"])
            names.append([f"CL std <= {t.cl_std_max:g} at point {k + 1}" for k in range(n)])
        if "CL_reach" in q:
            solved = [(k, self.problem.points[k].cl) for k in self.space.solved_alpha.tolist()]
            lo = self.problem.bounds.alpha[0]
            groups.append(q["CL_reach"])
            names.append(
                [f"{REACH_NAME}: CL max >= {cl:g} at point {k + 1}" for k, cl in solved]
                + [f"{REACH_NAME}: CL at alpha {lo:g} <= {cl:g} at point {k + 1}" for k, cl in solved]
            )
        return groups, names

    def _surrogate_rows(self, q) -> tuple[torch.Tensor, torch.Tensor, list[str], torch.Tensor, list[str]]:
        """Objective, CL equality rows, and one row for every per-point inequality that needs the surrogate.

        Each row's gradient costs one reverse pass through the encoder (about one and a half forward passes),
        so the per-point inequalities (CM, confidence, spread, reach of the target CL) reach the solver as one
        Kreisselmeier-Steinhauser soft minimum over all of them, each divided by its tolerance (1e-3 for CM,
        2e-3 for the others): min - log(count) <= KS <= min in those units, so KS >= 0 holds every row to
        within its tolerance and is never looser than the exact minimum. One aggregated row instead of one per
        kind made the Daedalus solve 20 % faster for a 0.02 % higher objective (2026-12-05).
        """
        eq_rows = q["CL"][self.cl_points] - self.cl_target
        eq_names = [f"CL = {self.problem.points[k].cl:g} at point {k + 1}" for k in self.cl_points]
        groups, names = self.point_rows(q)
        if groups:
            scaled = torch.cat([g.double() / self._tolerance(n) for g, n in zip(groups, names)])
            ineq = soft_min(scaled, math.log(max(len(scaled), 2))).reshape(1)
            kinds = ", ".join(self._kind(n) for n in names)
            ineq_names = [f"{kinds} at every point (soft minimum, in units of each tolerance)"]
        else:
            ineq, ineq_names = torch.zeros(0, dtype=torch.float64), []
        return objective_value(self.problem, q).double(), eq_rows.double(), eq_names, ineq, ineq_names

    @staticmethod
    def _kind(names: list[str]) -> str:
        return REACH_NAME if names[0].startswith(REACH_NAME) else names[0].rsplit(" at point", 1)[0]

    @staticmethod
    def _tolerance(names: list[str]) -> float:
        """How far the soft minimum may sit below a group's exact minimum: 1e-3 for CM, 2e-3 for confidence,
        CL std and the reach of the target CL."""
        return CM_TOLERANCE if names[0].startswith("CM") else 2 * CM_TOLERANCE

    def geometry_rows(self, cst: torch.Tensor, alpha: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
        """Inequality rows (>= 0) that need no surrogate: geometry and angle ordering."""
        p = self.problem.constraints
        rows, names = (
            [geom.local_thickness(cst, geom.THICKNESS_STATIONS[::5])],
            [f"thickness >= 0 at x/c={x:.3f}" for x in geom.THICKNESS_STATIONS[::5]],
        )
        for x, tmin in p.thickness_min:
            rows.append(geom.local_thickness(cst, [x]) - tmin)
            names.append(f"t/c >= {tmin:g} at x/c={x:g}")
        if p.max_thickness_min is not None:
            rows.append((geom.max_thickness(cst) - p.max_thickness_min).reshape(1))
            names.append(f"max t/c >= {p.max_thickness_min:g}")
        if p.max_thickness_max is not None:
            rows.append((p.max_thickness_max - geom.max_thickness(cst)).reshape(1))
            names.append(f"max t/c <= {p.max_thickness_max:g}")
        if p.te_angle_min is not None:
            rows.append((geom.te_angle(cst) - p.te_angle_min).reshape(1))
            names.append(f"TE angle >= {p.te_angle_min:g} deg")
        if p.area_min is not None:
            rows.append((geom.area(cst) - p.area_min).reshape(1))
            names.append(f"area >= {p.area_min:g}")
        # the wiggliness bounds as bounds on its square root, the norm of the second differences: the same
        # feasible set, flat along the radius (SLSQP's median iterations on Daedalus 54 vs 60, 2026-12-07)
        if p.wiggliness_max_ratio is not None:
            root = math.sqrt(p.wiggliness_max_ratio * max(self.start_wiggliness, 1e-8))
            rows.append(((root - _norm(geom.wiggliness(cst))) / root).reshape(1))
            names.append(f"wiggliness <= {p.wiggliness_max_ratio:g} x start")
        if p.wiggliness_max is not None:
            root = math.sqrt(p.wiggliness_max)
            rows.append(((root - _norm(geom.wiggliness(cst))) / root).reshape(1))
            names.append(f"wiggliness <= {p.wiggliness_max:g}")
        if p.le_round_min is not None:
            rows.append(torch.stack([cst[0] - p.le_round_min, -cst[N_WEIGHTS] - p.le_round_min]))
            names += [f"upper[0] >= {p.le_round_min:g}", f"lower[0] <= -{p.le_round_min:g}"]
        if p.alpha_increasing and len(self.cl_points) > 1:
            order = sorted(self.cl_points, key=lambda k: self.problem.points[k].cl)
            a = alpha[order]
            rows.append(a[1:] - a[:-1])
            names += [
                f"alpha increases with CL ({self.problem.points[i].cl:g} -> {self.problem.points[j].cl:g})"
                for i, j in zip(order[:-1], order[1:])
            ]
        return torch.cat([r.reshape(-1) for r in rows]), names

    # ---------------------------------------------------------------- evaluation

    def at(self, x: np.ndarray) -> Evaluation:
        key = np.asarray(x, dtype=float).tobytes()
        if key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = self._evaluate(np.asarray(x, dtype=float))
        return self._cache[key]

    def _evaluate(self, x: np.ndarray) -> Evaluation:
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        cst, alpha = self.space.unpack(xt)
        q = self.predict(cst, alpha)
        obj, eq, eq_names, ineq_s, ineq_s_names = self._surrogate_rows(q)
        rows = torch.cat([obj.reshape(1), eq, ineq_s])
        if not torch.all(torch.isfinite(rows)):
            raise FloatingPointError("the surrogate gave a non-finite value")
        geometry = lambda v: self.geometry_rows(*self.space.unpack(v))[0]  # noqa: E731
        x_geo = torch.tensor(x, dtype=torch.float64)
        ineq_g, ineq_g_names = self.geometry_rows(*self.space.unpack(x_geo))
        jac_g = torch.autograd.functional.jacobian(geometry, x_geo, vectorize=True).numpy()
        values = rows.detach().numpy()
        n_eq = len(eq)
        predicted = {k: v.detach().double().numpy().copy() for k, v in q.items() if k != "weight" and v.dim() == 1}

        def surrogate_vjp(weights: np.ndarray) -> np.ndarray:
            w = torch.as_tensor(weights, dtype=rows.dtype)
            (g,) = torch.autograd.grad(rows, xt, grad_outputs=w, retain_graph=True, allow_unused=True)
            return np.zeros(len(x)) if g is None else g.numpy()

        return Evaluation(
            objective=float(values[0]),
            eq=values[1 : 1 + n_eq],
            ineq=np.concatenate([values[1 + n_eq :], ineq_g.numpy()]),
            ineq_unit=np.concatenate([np.full(len(values) - 1 - n_eq, CM_TOLERANCE), np.ones(len(ineq_g))]),
            eq_names=eq_names,
            ineq_names=ineq_s_names + ineq_g_names,
            predicted=predicted,
            jac_geometry=jac_g,
            surrogate_vjp=surrogate_vjp,
        )

    def start_alpha(self, cst: np.ndarray) -> np.ndarray:
        """Starting angles (P,): fixed ones as given; target-CL ones where the surrogate's CL
        curve of the start shape crosses the target (else the thin-airfoil estimate); others 4°."""
        lo, hi = self.problem.bounds.alpha
        grid = torch.arange(lo, hi + 1e-9, 0.5, dtype=torch.float64)
        out = []
        with torch.no_grad():
            for p in self.problem.points:
                if p.alpha is not None:
                    out.append(p.alpha)
                    continue
                if p.cl is None:
                    out.append(float(np.clip(4.0, lo, hi)))
                    continue
                self.calls += 1
                cl = (
                    self.surrogate.predict_airfoil(
                        torch.as_tensor(cst, dtype=torch.float64)[None], grid, p.reynolds, p.ncrit
                    )["CL"][0]
                    .double()
                    .numpy()
                )
                above = np.flatnonzero((cl[:-1] - p.cl) * (cl[1:] - p.cl) <= 0)
                if len(above):
                    i = above[0]
                    f = (p.cl - cl[i]) / (cl[i + 1] - cl[i]) if cl[i + 1] != cl[i] else 0.0
                    out.append(float(grid[i] + f * (grid[i + 1] - grid[i])))
                else:
                    out.append(float(np.clip(np.degrees(p.cl / (2 * np.pi)), lo, hi)))
        return np.array(out)
