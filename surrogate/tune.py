"""Hyperparameter search for a surrogate with Optuna (`phenograd tune`).

Usage::

    phenograd tune --domain airfoil --data polars.db --trials 30 [--storage URL] [--out runs/tune]

or from Python ``tune("airfoil", "polars.db", trials=30, out_dir="runs/tune")``.

Each trial trains a ``members``-member ensemble (default 1) for at most ``epochs`` epochs
with the trial's learning rate, encoder width, message-passing layers, batch size and
AdamW weight decay; its value is the best validation loss (mean over members), which the
study minimises with a seeded TPE sampler. The validation loss of every epoch is reported
to the trial and a MedianPruner stops unpromising trials early. Each trial trains into
``<out>/trial_<number>/model.pt``; a pruned or failed trial leaves no model file. When the
run ends, ``<out>/best.json`` (best value, params and model, trial and pruned counts) is
written atomically. ``trials`` counts the trials this call runs; a study continued from
shared storage keeps the earlier ones.

Storage (``--storage``):

- none: an in-memory study that ends with the command;
- ``sqlite:///study.db`` (or any SQLAlchemy URL, e.g. ``postgresql://user@host/db``):
  Optuna's RDBStorage;
- ``journal:PATH`` or a path ending in ``.log``: Optuna's JournalStorage on a
  JournalFileBackend, an append-only file that also works on NFS.

Several workers, no Dask needed: run the same command on several machines (or several
times on one) with the same --storage and --study-name; they share one study
(``load_if_exists``) and each runs its own ``--trials``. Give each worker its own
``--seed`` so that their first random proposals differ (one worker rerun with the same seed
continues deterministically: the sampler's seed is mixed with the number of trials already
in the study). Use one ``--out`` folder per study.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np

from phenograd.core.atomic import write_text_atomic
from phenograd.core.errors import InputError, one_line

from .domain import get_domain

#: The searched space: name -> ("log", low, high) | ("int", low, high) | ("cat", choices).
SEARCH_SPACE = {
    "lr": ("log", 1e-4, 1e-2),
    "hidden": ("cat", (16, 32, 64)),
    "layers": ("int", 2, 4),
    "batch_size": ("cat", (8, 16, 32)),
    "weight_decay": ("log", 1e-6, 1e-2),
}


def _suggest(trial, space: dict) -> dict:
    params = {}
    for name, spec in space.items():
        if spec[0] == "log":
            params[name] = trial.suggest_float(name, spec[1], spec[2], log=True)
        elif spec[0] == "int":
            params[name] = trial.suggest_int(name, spec[1], spec[2])
        else:
            params[name] = trial.suggest_categorical(name, list(spec[1]))
    return params


def _load_task(domain: str, data, seed: int):
    """The domain's TrainTask on `data` (InputError names a missing, damaged or other-domain file)."""
    return get_domain(domain).task(data, seed)


def _defaults(domain: str, **overrides):
    return get_domain(domain).train_defaults(**overrides)


def _masked(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def _check_sqlite_file(path: Path, text: str, data) -> None:
    """Refuse to put Optuna's tables into an SQLite file that is something else (a dataset, say)."""
    if not path.parent.is_dir():
        raise InputError(f"storage {text}: folder {path.parent} does not exist", parameter="storage")
    if path.is_dir():
        raise InputError(f"storage {text}: {path} is a folder", parameter="storage")
    if data is not None and path.exists() and Path(data).exists() and path.samefile(data):
        raise InputError(f"storage {text}: that is the dataset file; give the study its own file", parameter="storage")
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise InputError(
            f"storage {text}: {path} is not an SQLite file ({one_line(exc)})", parameter="storage"
        ) from None
    if "studies" not in tables:
        raise InputError(
            f"storage {text}: {path} is an SQLite file without an Optuna study; not touching it", parameter="storage"
        )


def storage_target(spec, data=None) -> tuple[str, str, str] | None:
    """Check a --storage value without touching anything: None (in memory) or
    (kind "journal" | "rdb", file path or URL, description without passwords)."""
    if spec is None:
        return None
    text = str(spec).strip()
    if text.startswith("journal:") or (text.endswith(".log") and "://" not in text):
        path = Path(text[len("journal:") :] if text.startswith("journal:") else text)
        if not path.name or path.is_dir():
            raise InputError(
                f"storage {text}: a journal needs a file name, e.g. journal:study.log", parameter="storage"
            )
        if not path.parent.is_dir():
            raise InputError(f"storage {text}: folder {path.parent} does not exist", parameter="storage")
        if data is not None and path.exists() and Path(data).exists() and path.samefile(data):
            raise InputError(
                f"storage {text}: that is the dataset file; give the study its own file", parameter="storage"
            )
        return "journal", str(path), f"journal:{path.resolve()}"
    if "://" in text:
        from sqlalchemy.engine import make_url

        try:
            url = make_url(text)
            url.get_dialect()  # an unknown database kind fails here, before anything is opened
        except Exception as exc:
            raise InputError(
                f"storage {_masked(text)}: not a database URL SQLAlchemy knows ({type(exc).__name__}: {one_line(exc)})",
                parameter="storage",
            ) from None
        if url.get_backend_name() == "sqlite":
            if not url.database or url.database == ":memory:":
                raise InputError(
                    f"storage {text}: names no file; use sqlite:///study.db (or none for memory)", parameter="storage"
                )
            _check_sqlite_file(Path(url.database), text, data)
            return "rdb", text, f"sqlite:///{Path(url.database).resolve()}"
        return "rdb", text, _masked(text)
    raise InputError(
        f"bad storage {text!r}: use sqlite:///FILE.db, a database URL, journal:FILE or FILE.log", parameter="storage"
    )


def open_storage(target):
    """The Optuna storage for storage_target()'s answer (None: in memory)."""
    if target is None:
        return None
    import optuna

    kind, where, desc = target
    if kind == "journal":
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        existed = os.path.exists(where)
        try:
            return JournalStorage(JournalFileBackend(where))
        except Exception as exc:
            if not existed:
                Path(where).unlink(missing_ok=True)
            raise InputError(
                f"storage {desc}: not a usable Optuna journal file ({one_line(exc)})", parameter="storage"
            ) from None
    try:
        return optuna.storages.RDBStorage(where)
    except Exception as exc:
        raise InputError(
            f"storage {desc}: cannot open the study database ({type(exc).__name__}: {one_line(exc)})",
            parameter="storage",
        ) from None


def _write_json_atomic(path: Path, payload: dict) -> None:
    write_text_atomic(path, json.dumps(payload, indent=1) + "\n")


def _check_study_settings(study, settings: dict) -> None:
    """A study continued from storage must be the same search: domain, data, epochs, members."""
    attrs = study.user_attrs
    if not attrs.get("phenograd"):
        study.set_user_attr("phenograd", settings)
        return
    old = attrs["phenograd"]
    diff = [f"{k} {old.get(k)!r} (now {v!r})" for k, v in settings.items() if old.get(k) != v]
    if diff:
        raise InputError(
            f"study {study.study_name!r} in that storage was started with other settings: "
            f"{', '.join(diff)}; use another study_name",
            parameter="study_name",
        )


def _trial_line(study, ft) -> str:
    from optuna.trial import TrialState

    p = ft.params
    desc = ", ".join(f"{k} {p[k]:.2g}" if isinstance(p[k], float) else f"{k} {p[k]}" for k in p)
    if ft.state == TrialState.COMPLETE:
        head = f"trial {ft.number}: val loss {ft.value:.5g}"
    elif ft.state == TrialState.PRUNED:
        last = ft.last_step
        head = f"trial {ft.number}: pruned at epoch {last}" if last is not None else f"trial {ft.number}: pruned"
    else:
        head = f"trial {ft.number}: failed ({ft.user_attrs.get('error', ft.state.name.lower())})"
    try:
        best = f"best {study.best_value:.5g} (trial {study.best_trial.number})"
    except ValueError:
        best = "no finished trial yet"
    return f"{head} [{desc}]; {best}"


def summary(study, out_dir: Path, storage_desc: str | None, run_trials: int) -> dict:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    count = {s: sum(t.state == s for t in trials) for s in TrialState}
    try:
        best = study.best_trial
    except ValueError:
        best = None
    return {
        "study_name": study.study_name,
        "storage": storage_desc,
        "direction": "minimize",
        "objective": "best validation loss (mean over members)",
        "best_value": best.value if best else None,
        "best_params": best.params if best else None,
        "best_trial": best.number if best else None,
        "best_model": best.user_attrs.get("model") if best else None,
        "trials": len(trials),
        "complete": count[TrialState.COMPLETE],
        "pruned": count[TrialState.PRUNED],
        "failed": count[TrialState.FAIL],
        "running": count[TrialState.RUNNING],
        "trials_this_run": run_trials,
        "out_dir": str(out_dir),
    }


def tune(
    domain: str,
    data,
    trials: int,
    storage=None,
    study_name: str | None = None,
    out_dir="runs/tune",
    seed: int = 0,
    epochs: int = 20,
    members: int = 1,
    patience: int | None = None,
    device: str | None = None,
    warmup: int = 3,
    startup_trials: int = 2,
    space: dict | None = None,
    log=None,
) -> dict:
    """Run `trials` Optuna trials (a new or continued study); write <out_dir>/best.json; return its content.

    warmup: epochs before a trial can be pruned; startup_trials: trials never pruned (the
    median needs a few); space: the search space (default SEARCH_SPACE); log: called with
    one line per finished trial. Bad input raises InputError before anything is written.
    """
    import optuna

    get_domain(domain)  # InputError for an unknown one
    for name, value in (("trials", trials), ("epochs", epochs), ("members", members)):
        if not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be at least 1, got {value}", parameter=name)
    if patience is not None and patience < 1:
        raise InputError(f"patience must be at least 1, got {patience}", parameter="patience")
    study_name = f"phenograd-{domain}" if study_name is None else str(study_name)
    if not study_name.strip():
        raise InputError("study_name must not be empty", parameter="study_name")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"out_dir {out_dir}: exists and is not a folder", parameter="out_dir")
    space = dict(SEARCH_SPACE if space is None else space)
    base = _defaults(
        domain, members=members, seed=seed, epochs=epochs, **({"patience": patience} if patience is not None else {})
    )
    unknown = set(space) - set(base.__dict__) - {"members", "epochs", "seed"}
    if unknown or not space:
        raise InputError(f"search space: not TrainConfig fields {sorted(unknown)}" if unknown else "empty search space")
    task = _load_task(domain, data, seed)  # data errors first: nothing is written before this
    target = storage_target(storage, data)
    storage_desc = target[2] if target else None
    marker = out_dir / "study.json"
    identity = {"study_name": study_name, "storage": storage_desc, "domain": domain}
    if marker.exists():
        try:
            old = json.loads(marker.read_text())
        except (OSError, ValueError):
            old = None
        if old != identity:
            raise InputError(
                f"out_dir {out_dir}: holds another study's trials ({marker}); use another out_dir folder",
                parameter="out_dir",
            )
    store = open_storage(target)

    try:
        study = optuna.create_study(
            study_name=study_name,
            storage=store,
            direction="minimize",
            load_if_exists=True,
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup),
        )
    except ValueError as exc:  # an existing study of the other direction, say
        raise InputError(f"study {study_name!r}: {one_line(exc)}") from None
    if study.directions != [optuna.study.StudyDirection.MINIMIZE]:
        raise InputError(
            f"study {study_name!r} in that storage is not a single-objective minimisation; use another study_name",
            parameter="study_name",
        )
    _check_study_settings(study, {"domain": domain, "data_hash": task.data_hash, "epochs": epochs, "members": members})
    # A study continued from storage must not repeat the proposals it already tried: mix the
    # number of existing trials into the sampler's seed (still deterministic for one worker).
    existing = len(study.get_trials(deepcopy=False))
    if existing:
        study.sampler = optuna.samplers.TPESampler(
            seed=int(np.random.SeedSequence([seed, existing]).generate_state(1)[0])
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    if not marker.exists():
        _write_json_atomic(marker, identity)

    from .trainer import train_ensemble

    def objective(trial) -> float:
        params = _suggest(trial, space)
        cfg = replace(base, **params)
        folder = out_dir / f"trial_{trial.number}"
        folder.mkdir(exist_ok=True)
        out = folder / "model.pt"
        partial = out.with_name(out.name + ".partial")
        partial.unlink(missing_ok=True)  # left by a killed run of this trial number: never resumable
        member = {"k": 0, "last": 0}

        def on_epoch(epoch: int, val_loss: float) -> None:
            if epoch <= member["last"]:
                member["k"] += 1
            member["last"] = epoch
            if member["k"] == 0:  # the pruner compares the first member's learning curves
                trial.report(val_loss, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at epoch {epoch} (validation loss {val_loss:.4g})")

        try:
            report = train_ensemble(
                task,
                out,
                cfg,
                progress=False,
                device=device,
                epoch_callback=on_epoch,
                meta={"data_file": str(data), "optuna": {"study": study_name, "trial": trial.number}},
            )
        except optuna.TrialPruned:
            partial.unlink(missing_ok=True)
            _remove_if_empty(folder)
            raise
        except InputError as exc:  # diverged with these settings: a failed trial, the study goes on
            partial.unlink(missing_ok=True)
            _remove_if_empty(folder)
            trial.set_user_attr("error", str(exc))
            return math.nan
        trial.set_user_attr("model", str(out.resolve()))
        return float(np.mean([m["best_val_loss"] for m in report["members"]]))

    callbacks = [lambda st, ft: log(_trial_line(st, ft))] if log is not None else []
    study.optimize(objective, n_trials=trials, callbacks=callbacks, catch=())
    result = summary(study, out_dir, storage_desc, trials)
    _write_json_atomic(out_dir / "best.json", result)
    return result


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
