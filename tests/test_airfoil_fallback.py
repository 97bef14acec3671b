"""Finer-panelling retries of a dataset's non-converged points (datasets/airfoil_fallback.py), with real XFOIL.

NACA 4412 at Re 1e5 over -3..1 deg (its stored, micro-chord contour) is a measured case of the panelling noise the
retries remove: XFOIL fails at -2 deg at 160 and at 240 panels, and converges there at 200."""

import subprocess
import sys

import pytest

from phenograd.core.errors import InputError
from phenograd.datasets.airfoil import naca
from phenograd.datasets.airfoil_fallback import merged_points, plan_fallback, run_fallback, sweep_angles
from phenograd.datasets.polar_store import PolarStore, ShapeRecord, polar_key, quantize
from phenograd.simulators.xfoil import XfoilSettings, run_polar

ALPHAS = [-3.0, -2.0, -1.0, 0.0, 1.0]


def test_sweep_angles_follow_the_continuation_to_each_failing_angle():
    alphas = [-5.0, -4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
    assert sweep_angles(alphas, [2.0]) == [0.0, 1.0, 2.0]
    assert sweep_angles(alphas, [0.0, 1.0]) == [0.0, 1.0]
    assert sweep_angles(alphas, [-3.0]) == alphas  # the downward half starts where the whole upward one ends
    assert sweep_angles(alphas, []) == []


@pytest.fixture
def primary_store(tmp_path):
    """A dataset file with one real 160-panel polar that fails at -2 deg."""
    path = tmp_path / "polars.db"
    shape = ShapeRecord("naca4412", "naca", "train", quantize(naca("4412")))
    settings = XfoilSettings(reynolds=1e5)
    result = run_polar(shape.coordinates, ALPHAS, settings)
    assert [p.alpha for p in result.points if not p.converged] == [-2.0], "XFOIL's 160-panel failures moved"
    with PolarStore.open(path) as store:
        store.add_polar(shape, polar_key(shape.shape_id, settings, ALPHAS), result, ALPHAS)
        primary = {round(r[3], 4): r for r in merged_points(store)}
    return path, primary


def _panels_stored(path) -> list[int]:
    with PolarStore.open_readonly(path) as store:
        return [r[0] for r in store.conn.execute("SELECT n_panels FROM polars ORDER BY created")]


def test_retries_recover_the_failed_points_in_order_and_a_rerun_does_nothing(primary_store):
    path, primary = primary_store
    summary = run_fallback(path, panels=(240, 200), workers=1, progress=False)
    assert (summary.planned, summary.written, summary.failed) == (1, 1, 0)
    assert _panels_stored(path) == [160, 240, 200]  # 240 did not converge at -2 deg, so 200 was tried
    with PolarStore.open_readonly(path) as store:
        merged = {round(r[3], 4): r for r in merged_points(store)}
        assert not plan_fallback(store, (240, 200))
    assert sorted(merged) == ALPHAS  # one row per primary point, none added
    assert all(r[4] for r in merged.values())
    assert merged[-2.0][10] == 200 and merged[-2.0][5] is not None
    for alpha in (-3.0, -1.0, 0.0, 1.0):  # converged at 160: the primary's values stay
        assert merged[alpha] == primary[alpha]
    again = run_fallback(path, panels=(240, 200), workers=1, progress=False)
    assert (again.planned, again.written) == (0, 0) and _panels_stored(path) == [160, 240, 200]


def test_a_run_stopped_after_one_panelling_resumes_with_the_next(primary_store):
    path, _ = primary_store
    run_fallback(path, panels=(240,), workers=1, progress=False)  # what a kill after the first retry leaves
    with PolarStore.open_readonly(path) as store:
        (job,) = plan_fallback(store, (240, 200))
    assert job.panels == (200,) and job.failing == (-2.0,)
    run_fallback(path, panels=(240, 200), workers=1, progress=False)
    assert _panels_stored(path) == [160, 240, 200]


def test_training_points_count_a_retry_as_converged(primary_store):
    from phenograd.surrogate.airfoil_data import load_airfoil_points

    path, _ = primary_store
    before = load_airfoil_points(path)
    run_fallback(path, panels=(200,), workers=1, progress=False)
    after = load_airfoil_points(path)
    assert int(before.converged.sum()) == 4 and int(after.converged.sum()) == 5
    assert before.data_hash != after.data_hash
    assert after.targets.shape == before.targets.shape


def test_bad_input_is_one_line_and_writes_nothing(primary_store, tmp_path, cli_env):
    path, _ = primary_store
    with pytest.raises(InputError, match="no polar dataset"):
        run_fallback(tmp_path / "missing.db", workers=1, progress=False)
    with pytest.raises(InputError, match="fallback panels"):
        run_fallback(path, panels=(10,), workers=1, progress=False)
    cmd = [sys.executable, "-m", "phenograd", "data", "airfoil-fallback", "--data", str(path), "--panels", "200,x"]
    done = subprocess.run(cmd, env=cli_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "phenograd: error: bad --panels '200,x': write panellings as 200,240"
    ]
    assert _panels_stored(path) == [160]


def test_dataset_info_counts_each_angle_once_and_the_retries_by_panelling(primary_store):
    from phenograd.datasets.polar_info import dataset_info, format_info

    path, _ = primary_store
    before = dataset_info(path)
    run_fallback(path, panels=(200,), workers=1, progress=False)
    after = dataset_info(path)
    assert before["points"] == after["points"] == len(ALPHAS)
    assert (before["points_converged"], after["points_converged"]) == (4, 5)
    assert before["polars_by_panels"] == {"160": 1} and after["polars_by_panels"] == {"160": 1, "200": 1}
    assert "polars 2 (by panelling: 160: 1, 200: 1)" in format_info(after)
