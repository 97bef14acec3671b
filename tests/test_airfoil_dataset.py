"""Resumable airfoil datasets: planning, storage, SIGKILL or SIGTERM and restart, Dask LocalCluster."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from phenograd.datasets.airfoil_generate import AirfoilRequest, generate, plan_jobs
from phenograd.datasets.airfoil_sampling import mixed_shapes, sobol_shapes, training_cst, valid_mask
from phenograd.datasets.polar_info import dataset_info
from phenograd.datasets.polar_store import PolarStore

SMALL = dict(alphas=(0.0, 2.0), polars_per_shape=1, seed=5)


def _rows(path):
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        polars = dict(conn.execute("SELECT key, status FROM polars").fetchall())
        points = conn.execute("SELECT key, COUNT(*) FROM points GROUP BY key").fetchall()
        return polars, dict(points)
    finally:
        conn.close()


def test_samplers_are_valid_seeded_and_use_training_airfoils_only():
    a, b = sobol_shapes(40, seed=1), sobol_shapes(40, seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, sobol_shapes(40, seed=2))
    m = mixed_shapes(40, seed=1)
    assert valid_mask(a).all() and valid_mask(m).all()
    from phenograd.datasets.airfoil import split_of

    assert all(split_of(n) == "train" for n in training_cst().names)


def test_plan_is_deterministic_and_stratified():
    req = AirfoilRequest(shapes=6, polars_per_shape=3, seed=1, alphas=(0.0,))
    jobs, again = plan_jobs(req), plan_jobs(req)
    assert [j.key for j in jobs] == [j.key for j in again]
    assert len({j.key for j in jobs}) == 18
    re_per_shape = {}
    for j in jobs:
        re_per_shape.setdefault(j.shape.shape_id, []).append(j.settings.reynolds)
    for res in re_per_shape.values():  # one Reynolds number per log-band of [1e5, 1e7]
        lo, mid, hi = sorted(res)
        assert 1e5 <= lo < 10 ** (5 + 2 / 3) <= mid < 10 ** (5 + 4 / 3) <= hi <= 1e7


@pytest.mark.slow
def test_plan_runs_real_airfoils_first_without_changing_any_key():
    req = AirfoilRequest(shapes=8, polars_per_shape=2, seed=0, alphas=(0.0,), include_real="all")
    jobs = plan_jobs(req)
    sources = [j.shape.source for j in jobs]
    n_real = sources.count("uiuc")
    assert n_real > 0 and set(sources[:n_real]) == {"uiuc"} and "uiuc" not in sources[n_real:]
    assert jobs[0].shape.split == "test"  # the held-out airfoils lead
    # the keys are those of the plan's own order (Reynolds numbers drawn per position before the reordering)
    from phenograd.datasets.airfoil_generate import plan_shapes
    from phenograd.datasets.airfoil_sampling import reynolds_samples

    shapes = plan_shapes(req)
    re_seed = int(np.random.SeedSequence([req.seed, 7]).generate_state(1)[0])
    res = reynolds_samples(len(shapes), 2, *req.re_range, seed=re_seed)
    expected = {(s.shape_id, float(r)) for s, row in zip(shapes, res) for r in row}
    assert {(j.shape.shape_id, j.settings.reynolds) for j in jobs} == expected


@pytest.mark.slow
def test_generate_then_rerun_writes_nothing_new(tmp_path):
    path = tmp_path / "small.db"
    req = AirfoilRequest(shapes=3, **SMALL)
    first = generate(path, req, workers=1, progress=False)
    assert first.written == 3 and first.already_present == 0
    second = generate(path, req, workers=1, progress=False)
    assert second.written == 0 and second.already_present == 3
    polars, points = _rows(path)
    assert len(polars) == 3 and set(points.values()) == {2}
    info = dataset_info(path)
    assert info["polars"] == 3 and info["points"] == 6
    with PolarStore.open_readonly(path) as store:
        shape = store.shape(next(iter(store.conn.execute("SELECT shape_id FROM shapes")))[0])
        assert shape.coords_um.dtype == np.dtype("<i4") and shape.cst.shape == (18,)


def _generation_command(path):
    args = ["data", "airfoil", "--out", str(path), "--shapes", "10", "--alpha", "0:6:2", "--seed", "3"]
    return [sys.executable, "-m", "phenograd", *args, "--workers", "2", "--no-progress"]


def _start_and_wait_for_rows(cmd, env, path, rows: int) -> subprocess.Popen:
    """Start a generation in a session of its own; return once `rows` polars are stored."""
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline:
        time.sleep(0.3)
        if path.exists():
            try:
                if len(_rows(path)[0]) >= rows:
                    return proc
            except sqlite3.DatabaseError:
                pass
        assert proc.poll() is None, proc.stderr.read().decode()
    raise AssertionError(f"fewer than {rows} polars stored after 240 s")


def _finish_and_check(cmd, env, path, written_before: int) -> None:
    """The same command again writes exactly the missing polars; every planned polar is stored once."""
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    m = re.search(r"(\d+) polars planned, (\d+) already present, (\d+) written now", done.stdout)
    planned, present, written = map(int, m.groups())
    assert planned == 10 and present == written_before and written == 10 - written_before
    polars, points = _rows(path)
    expected = {j.key for j in plan_jobs(AirfoilRequest(shapes=10, alphas=(0.0, 2.0, 4.0, 6.0), seed=3))}
    assert set(polars) == expected
    assert all(points[k] == 4 for k in polars)  # every angle of every polar, once


@pytest.mark.slow
def test_sigkill_mid_run_then_restart_gives_every_polar_once(tmp_path, cli_env):
    path = tmp_path / "killed.db"
    cmd = _generation_command(path)
    proc = _start_and_wait_for_rows(cmd, cli_env, path, rows=3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    written_before = len(_rows(path)[0])
    assert 3 <= written_before < 10, "the kill must land mid-run"
    _finish_and_check(cmd, cli_env, path, written_before)


@pytest.mark.slow
def test_sigterm_mid_run_cleans_up_says_so_and_resumes(tmp_path, cli_env):
    """SIGTERM to the whole process group (what `kill -- -PGID` and service managers send): the command unwinds
    like Ctrl-C, exits 143 with one line, leaves no XFOIL working directory behind, and resumes losing nothing."""
    path, scratch = tmp_path / "terminated.db", tmp_path / "scratch"
    scratch.mkdir()
    env = {**cli_env, "TMPDIR": str(scratch)}
    cmd = _generation_command(path)
    proc = _start_and_wait_for_rows(cmd, env, path, rows=3)
    os.killpg(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr.decode()
    lines = stderr.decode().strip().splitlines()
    assert lines.count("phenograd: terminated; run the same command again to resume") == 1, lines
    assert "Traceback" not in stderr.decode()
    assert not list(scratch.glob("phenograd-xfoil-*"))
    written_before = len(_rows(path)[0])
    assert 3 <= written_before < 10, "the signal must land mid-run"
    _finish_and_check(cmd, env, path, written_before)


@pytest.mark.slow
def test_same_generation_on_a_dask_local_cluster(tmp_path):
    from distributed import LocalCluster

    req = AirfoilRequest(shapes=3, **SMALL)
    local = tmp_path / "local.db"
    generate(local, req, workers=1, progress=False)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        dask_path = tmp_path / "dask.db"
        summary = generate(dask_path, req, scheduler=cluster.scheduler_address, progress=False)
    assert summary.written == 3

    def values(path):
        conn = sqlite3.connect(path)
        try:
            return sorted(conn.execute("SELECT key, alpha, CL, CD, CM, status FROM points").fetchall())
        finally:
            conn.close()

    assert values(dask_path) == values(local)  # same keys, same XFOIL answers
