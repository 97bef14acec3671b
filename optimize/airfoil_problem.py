"""Airfoil design problems: operating points, objective, constraints, trust region, bounds.

A problem is plain data (dataclasses), built in Python or read from TOML:

    name = "daedalus"
    [[points]]                  # one table per operating point
    reynolds = 6.32e5
    cl = 0.8                    # target CL: the point's alpha becomes a design variable
    weight = 5                  # (or: alpha = 4.0 for a fixed angle; neither: alpha free)
    ncrit = 9.0
    mach = 0.03                 # used by the XFOIL verification; the surrogate is Mach 0
    [objective]
    kind = "weighted_cd"        # weighted_cd | max_cl_cd | expression
    # expression = "sum(weight * CD / CL**1.5)"   # kind = "expression": torch over CL, CD, CM,
    #     alpha, weight, CL_std, confidence (per point) and area, max_thickness, te_angle (the shape)
    #     with numbers, + - * / **, comparisons and the EXPRESSION_FUNCTIONS (optimize/expression.py)
    [constraints]
    cm_min = -0.133
    thickness_min = [[0.33, 0.128], [0.90, 0.014]]   # (x/c, minimum t/c)
    te_angle_min = 6.03         # degrees, AeroSandbox's KulfanAirfoil.TE_angle definition
    wiggliness_max = 0.09297    # summed squared second differences of the CST weights (absolute), or
    # wiggliness_max_ratio = 2.0   # relative to the start design's
    le_round_min = 0.05         # upper[0] >= 0.05, lower[0] <= -0.05: a round leading edge
    [trust]
    confidence_min = 0.9        # predicted probability that XFOIL converges (160, 200 or 240 panels), every point
    cl_std_max = 0.05           # calibrated ensemble std of CL, every point
    training_range = false      # true: every CST weight within the model's training range too
    [bounds]
    upper = [-0.25, 0.5]        # every upper-surface CST weight
    lower = [-0.5, 0.25]
    le_weight = [-1.0, 1.0]
    te_thickness = 0.0          # a number fixes the variable; a pair bounds it
    alpha = [-5.0, 15.0]
    [solver]
    method = "SLSQP"            # SLSQP | trust-constr
    maxiter = 200
    multistart = 0              # extra random starts inside the bounds
    angles = "solved"           # target-CL angles solved inside each evaluation, or "design" (variables)
    seed = 0

Angles are in degrees, thickness and positions in chords, CD and CL dimensionless.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from phenograd.core.errors import InputError, one_line

from .expression import FUNCTIONS, Expression, parse

OBJECTIVES = ("weighted_cd", "max_cl_cd", "expression")
METHODS = ("SLSQP", "trust-constr")
ANGLE_MODES = ("solved", "design")
#: Names an objective expression may use besides the predicted quantities.
EXPRESSION_FUNCTIONS = tuple(FUNCTIONS)
#: Quantities an objective expression may use: per point ((P,) tensors: the surrogate's predictions, their
#: calibrated stds, alpha in degrees, the point's weight), then the shape's (scalars).
EXPRESSION_NAMES = (
    "CL",
    "CD",
    "CM",
    "Top_Xtr",
    "Bot_Xtr",
    "confidence",
    "CL_std",
    "CD_std",
    "CM_std",
    "Top_Xtr_std",
    "Bot_Xtr_std",
    "alpha",
    "weight",
    "area",
    "max_thickness",
    "te_angle",
)


@dataclass(frozen=True)
class OperatingPoint:
    """One flight condition.

    Args:
        reynolds: chord Reynolds number.
        cl: target lift coefficient (alpha free, CL held equal to it).
        alpha: a fixed angle in degrees (with neither cl nor alpha: alpha free and unconstrained).
        weight: the point's weight in the objective (> 0).
        ncrit: e^N transition amplification ratio.
        mach: free-stream Mach number.
    """

    reynolds: float
    cl: float | None = None
    alpha: float | None = None
    weight: float = 1.0
    ncrit: float = 9.0
    mach: float = 0.0

    @property
    def alpha_is_free(self) -> bool:
        return self.alpha is None


@dataclass(frozen=True)
class Constraints:
    """Design constraints. None (or empty) switches one off.

    Args:
        cm_min: lower bound on CM (c/4) at every point.
        thickness_min: ((x/c, t/c), ...): least thickness at chord stations.
        max_thickness_min, max_thickness_max: bounds on the maximum t/c.
        te_angle_min: least trailing-edge angle, degrees.
        area_min: cross-section area in chords².
        wiggliness_max_ratio: bound on the CST weights' summed squared second differences relative to the
            start design's.
        wiggliness_max: the same bound as an absolute number (independent of the start and of how it was fitted).
        le_round_min: first upper CST weight >= v and first lower <= -v (a round leading edge).
        alpha_increasing: target-CL points with higher CL get higher alpha (as AeroSandbox's tutorial), where the
            angles are design variables (solver.angles "design"; solved angles take the attached-flow branch).
    """

    cm_min: float | None = None
    thickness_min: tuple[tuple[float, float], ...] = ()
    max_thickness_min: float | None = None
    max_thickness_max: float | None = None
    te_angle_min: float | None = None
    area_min: float | None = None
    wiggliness_max_ratio: float | None = None
    wiggliness_max: float | None = None
    le_round_min: float | None = None
    alpha_increasing: bool = True


@dataclass(frozen=True)
class Trust:
    """Keep the design where the surrogate knows the physics: predicted convergence
    confidence >= confidence_min and calibrated CL std <= cl_std_max at every point; with
    training_range, each CST weight's bounds are also narrowed to the central 99 % of the
    model's training shapes (the checkpoint's design_range; surrogate/design_range.py)."""

    confidence_min: float | None = 0.9
    cl_std_max: float | None = None
    training_range: bool = False


@dataclass(frozen=True)
class Bounds:
    """Box bounds of the design. Each CST group is (low, high) for every weight of the
    group; te_thickness and le_weight may be a single number, which fixes them."""

    upper: tuple[float, float] = (-0.25, 0.6)
    lower: tuple[float, float] = (-0.5, 0.35)
    le_weight: tuple[float, float] | float = (-0.5, 0.5)
    te_thickness: tuple[float, float] | float = 0.0
    alpha: tuple[float, float] = (-5.0, 15.0)


@dataclass(frozen=True)
class Solver:
    """The scipy method, its limits and starts. angles: "solved" (each target-CL point's angle is solved for its
    CL inside every evaluation, by Newton's method on the surrogate's heads with the shape's encoding fixed; the
    design vector holds the CST weights alone and the derivatives follow from the implicit function theorem) or
    "design" (the angles are design variables and CL = target an equality constraint per point)."""

    method: str = "SLSQP"
    maxiter: int = 200
    multistart: int = 0
    seed: int = 0
    ftol: float = 1e-5  # relative objective change over 5 iterations that ends the solve
    angles: str = "solved"


@dataclass(frozen=True)
class AirfoilProblem:
    """Everything an airfoil optimization needs besides the start shape and the model.

    Args:
        points: the operating points (at least one).
        objective: "weighted_cd" (the points' CD, weighted), "max_cl_cd" or "expression".
        expression: with objective "expression": the objective over CL, CD, CM, ... (module docstring; expression.py).
        constraints: design constraints (Constraints).
        trust: where the surrogate is trusted (Trust).
        bounds: box bounds of the CST design (Bounds).
        solver: the scipy method, its iteration limit and multistart (Solver).
        name: what reports call the problem.
    """

    points: tuple[OperatingPoint, ...]
    objective: str = "weighted_cd"
    expression: str | None = None
    constraints: Constraints = field(default_factory=Constraints)
    trust: Trust = field(default_factory=Trust)
    bounds: Bounds = field(default_factory=Bounds)
    solver: Solver = field(default_factory=Solver)
    name: str = "airfoil"
    #: The expression, checked when the problem is made (optimize/expression.py); None without one.
    checked_expression: Expression | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        validate(self)
        if self.expression is not None and self.expression.strip():  # checked even when the kind ignores it
            object.__setattr__(self, "checked_expression", parse(self.expression, EXPRESSION_NAMES))


def _finite(value, what: str) -> float:
    if isinstance(value, (bool, str)):  # float("5") and float(True) would pass
        raise InputError(f"{what} must be a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise InputError(f"{what} must be finite, got {value!r}")
    return v


def _optional(value, what: str, low: float = -math.inf, high: float = math.inf) -> None:
    """InputError unless value is None or a finite number within [low, high]."""
    if value is not None and not low <= _finite(value, what) <= high:
        raise InputError(f"{what} must lie within [{low:g}, {high:g}], got {value!r}")


def _integer(value, what: str, low: int, high: int) -> None:
    """InputError unless value is a whole number within [low, high]."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value != int(value)
        or not low <= value <= high
    ):
        raise InputError(f"{what} must be a whole number within [{low}, {high}], got {value!r}")


def _pair(value, what: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise InputError(f"{what} must be a [low, high] pair, got {value!r}")
    lo, hi = _finite(value[0], what), _finite(value[1], what)
    if lo > hi:
        raise InputError(f"{what}: low {lo} is above high {hi}")
    return lo, hi


def validate(p: AirfoilProblem) -> None:
    """Raise InputError (one line) for a problem that cannot be posed."""
    if not p.points:
        raise InputError("the problem has no operating points")
    for k, pt in enumerate(p.points):
        where = f"point {k + 1}"
        re = _finite(pt.reynolds, f"{where}: reynolds")
        if not 1e3 <= re <= 1e9:
            raise InputError(f"{where}: reynolds {re:g} out of range [1e3, 1e9]")
        if pt.cl is not None and pt.alpha is not None:
            raise InputError(f"{where}: give a target cl or a fixed alpha, not both")
        if pt.cl is not None:
            _finite(pt.cl, f"{where}: cl")
        if pt.alpha is not None and not -90 < _finite(pt.alpha, f"{where}: alpha") < 90:
            raise InputError(f"{where}: alpha {pt.alpha} outside (-90, 90) degrees")
        if not _finite(pt.weight, f"{where}: weight") > 0:
            raise InputError(f"{where}: weight must be positive")
        if not 0 < _finite(pt.ncrit, f"{where}: ncrit") <= 20:
            raise InputError(f"{where}: ncrit {pt.ncrit} out of range (0, 20]")
        if not 0 <= _finite(pt.mach, f"{where}: mach") < 1:
            raise InputError(f"{where}: mach {pt.mach} out of range [0, 1)")
    if p.objective not in OBJECTIVES:
        raise InputError(f"unknown objective {p.objective!r}; use one of {', '.join(OBJECTIVES)}")
    if p.expression is not None and not isinstance(p.expression, str):
        raise InputError(f"objective expression must be a string, got {p.expression!r}")
    if p.objective == "expression" and not (p.expression and p.expression.strip()):
        raise InputError("objective kind 'expression' needs an expression")
    if p.objective == "max_cl_cd" and all(pt.cl is not None for pt in p.points):
        raise InputError("max_cl_cd with every point at a target CL: CL is fixed, minimise CD (weighted_cd) instead")
    c = p.constraints
    for name in (
        "cm_min",
        "max_thickness_min",
        "max_thickness_max",
        "te_angle_min",
        "area_min",
        "wiggliness_max_ratio",
        "wiggliness_max",
        "le_round_min",
    ):
        _optional(getattr(c, name), f"constraints.{name}")
    if not isinstance(c.alpha_increasing, bool):
        raise InputError(f"constraints.alpha_increasing must be true or false, got {c.alpha_increasing!r}")
    for x, t in c.thickness_min:
        if not 0 < _finite(x, "thickness_min x/c") < 1:
            raise InputError(f"thickness_min station x/c={x} must lie strictly inside (0, 1)")
        _finite(t, "thickness_min t/c")
    if (
        c.max_thickness_min is not None
        and c.max_thickness_max is not None
        and c.max_thickness_min > c.max_thickness_max
    ):
        raise InputError(
            f"contradictory constraints: max_thickness_min {c.max_thickness_min} > max_thickness_max "
            f"{c.max_thickness_max}"
        )
    for name in ("wiggliness_max_ratio", "wiggliness_max"):
        if getattr(c, name) is not None and not getattr(c, name) > 0:
            raise InputError(f"{name} must be positive")
    _optional(p.trust.confidence_min, "trust.confidence_min", 0.0, 1.0)
    _optional(p.trust.cl_std_max, "trust.cl_std_max", 0.0)
    if not isinstance(p.trust.training_range, bool):
        raise InputError(f"trust.training_range must be true or false, got {p.trust.training_range!r}")
    b = p.bounds
    for name in ("upper", "lower", "alpha"):
        _pair(getattr(b, name), f"bounds.{name}")
    for name in ("le_weight", "te_thickness"):
        v = getattr(b, name)
        _pair(v, f"bounds.{name}") if isinstance(v, (list, tuple)) else _finite(v, f"bounds.{name}")
    for k, pt in enumerate(p.points):
        if pt.alpha is not None and not b.alpha[0] <= pt.alpha <= b.alpha[1]:
            raise InputError(f"point {k + 1}: fixed alpha {pt.alpha} outside bounds.alpha {list(b.alpha)}")
    if p.solver.method not in METHODS:
        raise InputError(f"unknown solver method {p.solver.method!r}; use one of {', '.join(METHODS)}")
    if p.solver.angles not in ANGLE_MODES:
        raise InputError(f"unknown solver.angles {p.solver.angles!r}; use one of {', '.join(ANGLE_MODES)}")
    _integer(p.solver.maxiter, "solver.maxiter", 1, 100000)
    _integer(p.solver.multistart, "solver.multistart", 0, 1000)
    _integer(p.solver.seed, "solver.seed", 0, 2**63 - 1)
    if not _finite(p.solver.ftol, "solver.ftol") > 0:
        raise InputError(f"solver.ftol must be positive, got {p.solver.ftol!r}")


# --------------------------------------------------------------------------- TOML

_SECTIONS = {"name", "points", "objective", "constraints", "trust", "bounds", "solver", "start"}


def _table(doc: dict, key: str, allowed: set[str]) -> dict:
    t = doc.get(key, {})
    if not isinstance(t, dict):
        raise InputError(f"[{key}] must be a table")
    unknown = sorted(set(t) - allowed)
    if unknown:
        raise InputError(f"[{key}]: unknown key {unknown[0]!r}; known: {', '.join(sorted(allowed))}")
    return t


def problem_from_dict(doc: dict) -> AirfoilProblem:
    """An AirfoilProblem from a parsed TOML document (see the module docstring)."""
    unknown = sorted(set(doc) - _SECTIONS)
    if unknown:
        raise InputError(f"unknown top-level key {unknown[0]!r}; known: {', '.join(sorted(_SECTIONS))}")
    raw_points = doc.get("points")
    if not isinstance(raw_points, list) or not raw_points:
        raise InputError("the problem needs at least one [[points]] table")
    point_keys = {"reynolds", "cl", "alpha", "weight", "ncrit", "mach"}
    points = []
    for k, rp in enumerate(raw_points):
        if not isinstance(rp, dict):
            raise InputError(f"point {k + 1} must be a table")
        bad = sorted(set(rp) - point_keys)
        if bad:
            raise InputError(f"point {k + 1}: unknown key {bad[0]!r}; known: {', '.join(sorted(point_keys))}")
        if "reynolds" not in rp:
            raise InputError(f"point {k + 1}: reynolds is required")
        points.append(OperatingPoint(**rp))
    obj = _table(doc, "objective", {"kind", "expression"})
    cons = _table(doc, "constraints", set(Constraints.__dataclass_fields__))
    if "thickness_min" in cons:
        stations = cons["thickness_min"]
        if not isinstance(stations, list) or not all(isinstance(s, list) and len(s) == 2 for s in stations):
            raise InputError("constraints.thickness_min must be a list of [x/c, t/c] pairs")
        cons = {
            **cons,
            "thickness_min": tuple(
                (_finite(x, "thickness_min x/c"), _finite(t, "thickness_min t/c")) for x, t in stations
            ),
        }
    trust = _table(doc, "trust", set(Trust.__dataclass_fields__))
    bounds = _table(doc, "bounds", set(Bounds.__dataclass_fields__))
    bounds = {k: (tuple(v) if isinstance(v, list) else v) for k, v in bounds.items()}
    solver = _table(doc, "solver", set(Solver.__dataclass_fields__))
    try:
        return AirfoilProblem(
            points=tuple(points),
            objective=obj.get("kind", "weighted_cd"),
            expression=obj.get("expression"),
            constraints=Constraints(**cons),
            trust=Trust(**trust),
            bounds=Bounds(**bounds),
            solver=Solver(**solver),
            name=str(doc.get("name", "airfoil")),
        )
    except TypeError as exc:  # a value of the wrong kind inside a dataclass
        raise InputError(f"problem: {exc}") from None


def load_problem(path) -> tuple[AirfoilProblem, str | None]:
    """(problem, start) from a TOML file; start is the file's optional `start` key
    (a NACA name such as "naca0012" or a .dat path relative to the file), or None.

    Args:
        path: the problem's TOML file (operating points, objective, constraints, bounds; README, "Airfoil shape
            optimization", and examples/problems/).
    """
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise InputError(f"{p}: no such problem file") from None
    except OSError as exc:  # a folder, no permission, ...
        raise InputError(f"{p}: cannot read the problem file ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not a valid TOML file ({one_line(exc)})") from None
    start = doc.get("start")
    if start is not None and not isinstance(start, str):
        raise InputError(f'{p}: start must be a string such as "naca0012" or a .dat path')
    if start is not None and not start.lower().startswith("naca") and not Path(start).is_absolute():
        start = str(p.parent / start)
    try:
        return problem_from_dict(doc), start
    except InputError as exc:
        raise InputError(f"{p}: {exc}") from None


#: Wiggliness (airfoil_geometry.wiggliness) of the start of AeroSandbox's Daedalus tutorial,
#: aerosandbox.KulfanAirfoil("naca0012") (AeroSandbox 4.2; checked against it in tests/test_optimize_airfoil.py).
TUTORIAL_START_WIGGLINESS = 0.0464838


def daedalus_problem(mach: float = 0.03) -> AirfoilProblem:
    """Drela's Daedalus multi-point problem as posed in AeroSandbox's NeuralFoil airfoil
    optimization tutorial: minimise the weighted CD at CL 0.8-1.6 (weights 5-10) at
    Re = 500,000 (CL/1.25)^-0.5, CM >= -0.133, t/c(0.33) >= 0.128, t/c(0.90) >= 0.014,
    TE angle >= 6.03°, sharp trailing edge, wiggliness <= 2x the tutorial start's, confidence > 0.9,
    with the tutorial's CST bounds.

    The tutorial bounds the wiggliness by twice that of its start, AeroSandbox's own CST fit of NACA 0012
    (TUTORIAL_START_WIGGLINESS); phenograd's fit of the same section is smoother (0.0345), so a bound relative to it
    would be 26 % tighter than the tutorial's. The bound is therefore absolute, whatever the start.

    Args:
        mach: the free-stream Mach number of every operating point.
    """
    targets = (0.8, 1.0, 1.2, 1.4, 1.5, 1.6)
    weights = (5.0, 6.0, 7.0, 8.0, 9.0, 10.0)
    points = tuple(
        OperatingPoint(reynolds=500e3 * (cl / 1.25) ** -0.5, cl=cl, weight=w, mach=mach)
        for cl, w in zip(targets, weights)
    )
    return AirfoilProblem(
        points=points,
        objective="weighted_cd",
        name="daedalus",
        constraints=Constraints(
            cm_min=-0.133,
            thickness_min=((0.33, 0.128), (0.90, 0.014)),
            te_angle_min=6.03,
            wiggliness_max=2.0 * TUTORIAL_START_WIGGLINESS,
            le_round_min=0.05,
            alpha_increasing=True,
        ),
        trust=Trust(confidence_min=0.9),
        bounds=Bounds(
            upper=(-0.25, 0.5), lower=(-0.5, 0.25), le_weight=(-1.0, 1.0), te_thickness=0.0, alpha=(-5.0, 15.0)
        ),
    )
