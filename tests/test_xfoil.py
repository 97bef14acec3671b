"""The XFOIL driver against the real binary: anchor values, sweep attribution, guards."""

import numpy as np
import pytest

from phenograd.core.errors import InputError, SimulatorUnavailable
from phenograd.datasets.airfoil import naca
from phenograd.simulators.contour import XFOIL_MAX_POINTS, self_intersections
from phenograd.simulators.xfoil import XfoilSettings, parse_alpha_spec, run_polar


def test_naca2412_anchor():
    """DESIGN.md's verified anchor: NACA 2412, Re 1e6, alpha 2 -> CL 0.4496, CD 0.00578."""
    r = run_polar(naca("2412"), [2.0], XfoilSettings(reynolds=1e6))
    assert r.status == "ok"
    p = r.points[0]
    assert p.converged and p.status == "ok"
    assert p.CL == pytest.approx(0.4496, abs=5e-4)
    assert p.CD == pytest.approx(0.00578, abs=5e-5)
    assert p.CM == pytest.approx(-0.0481, abs=5e-4)


def test_sweep_points_match_single_angle_runs():
    """Up-then-down sweep returns ascending alphas; the downward branch does not disturb the upward one."""
    settings = XfoilSettings(reynolds=1e6)
    sweep = run_polar(naca("0012"), [4, -2, 0, 2, -4], settings)
    assert [p.alpha for p in sweep.points] == [-4, -2, 0, 2, 4]
    assert all(p.converged for p in sweep.points)
    cl = {p.alpha: p.CL for p in sweep.points}
    assert cl[2.0] == pytest.approx(-cl[-2.0], abs=2e-3)  # symmetric section
    upward_only = run_polar(naca("0012"), [0, 2, 4], settings)
    assert [p.CL for p in upward_only.points] == [cl[0.0], cl[2.0], cl[4.0]]


def test_non_converged_angles_are_attributed_to_their_alpha():
    """With 3 iterations almost nothing converges; every point keeps its own alpha and status."""
    r = run_polar(naca("4412"), [0, 5, 10, -3], XfoilSettings(reynolds=2e5, max_iter=3))
    assert r.status == "ok"
    assert [p.alpha for p in r.points] == [-3, 0, 5, 10]
    failed = [p for p in r.points if not p.converged]
    assert failed, "3 Newton iterations should leave some angle unconverged"
    for p in failed:
        assert p.status == "failed: not converged" and p.CL is None
    for p in r.points:
        if p.converged:
            assert p.CL is not None and p.status == "ok"


def test_timeout_kills_and_marks_points():
    # 0.05 s is far below a 21-angle polar (~1 s) but a fast machine may converge the first angle or two
    # before the kill: those keep their results; the angle in progress is "timeout", the rest "not run".
    r = run_polar(naca("2412"), list(range(-5, 16)), XfoilSettings(reynolds=1e6, timeout_s=0.05))
    assert r.status == "timeout"
    kinds = [p.status.split(":")[0] for p in r.points]
    assert set(kinds) <= {"ok", "failed", "timeout", "not run"}
    assert kinds.count("timeout") == 1 and kinds.count("not run") >= 10
    assert all(p.converged == (k == "ok") for p, k in zip(r.points, kinds))


def test_crash_is_recorded_at_the_angle_it_happened(monkeypatch):
    """Without the FP-trap shim Debian's xfoil dies with SIGFPE on the first viscous point."""
    monkeypatch.setenv("PHENOGRAD_XFOIL_FPE_SHIM", "0")
    r = run_polar(naca("2412"), [-1, 0, 1], XfoilSettings(reynolds=1e6))
    assert r.status.startswith("failed: xfoil crashed")
    by_alpha = {p.alpha: p.status for p in r.points}
    # Each angle is tried in turn by a fresh process (0 first, then 1, then -1) and crashes there.
    assert all(by_alpha[a].startswith("failed: xfoil crashed") for a in (-1.0, 0.0, 1.0))
    assert r.restarts == 2 and not any(p.converged for p in r.points)


def test_hang_watchdog_restarts_from_the_next_angle():
    """An angle that makes no progress within angle_timeout_s is killed; XFOIL restarts at the next one."""
    settings = XfoilSettings(reynolds=1e6, angle_timeout_s=1e-3, max_restarts=2)
    r = run_polar(naca("2412"), [0, 1, 2, 3, -1, -2], settings)
    status = {p.alpha: p.status for p in r.points}
    assert [status[a] for a in (0.0, 1.0, 2.0)] == ["timeout"] * 3
    assert all(status[a].startswith("not run: no restarts left") for a in (3.0, -1.0, -2.0))
    assert r.status == "timeout" and r.restarts == 2


def test_missing_binary_is_reported(monkeypatch):
    monkeypatch.setenv("PHENOGRAD_XFOIL", "/nonexistent/xfoil")
    with pytest.raises(SimulatorUnavailable, match="not found"):
        run_polar(naca("2412"), [0], XfoilSettings(reynolds=1e6))


def test_self_crossing_contour_is_refused_before_xfoil():
    c = naca("0012")
    c[:40, 1] = -3.0 * c[:40, 1]  # the aft upper surface dips below the lower one
    assert self_intersections(c)
    with pytest.raises(InputError, match="crosses itself"):
        run_polar(c, [0], XfoilSettings(reynolds=1e6))


def test_too_many_points_are_repanelled_not_silently_replaced():
    dense = naca("2412", n_points_per_side=400)
    assert len(dense) > XFOIL_MAX_POINTS
    r = run_polar(dense, [2], XfoilSettings(reynolds=1e6))
    assert r.points[0].CL == pytest.approx(0.4496, abs=2e-3)
    # A different (symmetric) airfoil loaded afterwards must give its own answer.
    r2 = run_polar(naca("0012", n_points_per_side=400), [0], XfoilSettings(reynolds=1e6))
    assert abs(r2.points[0].CL) < 1e-3


@pytest.mark.parametrize("bad", [np.full((50, 2), np.nan), np.zeros((5, 2)), np.zeros((30, 3))])
def test_bad_contours_raise_input_error(bad):
    with pytest.raises(InputError):
        run_polar(bad, [0], XfoilSettings(reynolds=1e6))


@pytest.mark.parametrize(
    "settings",
    [
        XfoilSettings(reynolds=-1),
        XfoilSettings(reynolds=1e6, mach=1.2),
        XfoilSettings(reynolds=1e6, n_panels=900),
        XfoilSettings(reynolds=float("nan")),
    ],
)
def test_bad_settings_raise_input_error(settings):
    with pytest.raises(InputError):
        run_polar(naca("2412"), [0], settings)


def test_alpha_spec():
    assert parse_alpha_spec("2") == [2.0]
    assert parse_alpha_spec("-4:12:4") == [-4.0, 0.0, 4.0, 8.0, 12.0]
    assert parse_alpha_spec("0,2,4") == [0.0, 2.0, 4.0]
    assert parse_alpha_spec("0:1:0.25") == [0.0, 0.25, 0.5, 0.75, 1.0]
    for bad in ["", "a", "1:2", "4:0:1", "0:4:0", "0:4:-1", "nan", "100", "1,,2"]:
        with pytest.raises(InputError):
            parse_alpha_spec(bad)
