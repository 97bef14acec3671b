"""Faults the other tests do not reach (issue item 4; benchmarks/faults.py runs the long version):
a full disk (a file-size limit) while a dataset or a checkpoint is written, and files damaged
where no query of the command happens to look (an index page), which only SQLite's integrity
check sees. Kills and restarts of every long command are in the domain tests."""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from phenograd.core.errors import InputError
from phenograd.datasets.airfoil_generate import AirfoilRequest, generate

ROOT = Path(__file__).resolve().parents[1]
PHENOGRAD = [sys.executable, "-m", "phenograd"]
REQUEST = ["--alpha", "0,2", "--re", "1e6", "--seed", "5", "--workers", "1", "--no-progress"]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_limited(args, limit: int) -> subprocess.CompletedProcess:
    """The command line with a file-size limit: writes past `limit` bytes fail with EFBIG, as on a full disk."""

    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [*PHENOGRAD, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        preexec_fn=pre,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def one_error_line(r: subprocess.CompletedProcess, name: str) -> str:
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert len(lines) == 1 and lines[0].startswith("phenograd: error:") and name in lines[0], r.stderr
    return lines[0]


def rows(path: Path) -> list:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA quick_check").fetchall() == [("ok",)]
        return conn.execute("SELECT key, alpha, status, CL, CD, CM FROM points ORDER BY key, alpha").fetchall()
    finally:
        conn.close()


def damage_page(path: Path, table_or_index: str) -> None:
    """Overwrite the root page of one index (or table) with garbage, leaving every other page alone."""
    conn = sqlite3.connect(path)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name=?", (table_or_index,)).fetchone()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    data = bytearray(path.read_bytes())
    start = (root - 1) * page_size
    data[start : start + page_size] = bytes((i * 37 + 11) & 0xFF for i in range(page_size))
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def foils(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("faults") / "foils.db"
    generate(path, AirfoilRequest(shapes=2, alphas=(0.0, 2.0), seed=5, reynolds=[1e6]), workers=1, progress=False)
    return path


@pytest.mark.slow
def test_full_disk_while_extending_a_dataset_keeps_every_row(foils, tmp_path):
    path = tmp_path / "foils.db"
    path.write_bytes(foils.read_bytes())
    before = rows(path)
    r = run_limited(["data", "airfoil", "--out", path, "--shapes", 12, *REQUEST], limit=path.stat().st_size)
    assert "cannot write" in one_error_line(r, "foils.db")
    after = rows(path)  # intact; polars committed before the disk filled up are whole
    assert set(before) <= set(after) and len(after) % 2 == 0


@pytest.mark.slow
def test_full_disk_while_training_keeps_the_previous_checkpoint(foils, tmp_path):
    out = tmp_path / "model.pt"
    out.write_bytes(b"the previous model")
    args = [
        "train",
        "--domain",
        "airfoil",
        "--data",
        foils,
        "--out",
        out,
        "--members",
        1,
        "--epochs",
        2,
        "--hidden",
        16,
        "--layers",
        2,
        "--no-progress",
        "--device",
        "cpu",
    ]
    r = run_limited(args, limit=100_000)  # above the reader's 32 KiB WAL index
    assert "cannot write" in one_error_line(r, "model.pt.partial")
    assert out.read_bytes() == b"the previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]  # no half-written temporary file


def test_damaged_index_page_is_refused_before_anything_is_written(foils, tmp_path):
    from phenograd.datasets.polar_store import PolarStore

    path = tmp_path / "foils.db"
    path.write_bytes(foils.read_bytes())
    damage_page(path, "polars_shape")  # an index no read of `data airfoil` touches
    digest = sha(path)
    for open_ in (PolarStore.open, PolarStore.open_readonly):
        with pytest.raises(InputError, match=r"foils.db: .*(damaged|malformed)"):
            open_(path)
    assert sha(path) == digest


def test_damaged_ase_db_is_refused_before_anything_is_written(tmp_path):
    from ase.build import fcc111

    from phenograd.datasets.catalyst_store import CatalystStore

    path = tmp_path / "cat.db"
    store = CatalystStore.open(path)
    for i in range(3):
        store.db.write(fcc111("Pt", (2, 2, 3), vacuum=6.0), key_value_pairs={"kind": "slab", "uid": f"s{i}"})
    conn = sqlite3.connect(path)
    (index,) = conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='keys'").fetchone()
    conn.close()
    damage_page(path, index)
    digest = sha(path)
    for open_ in (CatalystStore.open, CatalystStore.open_readonly):
        with pytest.raises(InputError, match=r"cat.db: damaged ase.db file \(SQLite integrity check"):
            open_(path)
    assert sha(path) == digest


def test_damaged_screening_results_give_one_line(tmp_path, catalyst_model, write_space):
    from phenograd.optimize.screen import screen

    space, out = write_space(), tmp_path / "results.db"
    screen(space, out, model=catalyst_model, top=2, plot=False)
    conn = sqlite3.connect(out)
    (index,) = conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='keys'").fetchone()
    conn.close()
    damage_page(out, index)
    digest = sha(out)
    with pytest.raises(InputError, match=r"results.db: damaged screening results file"):
        screen(space, out, model=catalyst_model, top=2, verify=True, workers=1, plot=False)
    assert sha(out) == digest


def test_bytes_overwritten_inside_a_checkpoint_are_caught(tmp_path):
    """torch.load does not check the CRC-32s of its zip archive: a resumed run would train on."""
    from dataclasses import asdict

    import torch

    from phenograd.core.runs import load_partial
    from phenograd.surrogate.model import read_torch_file
    from phenograd.surrogate.trainer import TrainConfig

    path = tmp_path / "model.pt.partial"
    torch.save({"config": {}, "weights": torch.arange(20000, dtype=torch.float32)}, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # inside the tensor's bytes
    path.write_bytes(bytes(data))
    torch.load(path, weights_only=False)  # (loads without complaint)
    with pytest.raises(InputError, match=r"model.pt.partial: unreadable unfinished run \(checksum mismatch"):
        load_partial(path, asdict(TrainConfig()), "hash")
    with pytest.raises(InputError, match=r"model.pt.partial: not a readable phenograd model .*checksum mismatch"):
        read_torch_file(path, "model")
