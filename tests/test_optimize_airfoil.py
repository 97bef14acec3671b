"""Airfoil shape optimization: problem files, exact gradients, known optima, failure reports,
and a real optimize + XFOIL verification run on the shipped model."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from phenograd.core.errors import InputError
from phenograd.datasets.airfoil import naca
from phenograd.datasets.cst import fit_cst
from phenograd.optimize.airfoil import AirfoilResult, PointReport, constraint_report, optimize, start_design
from phenograd.optimize.airfoil_design import DesignEvaluator, DesignSpace
from phenograd.optimize.airfoil_geometry import area, te_angle, wiggliness
from phenograd.optimize.airfoil_problem import (
    TUTORIAL_START_WIGGLINESS,
    AirfoilProblem,
    Bounds,
    Constraints,
    OperatingPoint,
    Solver,
    Trust,
    daedalus_problem,
    load_problem,
)
from phenograd.surrogate.model import build_ensemble, default_encoder_config
from phenograd.surrogate.predict import AirfoilSurrogate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def random_model():
    """An untrained ensemble in float64: smooth, cheap, and enough to check gradients and solver plumbing."""
    torch.manual_seed(0)
    return AirfoilSurrogate(
        build_ensemble("airfoil", n_members=2, encoder=default_encoder_config("airfoil", hidden=16)).double().eval(),
        {"meta": {}},
    )


def _rows(e):
    return np.concatenate([[e.objective], e.eq, e.ineq]), np.vstack([e.grad, e.jac_eq, e.jac_ineq])


@pytest.mark.slow
@pytest.mark.parametrize("angles", ["design", "solved"])
def test_objective_and_constraint_jacobians_match_finite_differences(random_model, angles):
    problem = replace(daedalus_problem(), trust=Trust(confidence_min=0.5, cl_std_max=0.3), solver=Solver(angles=angles))
    start = fit_cst(naca("2412"))
    space = DesignSpace.build(problem, start)
    ev = DesignEvaluator(random_model, problem, space, start)
    x = space.clip(space.pack(start, np.linspace(1.0, 8.0, 6)))
    f0, jac = _rows(ev.at(x))
    h = 1e-4  # graph node positions are float32: smaller steps drown in rounding
    fd = np.zeros_like(jac)
    for i in range(len(x)):
        dx = np.zeros_like(x)
        dx[i] = h
        fd[:, i] = (_rows(ev.at(x + dx))[0] - _rows(ev.at(x - dx))[0]) / (2 * h)
    names = ["objective"] + ev.at(x).eq_names + ev.at(x).ineq_names
    for k, name in enumerate(names):
        np.testing.assert_allclose(jac[k], fd[k], rtol=1e-3, atol=_atol(name, fd[k]), err_msg=name)


def _atol(name: str, fd_row: np.ndarray) -> float:
    """Central differences at h = 1e-4 carry the geometry's rounding (about 1e-6 of a row's scale); the aggregated
    surrogate row counts in units of its constraints' tolerances (1e-3 for CM), 1e3 times the other rows' units."""
    unit = 1e-3 if "in units of each tolerance" in name else 1.0
    return 2e-6 / unit * max(1.0, np.abs(fd_row).max())


def _targets_problem(targets, angles="solved") -> AirfoilProblem:
    """Three target-CL points at Re 3e5, 6e5, 1e6 (the untrained model's CL is 0.015-0.023 over -5..15 deg)."""
    points = tuple(
        OperatingPoint(reynolds=re, cl=cl, weight=w) for re, cl, w in zip((3e5, 6e5, 1e6), targets, (1, 2, 3))
    )
    return AirfoilProblem(
        points=points,
        objective="weighted_cd",
        constraints=Constraints(cm_min=-1.0, thickness_min=((0.33, 0.05),), alpha_increasing=False),
        trust=Trust(confidence_min=0.1, cl_std_max=0.3),
        solver=Solver(angles=angles),
    )


@pytest.mark.slow
def test_solved_angles_meet_their_targets_on_the_attached_branch_with_exact_jacobians(random_model):
    """Solved angles: CL equals the target, the angle is the lowest crossing of a fine scan, the reach rows are
    positive, the design vector holds no angles, and the rows' Jacobian (implicit function theorem) matches
    central differences."""
    targets = (0.0170, 0.0190, 0.0210)
    problem = _targets_problem(targets)
    start = fit_cst(naca("2412"))
    space = DesignSpace.build(problem, start)
    assert space.size == 17 and list(space.solved_alpha) == [0, 1, 2]
    ev = DesignEvaluator(random_model, problem, space, start)
    x = space.pack(start, np.zeros(3))
    e = ev.at(x)
    assert len(e.eq) == 0
    np.testing.assert_allclose(e.predicted["CL"], targets, atol=1e-6)
    scan = torch.linspace(-5.0, 15.0, 2001, dtype=torch.float64)
    shape = space.unpack(torch.as_tensor(x))[0]  # the start with the problem's sharp trailing edge
    for k, p in enumerate(problem.points):
        with torch.no_grad():
            cl = random_model.predict_airfoil(shape[None], scan, p.reynolds)["CL"][0].numpy()
        lowest = scan.numpy()[np.flatnonzero(cl >= p.cl)[0]]
        assert abs(e.predicted["alpha"][k] - lowest) <= 0.011, (k, e.predicted["alpha"][k], lowest)
    assert np.all(e.predicted["CL_reach"] > 0)
    f0, jac = _rows(e)
    h = 1e-4
    fd = np.zeros_like(jac)
    for i in range(len(x)):
        dx = np.zeros_like(x)
        dx[i] = h
        fd[:, i] = (_rows(ev.at(x + dx))[0] - _rows(ev.at(x - dx))[0]) / (2 * h)
    for k, name in enumerate(["objective"] + e.ineq_names):
        np.testing.assert_allclose(jac[k], fd[k], rtol=1e-3, atol=_atol(name, fd[k]), err_msg=name)


def test_a_target_cl_out_of_reach_is_an_unmet_constraint_named_in_the_report(random_model):
    """The untrained model's CL never reaches 0.5 within the angle bounds: that point's angle is held at its CL
    maximum, its reach row is negative, the aggregated row that the solver sees is negative, and the constraint
    report names it; the reachable points are still solved."""
    problem = _targets_problem((0.018, 0.5, 0.020))
    start = fit_cst(naca("2412"))
    space = DesignSpace.build(problem, start)
    ev = DesignEvaluator(random_model, problem, space, start)
    e = ev.at(space.pack(start, np.zeros(3)))
    reach = e.predicted["CL_reach"]  # CL max - target per point, then target - CL at -5 deg
    assert reach[1] < -0.4 and reach[0] > 0 and reach[2] > 0 and np.all(reach[3:] > 0)
    assert e.ineq[0] < 0 and "target CL within the angle bounds" in e.ineq_names[0]
    np.testing.assert_allclose(e.predicted["CL"][[0, 2]], [0.018, 0.020], atol=1e-6)
    violated = [c["name"] for c in constraint_report(ev, e) if not c["satisfied"]]
    assert violated == ["target CL within the angle bounds: CL max >= 0.5 at point 2"], violated


def test_toy_problem_reaches_its_known_optimum(random_model):
    """Minimise the section's area with area >= 0.07 and a TE angle >= 8 deg: both bounds bind."""
    problem = AirfoilProblem(
        points=(OperatingPoint(reynolds=1e6, alpha=2.0),),
        objective="expression",
        expression="area + 0.001 * te_angle",
        constraints=Constraints(area_min=0.07, te_angle_min=8.0, alpha_increasing=False),
        trust=Trust(confidence_min=None),
        solver=Solver(maxiter=100),
    )
    result = optimize(problem, random_model, start="naca0012")
    cst = torch.tensor(result.cst, dtype=torch.float64)
    assert result.success and result.status == "optimal", result.message
    assert float(area(cst)) == pytest.approx(0.07, abs=1e-5)
    assert float(te_angle(cst)) == pytest.approx(8.0, abs=1e-3)
    assert result.objective == pytest.approx(0.07 + 0.008, abs=1e-5)


def test_an_optimum_outside_the_training_range_is_warned_of(random_model):
    """The same toy problem, with a model whose training shapes all sat within 1e-3 of the NACA 0012
    start: the optimum (a thinner section) leaves that range and the result says which weights."""
    from phenograd.datasets.cst import CST_NAMES

    start = fit_cst(naca("0012"))
    low, high = start - 1e-3, start + 1e-3
    low[-1], high[-1] = 0.0, 0.01  # the problem fixes the trailing-edge thickness at 0
    rng = {"names": list(CST_NAMES), "low": low.tolist(), "high": high.tolist(), "tail": 0.005, "shapes": 10}
    problem = AirfoilProblem(
        points=(OperatingPoint(reynolds=1e6, alpha=2.0),),
        objective="expression",
        expression="area + 0.001 * te_angle",
        constraints=Constraints(area_min=0.07, te_angle_min=8.0, alpha_increasing=False),
        trust=Trust(confidence_min=None),
        solver=Solver(maxiter=100),
    )
    ranged = AirfoilSurrogate(random_model.ensemble, {"meta": {"design_range": rng}})
    result = optimize(problem, ranged, start="naca0012")
    (line,) = [w for w in result.warnings if "training shapes" in w]
    moved = [n for n, v, lo, hi in zip(CST_NAMES, result.cst, low, high) if not lo <= v <= hi]
    assert moved and all(f"{n} " in line for n in moved), (moved, line)
    assert not any("training shapes" in w for w in optimize(problem, random_model, start="naca0012").warnings)
    # trust.training_range keeps every weight inside the range instead (no warning then), and needs a range.
    kept = optimize(replace(problem, trust=Trust(confidence_min=None, training_range=True)), ranged, start="naca0012")
    assert np.all(np.array(kept.cst) >= np.array(rng["low"]) - 1e-9) and np.all(
        np.array(kept.cst) <= np.array(rng["high"]) + 1e-9
    )
    assert not any("training shapes" in w for w in kept.warnings)
    with pytest.raises(InputError, match="records no training range"):
        optimize(
            replace(problem, trust=Trust(confidence_min=None, training_range=True)), random_model, start="naca0012"
        )
    far = {**rng, "low": (start + 5.0).tolist(), "high": (start + 6.0).tolist()}
    with pytest.raises(InputError, match="bounds of CST weight upper_0 miss the model's training range"):
        optimize(
            replace(problem, trust=Trust(confidence_min=None, training_range=True)),
            AirfoilSurrogate(random_model.ensemble, {"meta": {"design_range": far}}),
            start="naca0012",
        )


@pytest.mark.slow
def test_infeasible_problem_is_reported_not_raised(random_model):
    problem = AirfoilProblem(
        points=(OperatingPoint(reynolds=1e6, alpha=2.0),),
        objective="weighted_cd",
        constraints=Constraints(thickness_min=((0.3, 0.45),)),
        trust=Trust(confidence_min=None),
        bounds=Bounds(upper=(-0.1, 0.2), lower=(-0.2, 0.1)),
        solver=Solver(maxiter=30),
    )
    result = optimize(problem, random_model, start="naca0012")
    assert not result.success and result.status == "infeasible"
    assert "t/c >= 0.45 at x/c=0.3" in result.message
    assert [c["name"] for c in result.constraints if not c["satisfied"]] == ["t/c >= 0.45 at x/c=0.3"]


def test_daedalus_bounds_the_wiggliness_as_the_tutorial_does(random_model):
    """AeroSandbox's tutorial bounds the wiggliness by twice that of its start, AeroSandbox's CST fit of NACA 0012.
    phenograd's fit of the section is smoother, so a bound relative to it would be tighter than the tutorial's: the
    bound is absolute, in daedalus_problem() and in the example problem file, and it is a row of the solve (on the
    square root of both sides)."""
    import aerosandbox as asb

    start = asb.KulfanAirfoil("naca0012")
    tutorial = torch.tensor(np.concatenate([start.upper_weights, start.lower_weights, [0.0, 0.0]]))
    assert float(wiggliness(tutorial)) == pytest.approx(TUTORIAL_START_WIGGLINESS, rel=1e-5)
    ours = start_design("naca0012")[0]
    assert float(wiggliness(torch.as_tensor(ours))) < 0.8 * TUTORIAL_START_WIGGLINESS
    problem = daedalus_problem()
    bound = 2 * TUTORIAL_START_WIGGLINESS
    assert problem.constraints.wiggliness_max == bound and problem.constraints.wiggliness_max_ratio is None
    example, _ = load_problem(ROOT / "examples" / "problems" / "daedalus.toml")
    assert example.constraints.wiggliness_max == bound and example.constraints.wiggliness_max_ratio is None
    space = DesignSpace.build(problem, ours)
    e = DesignEvaluator(random_model, problem, space, ours).at(space.pack(ours, np.zeros(len(problem.points))))
    row = e.ineq_names.index(f"wiggliness <= {bound:g}")
    # the row bounds the square root (the same feasible set): (sqrt(bound) - sqrt(w)) / sqrt(bound)
    root = bound**0.5
    assert e.ineq[row] == pytest.approx((root - float(wiggliness(torch.as_tensor(ours))) ** 0.5) / root)
    with pytest.raises(InputError, match="wiggliness_max must be positive"):
        replace(problem, constraints=replace(problem.constraints, wiggliness_max=0.0))


@pytest.mark.parametrize(
    "toml, message",
    [
        ("[[points]]\nreynolds = 1e6\ncl = 0.5\nalpha = 2\n", "not both"),
        ("[[points]]\nreynolds = 1e6\nspeed = 3\n", "unknown key 'speed'"),
        ("[[points]]\nreynolds = -5\n", "reynolds -5 out of range"),
        (
            "[[points]]\nreynolds = 1e6\n[constraints]\nmax_thickness_min = 0.2\nmax_thickness_max = 0.1\n",
            "contradictory",
        ),
        ("[[points]]\nreynolds = 1e6\n[objective]\nkind = 'fastest'\n", "unknown objective 'fastest'"),
        ("[[points]]\nreynolds = 1e6\n[trust]\ntraining_range = 1\n", "trust.training_range must be true or false"),
        ("[[points]]\nreynolds = 1e6\n[solver]\nangles = 'free'\n", "unknown solver.angles 'free'"),
        ("name = 'x'\n", "at least one [[points]]"),
        ("[[points]\nreynolds = 1e6\n", "not a valid TOML file"),
    ],
)
def test_bad_problem_files_give_one_line_errors(tmp_path, toml, message):
    path = tmp_path / "p.toml"
    path.write_text(toml)
    with pytest.raises(InputError, match=message.replace("[", r"\[")):
        load_problem(path)


def test_bad_expression_and_bad_start_shape(random_model, tmp_path):
    with pytest.raises(InputError, match="objective expression: attribute access 'CD.nosuchmethod'"):
        AirfoilProblem(
            points=(OperatingPoint(reynolds=1e6, alpha=2.0),),
            objective="expression",
            expression="CD.nosuchmethod()",
            trust=Trust(confidence_min=None),
        )
    problem = AirfoilProblem(
        points=(OperatingPoint(reynolds=1e6, alpha=2.0), OperatingPoint(reynolds=1e6, alpha=4.0)),
        objective="expression",
        expression="CD",  # (P,) = (2,): not one number
        trust=Trust(confidence_min=None),
    )
    with pytest.raises(InputError, match="must give one number"):
        optimize(problem, random_model, start="naca0012")
    crossing = tmp_path / "bowtie.dat"
    crossing.write_text(
        "bowtie\n1 0\n0.5 0.05\n0 0\n0.5 -0.05\n0.7 0.08\n1 0\n"
        + "".join(f"{x:.3f} {0.01 * np.sin(9 * x):.4f}\n" for x in np.linspace(0.9, 0.1, 8))
    )
    with pytest.raises(InputError, match="start shape"):
        start_design(str(crossing))


@pytest.mark.slow
def test_cli_optimizes_and_verifies_on_the_shipped_model(tmp_path):
    """One operating point (CL 0.5 at Re 1e6, minimum CD, t/c >= 0.1 at 30 % chord): the optimum's
    drag is below NACA 2412's and XFOIL confirms the surrogate's CD within 15 %."""
    problem = tmp_path / "p.toml"
    problem.write_text(
        'name = "single point"\nstart = "naca2412"\n[[points]]\nreynolds = 1e6\ncl = 0.5\n'
        "[constraints]\nthickness_min = [[0.3, 0.10]]\nte_angle_min = 6.0\nwiggliness_max_ratio = 3.0\n"
        "[solver]\nmaxiter = 60\n"
    )
    out = tmp_path / "out"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "phenograd",
            "optimize",
            "airfoil",
            "--problem",
            str(problem),
            "--verify",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr + r.stdout
    report = json.loads((out / "report.json").read_text())
    for name in ("optimized.dat", "start.dat", "shape.png", "polars.png"):
        assert (out / name).stat().st_size > 0
    assert report["verified"] and report["xfoil_calls"] >= 2 and report["surrogate_calls"] > 1
    (point,) = report["points"]
    verified = point["verified"]
    assert verified["converged"] and abs(verified["CL"] - 0.5) < 1e-9
    assert abs(point["CL"] - 0.5) < 1e-3
    assert report["verified_objective"] < report["verified_start_objective"]
    assert abs(point["CD"] / verified["CD"] - 1) < 0.15
    assert "objective (XFOIL)" in r.stdout


@pytest.mark.slow
def test_cli_compile_runs_the_compiled_encoder_to_the_eager_optimum(tmp_path):
    """--compile: the encoder's passes through torch.compile for real (no fallback to eager), and the solve ends
    at the eager solve's optimum (float rounding apart)."""
    from phenograd.surrogate.predict import load_surrogate

    problem = tmp_path / "p.toml"
    problem.write_text(
        'name = "single point"\nstart = "naca2412"\n[[points]]\nreynolds = 1e6\ncl = 0.5\n'
        "[constraints]\nthickness_min = [[0.3, 0.10]]\nte_angle_min = 6.0\n[solver]\nmaxiter = 20\n"
    )
    out = tmp_path / "out"
    r = subprocess.run(
        [sys.executable, "-m", "phenograd", "optimize", "airfoil", "--problem", str(problem), "--compile"]
        + ["--json", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr + r.stdout
    assert "torch.compile of the airfoil fast path failed" not in r.stderr
    compiled = json.loads((out / "report.json").read_text())
    eager = optimize(load_problem(problem)[0], load_surrogate(domain="airfoil"), start="naca2412")
    assert compiled["objective"] == pytest.approx(eager.objective, rel=1e-3)
    assert compiled["objective"] < compiled["start_objective"]


@pytest.mark.slow
def test_cli_bad_problem_is_one_line_and_nothing_written(tmp_path):
    problem = tmp_path / "p.toml"
    problem.write_text("[[points]]\nreynolds = 1e6\ncl = 0.5\nalpha = 1\n")
    out = tmp_path / "out"
    r = subprocess.run(
        [sys.executable, "-m", "phenograd", "optimize", "airfoil", "--problem", str(problem), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not both" in r.stderr
    assert not out.exists()


@pytest.mark.slow
def test_refinement_round_simulates_fine_tunes_and_reoptimizes(tmp_path):
    from phenograd.datasets.polar_store import PolarStore
    from phenograd.optimize.airfoil_refine import fine_tune, refine
    from phenograd.surrogate.predict import load_surrogate

    problem = AirfoilProblem(
        points=(OperatingPoint(reynolds=1e6, cl=0.5),),
        objective="weighted_cd",
        constraints=Constraints(thickness_min=((0.3, 0.10),), te_angle_min=6.0),
        solver=Solver(maxiter=15),
    )
    result, tuned = refine(
        problem,
        load_surrogate(domain="airfoil"),
        "naca2412",
        rounds=1,
        out_dir=tmp_path,
        tolerance=0.0,
        samples=2,
        epochs=2,
    )
    assert [r["round"] for r in result.rounds] == [0, 1]
    assert all(r["verified"] is not None for r in result.rounds)
    assert [r["kept"] for r in result.rounds].count(True) == 1
    assert result.verified_objective == next(r["verified"] for r in result.rounds if r["kept"])
    with PolarStore.open_readonly(tmp_path / "refine.db") as store:
        assert store.count("polars") >= 2
    refined = load_surrogate(tmp_path / "refined_model.pt", domain="airfoil")
    base = load_surrogate(domain="airfoil")
    a = refined.ensemble.members[0].head.net[0].weight
    b = base.ensemble.members[0].head.net[0].weight
    assert not torch.equal(a, b)  # fine-tuned
    assert result.xfoil_calls > 4
    # The same seed fine-tunes to the same weights whatever NumPy's global state (Optuna, or anything run before).
    tuned_twice = []
    for global_seed in (1, 2):
        np.random.seed(global_seed)
        tuned_twice.append(fine_tune(base, tmp_path / "refine.db", epochs=1, lr=3e-4, seed=5).ensemble)
    for m, n in zip(*(e.members for e in tuned_twice)):
        assert all(torch.equal(x, y) for x, y in zip(m.state_dict().values(), n.state_dict().values()))


def test_refinement_returns_the_best_verified_round():
    """A later round can verify worse than an earlier one; the refinement returns the best optimum XFOIL verified
    (converged at every point), never an unverified or failed one."""
    from phenograd.optimize.airfoil_refine import best_round

    def round_result(verified_objective, success=True, converged=True):
        point = PointReport(1e6, 0.5, 1.0, 2.0, 0.5, 0.01, 0.0, 0.0, 0.0, 0.95, verified={"converged": converged})
        return AirfoilResult(
            problem="p", success=success, status="", message="", cst=[], contour=np.zeros((0, 2)),
            verified_objective=verified_objective, points=[point],
        )  # fmt: skip

    assert best_round([round_result(0.0108), round_result(0.0107), round_result(0.0109)]) == 1
    assert best_round([round_result(0.0108), round_result(0.0100, success=False)]) == 0
    assert best_round([round_result(0.0108), round_result(0.0100, converged=False)]) == 0
    assert best_round([round_result(None), round_result(None)]) == 1  # nothing verified: the last round


# The Daedalus optimum of the shipped model of 2026-11-30 (make demo): at its CL 1.2 point (Re 510,310, Mach 0.03)
# XFOIL 6.99 converges at no angle that brackets the target at 160 or 200 panels, and does at 240.
DAEDALUS_OPTIMUM_CST = [
    0.21704204557102608,
    0.266034434368359,
    0.3416302120250155,
    0.3464407731702897,
    0.32218885977246575,
    0.3155462294779698,
    0.2575748388347105,
    0.17200490833807694,
    -0.11290841994406363,
    -0.008537562979124055,
    -0.04894900166970884,
    -0.040343244702394844,
    0.09265204807419103,
    0.1321192443322434,
    0.07636756009785448,
    0.06518684854122864,
    0.1747411997927576,
    0.0,
]


@pytest.mark.slow
def test_verification_retries_a_point_xfoil_cannot_converge_on_finer_panellings():
    """Real XFOIL: the point fails at 160 panels; the verifier retries at 200 and 240, reports where it converged,
    and counts every polar it ran; a point of the same shape that converges at 160 panels is not retried."""
    from phenograd.datasets.cst import cst_to_coordinates
    from phenograd.optimize.airfoil_verify import verify_point

    contour = cst_to_coordinates(np.asarray(DAEDALUS_OPTIMUM_CST))
    point, alpha_guess = daedalus_problem().points[2], 4.62282889187278
    assert point.cl == 1.2
    alone, calls_alone = verify_point(contour, point, alpha_guess, fallback_panels=())
    assert not alone["converged"] and alone["panels"] == 160 and calls_alone == 2  # window, then shifted once
    found, calls = verify_point(contour, point, alpha_guess)
    assert found["converged"] and found["panels"] == 240, found
    assert found["status"] == "ok at 240 panels (XFOIL did not converge at 160)"
    assert calls == 5  # 2 polars at 160, 2 at 200, 1 at 240
    assert found["CL"] == pytest.approx(1.2) and 4.5 < found["alpha"] < 5.2
    lower = verify_point(contour, replace(point, cl=1.0), 3.0)[0]  # the same shape converges at 160 panels lower down
    assert lower["converged"] and lower["panels"] == 160 and lower["status"] == "ok"
    assert 0.005 < found["CD"] < 0.015


@pytest.mark.slow
def test_verification_and_refinement_simulations_run_the_same_on_a_dask_cluster(tmp_path):
    """A real LocalCluster: XFOIL verification of a design and the simulations around an optimum give
    what the local run gives, and every refinement polar is stored once."""
    import sqlite3
    from types import SimpleNamespace

    from distributed import LocalCluster

    from phenograd.datasets.cst import cst_to_coordinates
    from phenograd.datasets.polar_store import PolarStore
    from phenograd.optimize.airfoil_refine import simulate_around
    from phenograd.optimize.airfoil_verify import verify_design

    problem = AirfoilProblem(
        points=(OperatingPoint(reynolds=1e6, cl=0.5), OperatingPoint(reynolds=5e5, alpha=2.0)), objective="weighted_cd"
    )
    cst = np.asarray(fit_cst(naca("2412")))
    optimum = SimpleNamespace(cst=cst, points=[SimpleNamespace(alpha=3.0), SimpleNamespace(alpha=2.0)])
    contour = cst_to_coordinates(cst)

    def rows(path):
        conn = sqlite3.connect(path)
        try:
            return sorted(conn.execute("SELECT key, alpha, CL, CD, CM, status FROM points").fetchall())
        finally:
            conn.close()

    with PolarStore.open(tmp_path / "local.db") as store:
        local_runs = simulate_around(optimum, problem, store, 1, seed=0, workers=1)
    local_verified, local_calls = verify_design(contour, problem, [3.0, 2.0], workers=1)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        with PolarStore.open(tmp_path / "dask.db") as store:
            dask_runs = simulate_around(optimum, problem, store, 1, seed=0, scheduler=cluster.scheduler_address)
            again = simulate_around(optimum, problem, store, 1, seed=0, scheduler=cluster.scheduler_address)
        verified, calls = verify_design(contour, problem, [3.0, 2.0], scheduler=cluster.scheduler_address)
    assert local_runs == dask_runs == 4 and again == 0  # 2 shapes x 2 points, nothing rerun
    assert rows(tmp_path / "dask.db") == rows(tmp_path / "local.db")
    assert verified == local_verified and calls == local_calls
    assert verified[0]["converged"] and abs(verified[0]["CL"] - 0.5) < 1e-9


@pytest.mark.slow
def test_cli_verifies_the_optimum_with_rans(tmp_path):
    """--fidelity rans: one fixed-angle point (minimum CD at alpha 2, Re 3e6, a few solver iterations); the start
    and the optimum each get one OpenFOAM case (whether or not the short solve found a feasible design), and on
    NACA 2412 RANS lift agrees with the surrogate's within 0.1."""
    problem = tmp_path / "p.toml"
    problem.write_text(
        'name = "rans check"\nstart = "naca2412"\n[[points]]\nreynolds = 3e6\nalpha = 2.0\n'
        '[objective]\nkind = "weighted_cd"\n'
        "[constraints]\nthickness_min = [[0.3, 0.10]]\nte_angle_min = 6.0\nwiggliness_max_ratio = 3.0\n"
        "[solver]\nmaxiter = 5\n"
    )
    out = tmp_path / "out"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "phenograd",
            "optimize",
            "airfoil",
            "--problem",
            str(problem),
            "--fidelity",
            "rans",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert r.returncode in (0, 3), r.stderr + r.stdout  # 3: no feasible design within 5 iterations
    report = json.loads((out / "report.json").read_text())
    assert report["fidelity"] == "rans" and report["rans_cases"] == 2 and report["xfoil_calls"] == 0
    (start,) = report["start_points"]
    verified = start["verified"]
    assert verified["converged"] and verified["alpha"] == 2.0
    assert abs(verified["CL"] - start["CL"]) < 0.1 and verified["CD"] > 0
    assert report["verified_start_objective"] == pytest.approx(verified["CD"])
    (point,) = report["points"]
    assert point["verified"] is not None and point["verified"]["alpha"] == 2.0
    assert "objective (RANS)" in r.stdout and "RANS cases 2" in r.stdout
    assert any("fully turbulent" in w for w in report["warnings"])


@pytest.mark.slow
def test_rans_fidelity_refuses_refinement(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "phenograd",
            "optimize",
            "airfoil",
            "--problem",
            "daedalus",
            "--fidelity",
            "rans",
            "--refine",
            "1",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert r.returncode == 2 and "--refine simulates with XFOIL" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()
