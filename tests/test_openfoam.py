"""OpenFOAM RANS: the C-grid, OpenFOAM's own mesh check, a real coarse case beside XFOIL, parsing and failures.

Needs Debian's openfoam package (`make test` installs it through `make setup-cfd`).
"""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import PHENOGRAD

from phenograd.core.errors import InputError, SimulatorUnavailable
from phenograd.datasets.airfoil import naca
from phenograd.simulators.openfoam import (
    RansSettings,
    _settled,
    openfoam_env,
    read_force_coefficients,
    run_rans,
    run_rans_point,
)
from phenograd.simulators.openfoam_mesh import MESH_LEVELS, _signed_areas, c_grid, first_cell_height, write_poly_mesh
from phenograd.simulators.xfoil import XfoilSettings, run_polar


def _sharp(code: str) -> np.ndarray:
    """A NACA section with its trailing-edge gap closed (thickness scaled down linearly in x)."""
    c = naca(code).copy()
    gap = c[0, 1] - c[-1, 1]
    c[:, 1] -= np.sign(c[:, 1]) * 0.5 * gap * c[:, 0]
    return c


@pytest.mark.parametrize("contour,sharp", [(naca("0012"), False), (_sharp("0012"), True), (naca("4412"), False)])
def test_c_grid_cells_are_valid_and_counted(contour, sharp):
    level = MESH_LEVELS["coarse"]
    grid = c_grid(contour, 6e6, level)
    assert grid.sharp is sharp
    assert (grid.n_base == 0) is sharp and (sharp or grid.n_base >= level.n_te)
    assert len(grid.cells) == level.n_cells(grid.n_base)
    assert _signed_areas(grid).min() > 0.0
    # every point is used; the outline (wall + far field) is closed: each boundary edge's points appear twice
    assert set(np.unique(grid.cells)) == set(range(len(grid.points)))
    edges = {}
    for quad in grid.cells.tolist():
        for k in range(4):
            e = tuple(sorted((quad[k], quad[(k + 1) % 4])))
            edges[e] = edges.get(e, 0) + 1
    assert max(edges.values()) == 2
    boundary = [e for e, n in edges.items() if n == 1]
    counts = np.bincount(np.array(boundary).ravel())
    assert set(counts[counts > 0]) == {2}
    wall = [e for e in boundary if grid.wall[e[0]] and grid.wall[e[1]]]
    assert len(wall) == 2 * level.n_surface + grid.n_base
    base = set(grid.base_points.tolist())
    assert sum(e[0] in base and e[1] in base for e in wall) == grid.n_base


def test_geometric_spacing_for_many_cells():
    from phenograd.simulators.openfoam_mesh import geometric

    for n in (60, 240, 1000):
        t = geometric(n, 1e-6)
        steps = np.diff(t)
        assert t[0] == 0.0 and t[-1] == pytest.approx(1.0) and steps[0] == pytest.approx(1e-6)
        assert np.allclose(steps[1:] / steps[:-1], steps[1] / steps[0])


def test_first_cell_height_matches_flat_plate_estimate():
    h = first_cell_height(6e6, 1.0)
    cf = 0.026 * 6e6 ** (-1 / 7)
    assert h * 6e6 * np.sqrt(cf / 2) == pytest.approx(1.0)
    assert first_cell_height(1e5, 1.0) > 20 * h  # thicker boundary layer, larger cell


def test_openfoam_accepts_the_written_mesh(tmp_path):
    """OpenFOAM's checkMesh reads the polyMesh we write and finds no error in topology or geometry."""
    write_poly_mesh(c_grid(naca("2412"), 1e6, MESH_LEVELS["coarse"]), tmp_path)
    (tmp_path / "system").mkdir()
    from phenograd.simulators.openfoam_case import case_files

    for rel, text in case_files(2.0, 1e6, "SpalartAllmaras", 10).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    out = subprocess.run(
        ["checkMesh", "-case", str(tmp_path)], capture_output=True, text=True, env=openfoam_env(), timeout=120
    )
    assert out.returncode == 0, out.stdout[-2000:]
    grid = c_grid(naca("2412"), 1e6, MESH_LEVELS["coarse"])
    assert f"cells:            {len(grid.cells)}" in out.stdout
    assert "Zero or negative cell volume" not in out.stdout
    assert "***" not in out.stdout.split("Checking topology")[1].split("Checking geometry")[0]


def test_few_leading_edge_points_mesh_on_one_smooth_spline():
    """Real contours with few points at the leading edge (goe770 has 31 in all) used to fold the grid 5-25
    chords upstream: separate upper and lower splines bulged ahead of the input's minimum-x point and the
    first grid line above the leading edge crossed the stagnation line. One spline through the leading
    edge meshes them, its leading edge is where dx/ds = 0, and the surface still passes through every point."""
    from phenograd.datasets.airfoil import real_airfoils
    from phenograd.simulators.openfoam_mesh import split_surfaces

    foils = {f.name: f.coordinates for f in real_airfoils("all") if f.name in ("goe770", "naca662415", "usa34")}
    assert len(foils) == 3
    for name, contour in foils.items():
        grid = c_grid(contour, 5e6, MESH_LEVELS["coarse"], name)
        assert _signed_areas(grid).min() > 0.0
        split = split_surfaces(contour, name)
        le = split.spline(split.s_le)
        assert le[0] <= contour[:, 0].min() + 1e-12
        assert split.spline(split.s_le, 1)[0] == pytest.approx(0.0, abs=1e-9)
        upper, lower = split.sample("upper", np.array([1.0])), split.sample("lower", np.array([1.0]))
        assert np.allclose(upper[0], contour[0], atol=2e-4) and np.allclose(lower[0], contour[-1], atol=2e-4)


def test_unmeshable_contours_are_refused_before_openfoam():
    with pytest.raises(InputError, match="expected x/c"):
        c_grid(naca("0012") * 3.0, 1e6, MESH_LEVELS["coarse"])
    with pytest.raises(InputError, match="Selig order"):
        c_grid(naca("2412")[::-1], 1e6, MESH_LEVELS["coarse"])
    # a deep notch in the lower surface folds the grid lines
    c = naca("0012").copy()
    lower = (c[:, 1] < 0) & (np.abs(c[:, 0] - 0.5) < 0.03)
    c[lower, 1] += 0.11
    with pytest.raises(InputError, match="cannot mesh|crosses itself"):
        run_rans_point(c, 2.0, RansSettings(reynolds=1e6))


def test_force_coefficient_parsing_drops_a_partial_row(tmp_path):
    f = tmp_path / "coefficient.dat"
    f.write_text(
        "# Force coefficients\n# liftDir : (0 1 0)\n#\n# Time\tCd\tCs\tCl\tCmRoll\tCmPitch\n"
        "1\t0.02\t0\t0.5\t0\t-0.05\n2\t0.019\t0\t0.51\t0\t-0.051\n3\t0.0"
    )
    c = read_force_coefficients(f)
    assert list(c["Time"]) == [1.0, 2.0]
    assert list(c["Cl"]) == [0.5, 0.51]
    assert list(c["CmPitch"]) == [-0.05, -0.051]


def _history(n: int, cl_amp: float, cl_drift: float = 0.0, period: int = 37) -> dict:
    """A force history: a start-up transient, then CL = 0.7 + drift*i + amp*sin, CD = 0.012 + amp/20*sin."""
    i = np.arange(n, dtype=float)
    wave = np.sin(2 * np.pi * i / period)
    cl = 0.7 + cl_drift * i + cl_amp * wave + 0.3 * np.exp(-i / 30)
    cd = 0.012 + cl_amp / 20 * wave + 0.5 * np.exp(-i / 30)
    return {"Time": i + 1, "Cl": cl, "Cd": cd, "CmPitch": np.zeros(n)}


def test_oscillating_forces_settle_on_their_means_and_drifting_ones_do_not():
    s = RansSettings(reynolds=1e6, max_iter=2000)
    quiet = _settled(_history(2000, 1e-5), s)
    assert quiet is not None and quiet[1] == "forces" and quiet[0] < 600
    # a limit cycle of +-0.02 in CL never passes the plain criterion, but its block means agree; the first
    # checkpoint that can decide leaves the transient block out
    cycle = _settled(_history(2000, 0.02), s)
    assert cycle == (1200, "mean")
    # a slow drift (0.01 in CL per 1000 iterations) under the same cycle is not settled, nor a big cycle
    assert _settled(_history(2000, 0.02, cl_drift=1e-5), s) is None
    assert _settled(_history(2000, 0.2, period=450), s) is None
    assert _settled(_history(2000, 0.02), RansSettings(reynolds=1e6, max_iter=2000, mean_blocks=0)) is None


@pytest.mark.slow
def test_real_skip_picks_other_airfoils_of_the_same_seeded_order():
    from phenograd.datasets.airfoil_rans import RansRequest, plan_rans_jobs

    def plan(**kw):
        return plan_rans_jobs(RansRequest(shapes=0, seed=0, include_real="train", alphas=[0.0, 4.0], **kw))

    first, more, both = plan(real_limit=5), plan(real_skip=5, real_limit=3), plan(real_limit=8)
    names = lambda jobs: {j.shape.name for j in jobs}  # noqa: E731
    assert len(first) == 5 and len(more) == 3 and not names(first) & names(more)
    assert names(first) | names(more) == names(both)
    assert [j.key for j in plan(real_limit=5)] == [j.key for j in first]  # the same command, the same cases
    with pytest.raises(InputError, match="real_skip"):
        plan(real_skip=-1)


@pytest.mark.slow
def test_coarse_naca0012_runs_and_agrees_with_xfoil():
    """Fully turbulent SA on the coarse grid, Re 6e6, alpha 4: converges; CL within 0.03 of XFOIL's, CM near 0
    (symmetric section about the quarter chord), CD above XFOIL's (no laminar run), Cp peak suction on top."""
    settings = RansSettings(reynolds=6e6)
    rans = run_rans(naca("0012"), [4.0], settings, name="NACA 0012")
    p = rans.points[0]
    assert rans.status == "ok" and p.status == "ok" and p.converged, p.log_tail[-500:]
    xf = run_polar(naca("0012"), [4.0], XfoilSettings(reynolds=6e6)).points[0]
    assert xf.converged
    assert abs(p.CL - xf.CL) < 0.03
    assert abs(p.CM) < 0.01
    assert xf.CD < p.CD < 3 * xf.CD
    assert 0.1 < p.y_plus_mean < 20
    cp, x, y = np.array(p.cp), np.array(p.cp_x), np.array(p.cp_y)
    assert len(cp) == 2 * MESH_LEVELS["coarse"].n_surface  # one per surface face (the blunt base is a patch of its own)
    assert y[np.argmin(cp)] > 0 and x[np.argmin(cp)] < 0.05  # suction peak on the upper leading edge
    assert cp.max() == pytest.approx(1.0, abs=0.05)  # stagnation


@pytest.mark.slow
def test_time_limit_kills_the_solver_and_records_timeout():
    p = run_rans_point(naca("2412"), 2.0, RansSettings(reynolds=1e6, timeout_s=3.0, max_iter=20000))
    assert p.status == "timeout" and not p.converged
    assert p.wall_s < 20


@pytest.mark.slow
def test_divergence_is_recorded(monkeypatch):
    """Relaxation factors of 1 without SIMPLEC make simpleFoam blow up; the point says so."""
    import phenograd.simulators.openfoam as of

    real = of.case_files

    def unstable(*a, **k):
        files = real(*a, **k)
        files["system/fvSolution"] = (
            files["system/fvSolution"]
            .replace("consistent yes;", "consistent no;")
            .replace("U 0.9;", "U 1;")
            .replace("equations", "fields { p 1; }\n    equations")
        )
        return files

    monkeypatch.setattr(of, "case_files", unstable)
    p = run_rans_point(naca("2412"), 2.0, RansSettings(reynolds=1e6, timeout_s=120))
    assert p.status.startswith("failed: diverged")
    assert not p.converged


def test_missing_openfoam_is_reported(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SimulatorUnavailable, match="simpleFoam"):
        run_rans_point(naca("0012"), 0.0, RansSettings(reynolds=1e6))


@pytest.mark.slow
def test_bad_settings_are_one_line_cli_errors(cli_env):
    for args, msg in (
        (["--re", "1e3"], "out of range"),
        (["--re", "1e6", "--mesh", "huge"], "invalid choice"),
        (["--re", "1e6", "--max-iter", "5"], "max_iter"),
    ):
        out = subprocess.run(
            [*PHENOGRAD, "simulate", "airfoil", "--naca", "0012", "--alpha", "2", "--solver", "rans", *args],
            capture_output=True,
            text=True,
            env=cli_env,
            timeout=60,
        )
        assert out.returncode == 2, out.stderr
        assert msg in out.stderr and "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def rans_db(tmp_path_factory):
    """Two real RANS cases (real training airfoils mid027 at Re 8.06e6, alpha 5 and Edge_Root at Re 6.24e6, alpha 4;
    both converge on the coarse grid)."""
    path = tmp_path_factory.mktemp("rans") / "rans.db"
    out = subprocess.run(
        [
            *PHENOGRAD,
            "data",
            "airfoil",
            "--solver",
            "rans",
            "--out",
            str(path),
            "--shapes",
            "0",
            "--include-real",
            "train",
            "--real-limit",
            "2",
            "--seed",
            "0",
            "--alpha",
            "-2:8:1",
            "--workers",
            "2",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr
    assert "2 RANS cases planned, 0 already present, 2 written now" in out.stdout
    return path


@pytest.mark.slow
def test_rans_dataset_is_resumable_and_marked(rans_db):
    again = subprocess.run(
        [
            *PHENOGRAD,
            "data",
            "airfoil",
            "--solver",
            "rans",
            "--out",
            str(rans_db),
            "--shapes",
            "0",
            "--include-real",
            "train",
            "--real-limit",
            "2",
            "--seed",
            "0",
            "--alpha",
            "-2:8:1",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0 and "2 already present, 0 written now" in again.stdout
    from phenograd.datasets.polar_store import PolarStore

    with PolarStore.open_readonly(rans_db) as store:
        assert json.loads(store.meta()["solver"]) == {
            "solver": "openfoam-rans",
            "mesh": "coarse",
            "turbulence": "SpalartAllmaras",
        }
        rows = store.conn.execute(
            "SELECT p.ncrit, pt.converged, pt.CL, pt.CD, pt.Top_Xtr FROM points pt JOIN polars p ON p.key = pt.key"
        ).fetchall()
    assert len(rows) == 2 and all(r[0] == 0.0 and r[1] == 1 and r[3] > 0 and r[4] is None for r in rows)
    # cases of another mesh level are refused (one line), the file left as it was
    other = subprocess.run(
        [
            *PHENOGRAD,
            "data",
            "airfoil",
            "--solver",
            "rans",
            "--mesh",
            "medium",
            "--out",
            str(rans_db),
            "--shapes",
            "1",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert other.returncode == 2 and "use a file of its own" in other.stderr


@pytest.mark.slow
def test_fine_tuning_the_shipped_model_on_rans_cases(rans_db, tmp_path):
    """train --init: every member starts from the shipped XFOIL model; it trains on RANS targets that have no
    transition points and its drag moves towards the RANS values."""
    from phenograd.surrogate.airfoil_data import load_airfoil_points
    from phenograd.surrogate.evaluate import predict_airfoil_points
    from phenograd.surrogate.model import load_checkpoint

    shipped = Path(__file__).resolve().parents[1] / "surrogate" / "models" / "airfoil.pt"
    out = tmp_path / "ft.pt"
    r = subprocess.run(
        [
            *PHENOGRAD,
            "train",
            "--domain",
            "airfoil",
            "--data",
            str(rans_db),
            "--out",
            str(out),
            "--init",
            str(shipped),
            "--members",
            "1",
            "--epochs",
            "30",
            "--patience",
            "30",
            "--batch-size",
            "2",
            "--lr",
            "1e-3",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    data = load_airfoil_points(rans_db)
    shapes = np.arange(len(data.graphs))
    before = predict_airfoil_points(load_checkpoint(shipped, "airfoil")[0], data, shapes)[0].mean(0)
    after = predict_airfoil_points(load_checkpoint(out, "airfoil")[0], data, shapes)[0].mean(0)
    # ln CD is where XFOIL (free transition) and fully turbulent RANS differ most: fine-tuning must close that gap
    err = lambda v: float((v[:, 1] - data.targets[:, 1]).abs().mean())  # noqa: E731
    assert np.isfinite(after.numpy()).all()
    assert err(after) < 0.5 * err(before)
    bad = subprocess.run(
        [
            *PHENOGRAD,
            "train",
            "--domain",
            "airfoil",
            "--data",
            str(rans_db),
            "--out",
            str(tmp_path / "x.pt"),
            "--init",
            str(shipped),
            "--encoder",
            str(shipped),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "exclude each other" in bad.stderr
    both = subprocess.run(
        [
            *PHENOGRAD,
            "train",
            "--domain",
            "airfoil",
            "--data",
            str(rans_db),
            "--out",
            str(tmp_path / "y.pt"),
            "--fine-tune",
            str(shipped),
            "--init",
            str(shipped),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert both.returncode == 2 and "--fine-tune is for airfoil models" in both.stderr


@pytest.mark.slow
def test_two_stage_fine_tuning_moves_only_the_biases_first(rans_db, tmp_path):
    """surrogate.fidelity: the untrained Ncrit input is forgotten (Ncrit 0 then predicts as Ncrit 9), stage 1
    changes the output biases and nothing else and closes most of the drag gap, stage 2 writes a model."""
    import torch

    from phenograd.surrogate.airfoil_data import load_airfoil_points
    from phenograd.surrogate.evaluate import predict_airfoil_points
    from phenograd.surrogate.fidelity import forget_ncrit_input
    from phenograd.surrogate.heads import conditions
    from phenograd.surrogate.model import load_checkpoint

    shipped = Path(__file__).resolve().parents[1] / "surrogate" / "models" / "airfoil.pt"
    data = load_airfoil_points(rans_db)
    shapes = np.arange(len(data.graphs))
    alpha, re = data.cond[:, 0] * 10.0, 10.0 ** (data.cond[:, 1] + 6.0)
    at9 = type(data)(**{**data.__dict__, "cond": conditions(alpha, re, torch.full_like(alpha, 9.0))})
    base = load_checkpoint(shipped, "airfoil")[0]
    forgot = forget_ncrit_input(load_checkpoint(shipped, "airfoil")[0])
    assert not torch.allclose(
        predict_airfoil_points(base, data, shapes)[0], predict_airfoil_points(base, at9, shapes)[0]
    )
    assert torch.allclose(predict_airfoil_points(forgot, data, shapes)[0], predict_airfoil_points(base, at9, shapes)[0])

    out = tmp_path / "ft.pt"
    r = subprocess.run(
        [
            *PHENOGRAD,
            "train",
            "--domain",
            "airfoil",
            "--data",
            str(rans_db),
            "--out",
            str(out),
            "--fine-tune",
            str(shipped),
            "--members",
            "1",
            "--epochs",
            "3",
            "--batch-size",
            "2",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0 and "output biases alone: ft.bias.pt" in r.stdout, r.stderr
    stage1 = load_checkpoint(tmp_path / "ft.bias.pt", "airfoil")[0]
    moved = {
        n for n, t in stage1.members[0].state_dict().items() if not torch.equal(t, forgot.members[0].state_dict()[n])
    }
    assert moved == {"head.net.6.bias"}, moved
    err = lambda m: float((predict_airfoil_points(m, data, shapes)[0].mean(0)[:, 1] - data.targets[:, 1]).abs().mean())  # noqa: E731
    assert err(stage1) < 0.5 * err(forgot)
    assert np.isfinite(predict_airfoil_points(load_checkpoint(out, "airfoil")[0], data, shapes)[0].numpy()).all()


def _child_named(parent: int, name: str) -> int | None:
    """pid of a direct child process of `parent` called `name`, read from /proc (no procps needed)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        if comm == name and int(rest[1]) == parent:
            return int(stat.parent.name)
    return None


@pytest.mark.slow
def test_a_solver_killed_from_outside_is_reported_as_killed():
    """kill -9 of simpleFoam mid-run: the point says so (not 'diverged', not a hang); dataset generation does not
    store such a case, so the next run retries it."""
    import threading
    import time

    result = {}
    worker = threading.Thread(
        target=lambda: result.update(
            p=run_rans_point(naca("2412"), 2.0, RansSettings(reynolds=1e6, max_iter=20000, timeout_s=120))
        )
    )
    worker.start()
    pid = None
    for _ in range(200):
        pid = _child_named(os.getpid(), "simpleFoam")
        if pid is not None:
            break
        time.sleep(0.1)
    assert pid is not None, "simpleFoam did not start"
    time.sleep(2.0)
    os.kill(pid, 9)
    worker.join(timeout=60)
    assert not worker.is_alive()
    p = result["p"]
    assert p.status == "failed: killed by signal 9" and not p.converged


@pytest.mark.slow
def test_the_solver_dies_with_its_driver(tmp_path):
    """kill -9 of the Python process running a case (a dataset run stopped from outside): its simpleFoam, which runs
    in a session of its own, must not live on as an orphan until max_iter."""
    import sys
    import time

    code = (
        "from phenograd.datasets.airfoil import naca\n"
        "from phenograd.simulators.openfoam import RansSettings, run_rans_point\n"
        "run_rans_point(naca('2412'), 2.0, RansSettings(reynolds=1e6, max_iter=20000, timeout_s=120, "
        f"keep_dir={str(tmp_path)!r}))\n"
    )
    # the killed driver cannot remove its case (a temporary folder, copied to keep_dir at the end): keep it in tmp_path
    driver = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        pid = None
        for _ in range(300):
            pid = _child_named(driver.pid, "simpleFoam")
            if pid is not None:
                break
            time.sleep(0.1)
        assert pid is not None, "simpleFoam did not start"
        driver.kill()
        driver.wait()
        for _ in range(100):
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError):
                break
            if state == "Z":  # dead, waiting for init to reap it
                break
            time.sleep(0.1)
        else:
            os.kill(pid, 9)
            raise AssertionError("simpleFoam outlived its driver")
    finally:
        if driver.poll() is None:
            driver.kill()


@pytest.mark.slow
def test_rans_cases_run_the_same_on_a_dask_cluster(tmp_path):
    """A real LocalCluster: a RANS dataset case computed by a Dask worker is stored exactly as the local run
    stores it."""
    import sqlite3

    from distributed import LocalCluster

    from phenograd.datasets.airfoil_rans import RansRequest, generate_rans

    request = RansRequest(shapes=0, include_real="train", real_limit=1, seed=0, alphas=[float(a) for a in range(-2, 9)])
    local = generate_rans(tmp_path / "local.db", request, workers=1, progress=False)
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        remote = generate_rans(tmp_path / "dask.db", request, scheduler=cluster.scheduler_address, progress=False)

    def rows(path):
        with sqlite3.connect(path) as conn:
            return conn.execute(
                "SELECT p.key, p.status, pt.alpha, pt.converged, pt.CL, pt.CD, pt.CM FROM polars p "
                "JOIN points pt ON pt.key = p.key"
            ).fetchall()

    assert local.written == remote.written == 1
    assert rows(tmp_path / "local.db") == rows(tmp_path / "dask.db")
    assert rows(tmp_path / "local.db")[0][3] == 1  # converged
