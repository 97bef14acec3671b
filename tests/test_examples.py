"""The examples run: the demo's catalyst stage (shipped model, real CHGNet) and its bad input; the airfoil
optimization example end to end (shipped model, real XFOIL); catalyst screening (shipped model, real
CHGNet); pretraining then fine-tuning (real EMT labels), and its resume."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_catalyst_stage_writes_a_summary_with_verified_values(tmp_path):
    out = tmp_path / "demo"
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--out", str(out), "--stages", "catalyst"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    summary = (out / "summary.md").read_text()
    assert "## 2. Catalysts" in summary and "E_ads CHGNet (eV)" in summary  # verified at the model's fidelity
    rows = [line for line in summary.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == 5
    verified = [float(r.split("|")[-2]) for r in rows]  # the CHGNet column holds numbers, not "-"
    # CHGNet's O binding spans about +1.4 (Cu) to +2.8 eV (Au) over this space; the target is +2.45 eV.
    assert all(abs(e - 2.45) < 0.6 for e in verified), verified
    assert (out / "screen.png").stat().st_size > 1000 and (out / "screen.db").exists()
    assert not list(out.glob("*.partial"))


def test_demo_rejects_an_unknown_stage_in_one_line(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "demo.py"),
            "--out",
            str(tmp_path / "d"),
            "--stages",
            "airfoil,nonsense",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and run.stderr.strip().count("\n") == 0 and "nonsense" in run.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.slow
def test_optimize_airfoil_example_improves_the_start_in_xfoil(tmp_path):
    import json

    out = tmp_path / "opt"
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "optimize_airfoil.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "optimal"
    # The claim the example prints: the optimized section beats NACA 2412 in XFOIL, not only in the surrogate.
    assert report["verified_objective"] < report["verified_start_objective"]
    for name in ("optimized.dat", "start.dat", "shape.png", "polars.png"):
        assert (out / name).stat().st_size > 100


@pytest.mark.slow
def test_screen_catalysts_example_verifies_candidates_near_its_target(tmp_path):
    from ase.db import connect

    out = tmp_path / "screen"
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "screen_catalysts.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    with connect(out / "results.db") as db:
        verified = [r.e_verified for r in db.select(verified=True)]
    # CHGNet's O binding spans about +1.4 (Cu) to +2.8 eV (Au) over this space: a ranking that ignored the
    # target (+2.45 eV) would put some of the six verified candidates a full eV from it.
    assert len(verified) == 6 and all(abs(e - 2.45) < 0.5 for e in verified), verified
    designs = [line for line in run.stdout.splitlines() if line.strip().startswith("top[")]
    assert len(designs) == 2 and all(abs(float(d.split("verified ")[1].split()[0]) - 2.45) < 1.0 for d in designs)


@pytest.mark.slow
def test_pretrain_finetune_example_runs_and_resumes(tmp_path):
    out = tmp_path / "pre"
    cmd = [
        sys.executable,
        str(ROOT / "examples" / "pretrain_finetune.py"),
        "--out",
        str(out),
        "--unlabelled",
        "120",
        "--labelled",
        "48",
        "--check",
        "24",
        "--pretrain-epochs",
        "1",
        "--epochs",
        "3",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    maes = [float(line.split("MAE ")[1].split()[0]) for line in first.stdout.splitlines() if "MAE" in line]
    assert len(maes) == 2 and all(0.0 < m < 1.0 for m in maes), first.stdout
    for name in ("unlabelled.db", "labelled.db", "check.db", "encoder_denoise.pt", "scratch.pt", "finetuned.pt"):
        assert (out / name).stat().st_size > 1000
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert again.returncode == 0 and "(0 relaxed now, 48 already there" in again.stdout, again.stdout
    # Same models, same fresh structures: the scores repeat exactly.
    assert [float(line.split("MAE ")[1].split()[0]) for line in again.stdout.splitlines() if "MAE" in line] == maes


def test_demo_says_plainly_whether_pretraining_paid():
    import importlib.util

    spec = importlib.util.spec_from_file_location("phenograd_demo", ROOT / "examples" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    lost = demo.pretraining_verdict(0.96)  # scratch CL MAE / pretrained: pretrained 4 % worse
    assert lost.startswith("Here pretraining does not pay (CL MAE 1.04x") and "0.73x" in lost
    paid = demo.pretraining_verdict(1.25)
    assert paid.startswith("Here pretraining pays: CL MAE 0.80x")
