"""`phenograd tune`: real Optuna studies over real tiny trainings on a tiny real XFOIL dataset;
shared storage, pruning through the trainer's epoch callback, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import optuna
import pytest
import torch
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState, create_trial

from phenograd.cli import main
from phenograd.datasets.airfoil_generate import AirfoilRequest, generate
from phenograd.surrogate.airfoil_data import load_airfoil_points
from phenograd.surrogate.model import load_checkpoint
from phenograd.surrogate.train_airfoil import AirfoilTask
from phenograd.surrogate.trainer import TrainConfig, train_ensemble
from phenograd.surrogate.tune import tune

PHENOGRAD = [sys.executable, "-m", "phenograd"]
FAST = dict(epochs=2, device="cpu")


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("tune") / "tiny.db"
    generate(
        path,
        AirfoilRequest(shapes=10, alphas=(-2.0, 0.0, 2.0, 4.0), seed=11, reynolds=[1e6]),
        workers=2,
        progress=False,
    )
    return path


def _files(folder):
    return {p.relative_to(folder): (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


@pytest.mark.slow
def test_study_finds_the_best_trial_and_writes_best_json(tiny_db, tmp_path):
    lines = []
    result = tune("airfoil", tiny_db, 3, out_dir=tmp_path / "run", seed=5, log=lines.append, **FAST)
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    assert best == json.loads(json.dumps(result)) and best["storage"] is None
    assert best["trials"] == 3 and best["complete"] == 3 and best["pruned"] == 0 and len(lines) == 3
    # Independent of Optuna's bookkeeping: every trial left a model whose meta holds its loss and config.
    losses = {}
    for n in range(3):
        _, info = load_checkpoint(tmp_path / "run" / f"trial_{n}" / "model.pt", domain="airfoil")
        losses[n] = (info["meta"]["members"][0]["best_val_loss"], info["meta"]["config"])
    n_best = min(losses, key=lambda n: losses[n][0])
    assert best["best_trial"] == n_best and best["best_value"] == pytest.approx(losses[n_best][0])
    assert best["best_model"] == str((tmp_path / "run" / f"trial_{n_best}" / "model.pt").resolve())
    config = losses[n_best][1]
    assert all(config[k] == pytest.approx(v) for k, v in best["best_params"].items())
    assert set(best["best_params"]) == {"lr", "hidden", "layers", "batch_size", "weight_decay"}
    assert len({json.dumps(c, sort_keys=True) for _, c in losses.values()}) == 3  # three different proposals
    assert not list((tmp_path / "run").rglob("*.tmp")) and not list((tmp_path / "run").rglob("*.partial"))
    # Same command, same seed: the same search.
    again = tune("airfoil", tiny_db, 3, out_dir=tmp_path / "again", seed=5, **FAST)
    assert again["best_params"] == best["best_params"] and again["best_value"] == pytest.approx(best["best_value"])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_two_runs_with_the_same_storage_share_one_study(tiny_db, tmp_path, kind):
    storage = f"journal:{tmp_path / 'study.log'}" if kind == "journal" else f"sqlite:///{tmp_path / 'study.db'}"
    first = tune("airfoil", tiny_db, 2, storage=storage, study_name="shared", out_dir=tmp_path / "run", **FAST)
    second = tune("airfoil", tiny_db, 2, storage=storage, study_name="shared", out_dir=tmp_path / "run", **FAST)
    assert first["trials"] == 2 and second["trials"] == 4 and second["trials_this_run"] == 2
    opened = (
        JournalStorage(JournalFileBackend(str(tmp_path / "study.log")))
        if kind == "journal"
        else optuna.storages.RDBStorage(storage)
    )
    study = optuna.load_study(study_name="shared", storage=opened)
    trials = study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3] and all(t.state == TrialState.COMPLETE for t in trials)
    assert second["best_value"] == pytest.approx(min(t.value for t in trials)) == pytest.approx(study.best_value)
    assert second["best_params"] == study.best_params
    # The continued run proposed new settings, not a replay of the first run's.
    assert trials[2].params != trials[0].params and trials[3].params != trials[1].params
    assert all((tmp_path / "run" / f"trial_{n}" / "model.pt").is_file() for n in range(4))
    with pytest.raises(ValueError, match="other settings: epochs 2 .now 3"):
        tune("airfoil", tiny_db, 1, storage=storage, study_name="shared", out_dir=tmp_path / "run", epochs=3)
    assert len(optuna.load_study(study_name="shared", storage=opened).get_trials()) == 4


@pytest.mark.slow
def test_epoch_callback_reports_every_epoch_and_can_stop_training(tiny_db, tmp_path):
    task = AirfoilTask(load_airfoil_points(tiny_db), seed=0)
    cfg = TrainConfig(members=1, epochs=3, patience=10, hidden=16, layers=2, batch_size=4)
    seen = []
    report = train_ensemble(
        task, tmp_path / "full.pt", cfg, progress=False, device="cpu", epoch_callback=lambda e, v: seen.append((e, v))
    )
    assert [e for e, _ in seen] == [1, 2, 3]
    assert min(v for _, v in seen) == pytest.approx(report["members"][0]["best_val_loss"])

    out = tmp_path / "model.pt"
    out.write_bytes(b"a good model from before")

    def prune_at_2(epoch, val_loss):
        if epoch == 2:
            raise optuna.TrialPruned("pruned")

    with pytest.raises(optuna.TrialPruned):
        train_ensemble(task, out, cfg, progress=False, device="cpu", epoch_callback=prune_at_2)
    assert out.read_bytes() == b"a good model from before"  # the good file still stands
    partial = torch.load(out.with_name("model.pt.partial"), weights_only=False)
    assert partial["epoch"] == 2  # a complete, resumable state of the last finished epoch
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.slow
def test_median_pruner_prunes_trials_worse_than_the_study(tiny_db, tmp_path):
    log = tmp_path / "study.log"
    study = optuna.create_study(study_name="p", storage=JournalStorage(JournalFileBackend(str(log))))
    for _ in range(2):  # two finished trials that were perfect at every epoch: every real trial is worse
        study.add_trial(create_trial(value=0.0, intermediate_values={e: 0.0 for e in range(1, 5)}))
    lines = []
    result = tune(
        "airfoil",
        tiny_db,
        2,
        storage=str(log),
        study_name="p",
        out_dir=tmp_path / "run",
        epochs=4,
        warmup=1,
        device="cpu",
        log=lines.append,
    )
    assert result["pruned"] == 2 and result["complete"] == 2 and result["trials"] == 4
    assert result["best_value"] == 0.0 and result["best_model"] is None
    trials = optuna.load_study(study_name="p", storage=JournalStorage(JournalFileBackend(str(log)))).get_trials()
    assert [t.state for t in trials[2:]] == [TrialState.PRUNED] * 2
    assert all(t.last_step == 1 and t.intermediate_values[1] > 0 for t in trials[2:])  # stopped after epoch 1 of 4
    assert all("pruned at epoch 1" in line for line in lines)
    leftovers = [p.name for p in (tmp_path / "run").rglob("*") if p.name not in ("best.json", "study.json")]
    assert leftovers == []  # no model, partial state or temp file of a pruned trial


def assert_one_line_error(capsys, argv, match):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, (code, err)
    assert len(err.splitlines()) == 1 and err.startswith("phenograd: error:") and match in err, err


@pytest.mark.slow
def test_bad_input_gives_one_line_errors_and_writes_nothing(tiny_db, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    garbage = tmp_path / "notes.log"
    garbage.write_text("my notes\nnot a journal\n")
    other = tmp_path / "other"
    other.mkdir()
    (other / "study.json").write_text(json.dumps({"study_name": "x", "storage": None, "domain": "airfoil"}))
    before = _files(tmp_path)
    base = ["tune", "--domain", "airfoil", "--data", str(tiny_db), "--epochs", "1"]
    cases = [
        (["tune", "--domain", "airfoil", "--data", "missing.db", "--trials", "2"], "no such dataset"),
        (base + ["--trials", "0"], "--trials must be at least 1"),
        (base + ["--trials", "1", "--storage", "redis-ish:thing"], "bad --storage"),
        (base + ["--trials", "1", "--storage", "nosuchdb+x://host/db"], "not a database URL"),
        (base + ["--trials", "1", "--storage", "sqlite:///nodir/study.db"], "does not exist"),
        (base + ["--trials", "1", "--storage", f"sqlite:///{tiny_db}"], "that is the dataset file"),
        (base + ["--trials", "1", "--storage", str(garbage)], "not a usable Optuna journal file"),
        (base + ["--trials", "1", "--out", str(other)], "holds another study's trials"),
    ]
    for argv, match in cases:
        assert_one_line_error(capsys, argv, match)
        assert _files(tmp_path) == before, argv  # nothing written, nothing changed
    # The real process, and a dataset of the other domain.
    proc = subprocess.run(
        PHENOGRAD + ["tune", "--domain", "catalyst", "--data", str(tiny_db), "--trials", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    err = proc.stderr.strip()
    assert proc.returncode == 2 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "is an airfoil polar dataset, not a catalyst dataset" in err
    assert _files(tmp_path) == before
