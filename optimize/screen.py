"""Batch screening of catalyst candidates: predict all, rank, verify the best with the simulator.

    from phenograd.optimize.screen import screen
    result = screen("space.toml", "results.db", model="catalyst.pt", top=20, verify=True)
    result.final_top(20)          # candidate indices, best first (verified energies where run)

Steps (see ``optimize/space.py`` for the space file):

1. Enumerate the space: slabs with ``build_slab``, one candidate per (slab,
   symmetry-distinct site of the requested kinds, adsorbate).
2. Predict E_ads and the ensemble's calibrated std (eV) of every candidate with
   :class:`~phenograd.optimize.frames.FrameEvaluator` (exact surrogate outputs,
   batched per frame), score them with the objective and rank them.
3. Write every candidate (initial structure with OC20 tags, composition, site,
   e_pred, std, score, rank) to an ase.db: first to ``OUT.partial``, renamed to
   OUT when complete, so OUT is never half-written.
4. With ``verify``: relax the top K and the ``uncertain`` most uncertain of the
   next ``pool x K`` candidates with the simulator, in parallel (local pool or Dask),
   grouped by slab so each clean slab is relaxed once. Each slab's results are
   committed in one transaction (``e_verified``, ``verify_status``, anomalies);
   a killed run resumes from the file, re-verifying nothing.
5. Re-rank with verified energies where they exist (``final_rank``) and draw a PNG
   (``OUT`` with ``.png``): the ranking, or the volcano.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from phenograd.core.errors import InputError
from phenograd.simulators.adsorption import check_elements

from .fidelity import verifying_calculator
from .frames import FrameEvaluator, element_probs, seen_range
from .objectives import rank
from .screen_residuals import candidate_features, verify_in_rounds
from .space import Enumeration, Space, enumerate_space, load_space

KIND = "phenograd-screen"
FORMAT_VERSION = 1


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run a block with n torch threads (small batched ops contend on a busy machine)."""
    if not n:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def predict_enumeration(
    evaluator: FrameEvaluator, enum: Enumeration, batch_size: int = 256, threads: int | None = 1, max_frames: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted E_ads (C,) and calibrated std (C,) in eV for every candidate.

    With a head that reads only the adsorbate (the shipped models), the clean slabs are encoded once, batch_size
    decorations at a time across the frames of one shape, and every adsorbate and site on them reuses that work
    (``FrameEvaluator.clean_slabs``); candidates are then batched per adsorbate (all sites together: fewer, larger
    calls were faster than one call per site, though each recomputes the union of the sites' neighbourhoods).
    Otherwise they are batched per (frame, adsorbate) and evaluated whole."""
    mean = np.full(len(enum.candidates), np.nan)
    std = np.full(len(enum.candidates), np.nan)
    probs_of_slab: dict[int, torch.Tensor] = {}

    def probs(slab_index: int) -> torch.Tensor:
        if slab_index not in probs_of_slab:
            probs_of_slab[slab_index] = element_probs(enum.slabs[slab_index].get_chemical_symbols())
        return probs_of_slab[slab_index]

    def store(chunk, members) -> None:
        m, s = evaluator.mean_std(members)
        idx = [c.index for c in chunk]
        mean[idx], std[idx] = m.numpy(), s.numpy()

    with torch_threads(threads), torch.inference_mode():
        if not evaluator.shares_slabs:
            groups: dict[tuple[int, str], list] = {}
            for c in enum.candidates:
                groups.setdefault((enum.frame_of_slab[c.slab_index], c.adsorbate), []).append(c)
            for (frame_index, ads), cands in groups.items():
                for start in range(0, len(cands), batch_size):
                    chunk = cands[start : start + batch_size]
                    p = torch.stack([probs(c.slab_index) for c in chunk])
                    pos = np.stack([c.ads_positions for c in chunk])
                    store(chunk, evaluator.predict(enum.frames[frame_index], p, _ads_symbols(ads), pos))
            return mean, std
        # Frames of equal shape (atom count, tags, periodicity: one facet and cell size at several lattice
        # constants) share calls: the per-atom layers run on batch_size decorations of many frames at once.
        by_frame: dict[int, dict[int, list]] = {}
        for c in enum.candidates:
            by_frame.setdefault(enum.frame_of_slab[c.slab_index], {}).setdefault(c.slab_index, []).append(c)
        by_shape: dict[tuple, list[int]] = {}
        for frame_index in sorted(by_frame):
            frame = enum.frames[frame_index]
            by_shape.setdefault((len(frame), tuple(frame.tags), frame.pbc), []).append(frame_index)
        for frame_indices in by_shape.values():
            decorations = [(fi, slab) for fi in frame_indices for slab in by_frame[fi]]
            for chunk_slabs in _chunks(decorations, batch_size, max_frames):
                frames_in_chunk = list(dict.fromkeys(fi for fi, _ in chunk_slabs))
                position = {fi: j for j, fi in enumerate(frames_in_chunk)}
                clean = evaluator.clean_slabs(
                    [enum.frames[fi] for fi in frames_in_chunk],
                    torch.stack([probs(slab) for _, slab in chunk_slabs]),
                    frame_of=torch.tensor([position[fi] for fi, _ in chunk_slabs]),
                )
                decoration_of = {slab: d for d, (_, slab) in enumerate(chunk_slabs)}
                by_adsorbate: dict[str, list] = {}
                for fi, slab in chunk_slabs:
                    for c in by_frame[fi][slab]:
                        by_adsorbate.setdefault(c.adsorbate, []).append(c)
                for ads, cands in by_adsorbate.items():
                    for first in range(0, len(cands), batch_size):
                        chunk = cands[first : first + batch_size]
                        decoration = torch.tensor([decoration_of[c.slab_index] for c in chunk])
                        pos = np.stack([c.ads_positions for c in chunk])
                        store(chunk, evaluator.predict_on(clean, decoration, _ads_symbols(ads), pos))
    return mean, std


def _chunks(decorations: list[tuple[int, int]], size: int, max_frames: int) -> Iterator[list[tuple[int, int]]]:
    """Consecutive runs of (frame, slab) decorations, ordered by frame, of at most size decorations on at most
    max_frames frames (each frame's slab-slab filters, about 6 MB for a 3-member model on 36 atoms, are held
    by the run)."""
    chunk: list[tuple[int, int]] = []
    frames: set[int] = set()
    for fi, slab in decorations:
        if len(chunk) == size or (fi not in frames and len(frames) == max_frames):
            yield chunk
            chunk, frames = [], set()
        chunk.append((fi, slab))
        frames.add(fi)
    if chunk:
        yield chunk


def _ads_symbols(adsorbate: str) -> list[str]:
    from phenograd.datasets.catalyst import ADSORBATES

    return ADSORBATES[adsorbate].get_chemical_symbols()


def select_for_verification(ranks, std, top: int, uncertain: int, pool: int = 5) -> list[int]:
    """Candidates to verify: the `top` best ranked, plus the `uncertain` ones with the largest
    std among the next (pool - 1) x top ranks. Returns indices, best rank first."""
    ranks, std = np.asarray(ranks), np.asarray(std, float)
    order = np.argsort(ranks, kind="stable")
    chosen = list(order[:top])
    extra = order[top : max(top, pool * top)]
    if uncertain > 0 and len(extra):
        by_std = extra[np.argsort(-np.nan_to_num(std[extra], nan=-1.0), kind="stable")][:uncertain]
        chosen += sorted(by_std.tolist(), key=lambda i: ranks[i])
    return [int(i) for i in chosen]


def model_fingerprint(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


@dataclass
class ScreenResult:
    """Outcome of a screen. Arrays are per candidate (C,).

    Args:
        path: the results file.
        e_pred, std: the surrogate's E_ads and its calibrated std (eV).
        score: the objective's score (eV; lower is better); with correct_offset, of the offset-corrected
            predictions.
        rank: 0 = best, by score.
        e_verified: the simulator's E_ads (NaN where not verified).
        verify_status: the simulator's status per candidate.
        selected: the candidates chosen for verification, in order.
        final_score: the verified score where available, else the predicted one.
        flags: warnings (a target outside the model's training range, ...).
        timings: seconds per stage.
        resumed: True when `path` held an earlier run of the same screen.
        verified_now: verifications this call ran.
        offset: with correct_offset, the shift per adsorbate (eV).
        e_dft: with verify_dft, DFT single-point E_ads at the verified geometry (NaN elsewhere).
        dft_status: with verify_dft, the DFT status per candidate (None where not computed).
    """

    path: Path
    e_pred: np.ndarray
    std: np.ndarray
    score: np.ndarray
    rank: np.ndarray
    e_verified: np.ndarray
    verify_status: list
    selected: list
    final_score: np.ndarray
    flags: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    resumed: bool = False
    verified_now: int = 0
    offset: dict = field(default_factory=dict)
    e_dft: np.ndarray | None = None
    dft_status: list | None = None

    def final_top(self, k: int) -> list[int]:
        return [
            int(i)
            for i in np.argsort(np.where(np.isnan(self.final_score), np.inf, self.final_score), kind="stable")[:k]
        ]

    @property
    def n_candidates(self) -> int:
        return len(self.e_pred)


def _check_out(out: Path) -> None:
    if out.suffix != ".db":
        raise InputError(f"{out}: screening results are an ase.db file and must end in .db")
    if out.exists() and not out.is_file():
        raise InputError(f"{out}: exists and is not a file")
    if not out.parent.exists():
        raise InputError(f"{out}: folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise InputError(f"{out}: not writable")


def _read_meta(out: Path) -> dict:
    import sqlite3

    from phenograd.datasets.output_file import check_integrity

    with open(out, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise InputError(f"{out}: exists and is not a screening results file")
    try:
        conn = sqlite3.connect(f"file:{out}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM information WHERE name='metadata'").fetchone()
            if row:
                check_integrity(conn, out, "screening results file")
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        raise InputError(f"{out}: exists and is not a screening results file") from None
    meta = json.loads(row[0]) if row else {}
    if meta.get("kind") != KIND:
        raise InputError(f"{out}: exists and is not a screening results file (kind {meta.get('kind')!r})")
    return meta


def _write_candidates(out: Path, enum: Enumeration, space: Space, e_pred, std, score, ranks, meta: dict) -> None:
    from ase.db import connect

    from phenograd.datasets.catalyst_store import structure_uid
    from phenograd.datasets.output_file import sqlite_writes
    from phenograd.simulators.adsorption import RelaxSettings, calculator_spec, clean_slab_of

    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        partial.unlink()
    db = connect(str(partial), type="db", append=True, use_lock_file=False)
    spec, settings = calculator_spec(meta["calculator"]), RelaxSettings(**meta["relax"])
    slab_uid: dict[int, str] = {}
    with sqlite_writes(partial), db:
        for c in enum.candidates:
            atoms = enum.atoms(c)
            s = enum.specs[c.slab_index]
            if c.slab_index not in slab_uid:
                slab_uid[c.slab_index] = structure_uid(clean_slab_of(atoms), spec, settings, "s")
            kvp = dict(
                kind="candidate",
                idx=c.index,
                uid=structure_uid(atoms, spec, settings, "a"),
                slab_uid=slab_uid[c.slab_index],
                slab_index=c.slab_index,
                facet=f"fcc{s.facet}",
                decoration=s.decoration,
                composition=s.composition.label(),
                seed=s.seed,
                adsorbate=c.adsorbate,
                site=c.site,
                e_pred=float(e_pred[c.index]),
                std=float(std[c.index]),
                score=float(score[c.index]),
                rank=int(ranks[c.index]),
                verified=False,
            )
            db.write(atoms, key_value_pairs=kvp)
    with sqlite_writes(partial):
        db.metadata = meta
    os.replace(partial, out)


def _load_rows(out: Path) -> dict:
    """idx -> (row id, e_pred, std, score, rank, verified, e_verified, status) from a results file."""
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{out}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT id, key_value_pairs FROM systems").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise InputError(
            f"{out}: damaged screening results file ({exc}); restore it or screen into another file"
        ) from None
    out_rows = {}
    for rid, kvp in rows:
        k = json.loads(kvp)
        if k.get("kind") == "candidate":
            out_rows[int(k["idx"])] = (rid, k)
    return out_rows


def screen(
    space,
    out,
    model=None,
    top: int = 20,
    verify: bool = False,
    uncertain: int | None = None,
    pool: int = 5,
    workers: int | None = None,
    scheduler: str | None = None,
    calculator: str | None = None,
    fmax: float = 0.05,
    steps: int = 300,
    batch_size: int = 256,
    threads: int | None = 1,
    plot: bool = True,
    progress: bool = False,
    surrogate=None,
    correct_offset: bool = False,
    residual_rounds: int = 0,
    verify_dft: int = 0,
    dft_settings=None,
) -> ScreenResult:
    """Screen a space into the ase.db `out` (resumable).

    Args:
        space: a space TOML path or a :class:`Space`.
        out: the results file (ase.db); a rerun resumes it.
        model: checkpoint path (default: the shipped catalyst model).
        top: K candidates verified (with verify) and reported.
        verify: relax the selected candidates with the simulator.
        uncertain: extra verifications of the most uncertain among ranks K..pool*K (default K // 4).
        pool: see uncertain.
        workers: local processes for the verification.
        scheduler: the verification runs on this Dask cluster instead (an address or a scheduler file).
        calculator, fmax, steps: the simulator used to verify (default: the one whose labels the model learnt,
            optimize.fidelity) and its relaxation settings.
        batch_size: candidates per surrogate batch.
        threads: torch threads while predicting.
        plot: write the ranking plot beside `out`.
        progress: show progress bars.
        surrogate: an already loaded CatalystSurrogate instead of `model`.
        correct_offset: verify in two rounds. First the top ceil(K/2); then every prediction is
            shifted by the mean verified-minus-predicted residual of its adsorbate (a surrogate is
            often offset on a new space by more than the spread the ranking must resolve), the
            candidates are re-ranked, and the rest of the K (plus the uncertain ones) come from the
            corrected ranking. Unverified candidates keep the corrected score in ``final_score``.
            Deterministic, so a rerun resumes it like a one-round screen.
        residual_rounds: verify the K (plus the uncertain ones, in the last round) in this many rounds. After
            each round a residual model per adsorbate (optimize.screen_residuals: verified minus predicted E_ads,
            linear in the slab's and the site's composition and in the prediction) corrects every prediction
            and the candidates are re-ranked. On CHGNet's O-on-binaries benchmark 5 rounds of 10 verified about
            twice as many candidates within 0.05 or 0.1 eV of a target as the predicted top 50 did (seven targets;
            BENCHMARKS.md, "Catalyst screening (chgnet truth)"). Deterministic and resumable like correct_offset;
            0 or 1 = off.
        verify_dft: after verification, GPAW single points of the best this-many verified candidates at their
            relaxed geometries (optimize.verify_dft; needs `make setup-dft`); 0 = none.
        dft_settings: a simulators.dft.DFTSettings (default: the DFT label set's).
    """
    from phenograd.simulators.adsorption import RelaxSettings, calculator_spec
    from phenograd.surrogate.model import shipped_model_path
    from phenograd.surrogate.predict import load_surrogate

    if top < 1:
        raise InputError(f"top must be at least 1, got {top}", parameter="top")
    if residual_rounds < 0:
        raise InputError(f"residual_rounds must be 0 or more, got {residual_rounds}", parameter="residual_rounds")
    if correct_offset and residual_rounds > 1:
        raise InputError(
            "the offset correction and residual_rounds both correct the surrogate from verified candidates; choose one",
            parameter="residual_rounds",
        )
    if workers is not None and workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}", parameter="workers")
    uncertain = max(0, top // 4) if uncertain is None else uncertain
    out = Path(out)
    _check_out(out)
    space = space if isinstance(space, Space) else load_space(space)
    settings = RelaxSettings(fmax=fmax, steps=steps)
    settings.validate()
    if calculator is not None:
        calculator_spec(calculator)  # a bad name fails before the model is loaded
    if surrogate is None:
        model_path = Path(model) if model is not None else shipped_model_path("catalyst")
        surrogate = load_surrogate(model_path, domain="catalyst")
        model_id = model_fingerprint(model_path)
    else:
        model_id = surrogate.info.get("data_hash", "") or "in-memory"
    if surrogate.info.get("domain") != "catalyst":
        raise InputError("screening needs a catalyst model")
    spec, flags = verifying_calculator(surrogate.info, calculator)
    check_elements(space.metals, spec, "space metals")
    surrogate.check_elements(space.metals, "space metals")
    meta = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "space": space.fingerprint(),
        "space_source": space.source,
        "model": model_id,
        "objective": space.objective.describe(),
        "calculator": spec,
        "relax": settings.as_dict(),
    }
    lo, hi = seen_range(surrogate)
    for ads in space.adsorbates:
        ref = space.objective.reference(ads)
        if not lo <= ref <= hi:
            flags.append(
                f"target {ref:+.2f} eV for {ads} is outside the E_ads range the model was trained on "
                f"({lo:+.2f} to {hi:+.2f} eV); predictions near it are extrapolations"
            )

    timings = {}
    t0 = time.perf_counter()
    enum = enumerate_space(space, spec)
    timings["enumerate_s"] = time.perf_counter() - t0
    resumed = out.exists() and out.stat().st_size > 0
    if resumed:
        old = _read_meta(out)
        for key in ("space", "model", "calculator", "relax"):
            if old.get(key) != meta[key]:
                raise InputError(f"{out}: holds a screen of another {key}; screen into another file or delete it")
        rows = _load_rows(out)
        if len(rows) != len(enum.candidates):
            raise InputError(f"{out}: holds {len(rows)} candidates where the space has {len(enum.candidates)}")
        e_pred = np.array([rows[i][1]["e_pred"] for i in range(len(rows))])
        std = np.array([rows[i][1]["std"] for i in range(len(rows))])
        score = np.array([rows[i][1]["score"] for i in range(len(rows))])
        ranks = np.array([rows[i][1]["rank"] for i in range(len(rows))])
    else:
        evaluator = FrameEvaluator(surrogate)
        t0 = time.perf_counter()
        e_pred, std = predict_enumeration(evaluator, enum, batch_size, threads)
        timings["predict_s"] = time.perf_counter() - t0
        score = scores(space, enum, e_pred)
        ranks = np.array(rank(score))
        t0 = time.perf_counter()
        _write_candidates(out, enum, space, e_pred, std, score, ranks, {**meta, "flags": flags, "timings": timings})
        timings["write_s"] = time.perf_counter() - t0
        rows = _load_rows(out)

    offset: dict[str, float] = {}
    verified_now = 0
    if not verify:
        selected = []
    elif residual_rounds > 1:
        t0 = time.perf_counter()

        def verify_round(indices: list[int]) -> dict[int, float | None]:
            nonlocal rows, verified_now
            verified_now += verify_candidates(out, enum, rows, indices, spec, settings, workers, scheduler, progress)
            rows = _load_rows(out)
            return {i: rows[i][1].get("e_verified") for i in indices}

        def pick(round_scores: np.ndarray, n: int, last: bool) -> list[int]:
            return select_for_verification(np.array(rank(round_scores)), std, n, uncertain if last else 0, pool)

        selected, corrected = verify_in_rounds(
            lambda e: scores(space, enum, e),
            e_pred,
            candidate_features(enum, space.metals),
            np.array([c.adsorbate for c in enum.candidates]),
            top,
            residual_rounds,
            verify_round,
            pick,
        )
        score = scores(space, enum, corrected)
        ranks = np.array(rank(score))
        timings["verify_s"] = time.perf_counter() - t0
    elif not correct_offset:
        selected = select_for_verification(ranks, std, top, uncertain, pool)
    else:
        first = select_for_verification(ranks, std, (top + 1) // 2, 0, pool)
        t0 = time.perf_counter()
        verified_now = verify_candidates(out, enum, rows, first, spec, settings, workers, scheduler, progress)
        rows = _load_rows(out)
        offset = measured_offsets(enum, rows, first)
        score = scores(space, enum, e_pred, offset)
        ranks = np.array(rank(score))
        picking = score.copy()
        picking[first] = -np.inf  # already verified: keep them out of the second round's picks
        done = set(first)
        second = [
            i for i in select_for_verification(np.array(rank(picking)), std, top, uncertain, pool) if i not in done
        ]
        selected = list(first) + second[: top - len(first) + uncertain]
        timings["verify_s"] = time.perf_counter() - t0
    if verify:
        t0 = time.perf_counter()
        verified_now += verify_candidates(out, enum, rows, selected, spec, settings, workers, scheduler, progress)
        timings["verify_s"] = timings.get("verify_s", 0.0) + time.perf_counter() - t0
        rows = _load_rows(out)
    e_ver = np.full(len(enum.candidates), np.nan)
    status = [None] * len(enum.candidates)
    for i, (_, k) in rows.items():
        if k.get("verified"):
            status[i] = k.get("verify_status")
            if k.get("e_verified") is not None:
                e_ver[i] = k["e_verified"]
    final = score.copy()
    for c in enum.candidates:
        if not np.isnan(e_ver[c.index]):
            final[c.index] = space.objective.score(float(e_ver[c.index]), c.adsorbate)
    e_dft, dft_status = None, None
    if verify_dft:
        from phenograd.simulators.dft import DFTSettings

        from .verify_dft import verify_with_dft

        if not verify:
            raise InputError(
                "verify_dft needs verify: DFT runs at the geometries the verification relaxed", parameter="verify_dft"
            )
        t0 = time.perf_counter()
        verify_with_dft(out, enum, rows, final, verify_dft, dft_settings or DFTSettings(), workers, scheduler)
        timings["dft_s"] = time.perf_counter() - t0
        rows = _load_rows(out)
        e_dft = np.array([rows[i][1].get("e_dft", np.nan) for i in range(len(enum.candidates))], float)
        dft_status = [rows[i][1].get("dft_status") for i in range(len(enum.candidates))]
    result = ScreenResult(
        out,
        e_pred,
        std,
        score,
        ranks,
        e_ver,
        status,
        selected,
        final,
        flags,
        timings,
        resumed,
        verified_now,
        offset,
        e_dft,
        dft_status,
    )
    if plot:
        from .plots import plot_screen

        plot_screen(result, space, out.with_suffix(".png"))
    return result


def scores(space: Space, enum: Enumeration, e_pred: np.ndarray, offset: dict | None = None) -> np.ndarray:
    """The objective's score (C,) of every candidate from predicted E_ads (eV), each shifted by its
    adsorbate's offset (eV) where given."""
    offset = offset or {}
    return np.array(
        [
            space.objective.score(float(e_pred[c.index]) + offset.get(c.adsorbate, 0.0), c.adsorbate)
            for c in enum.candidates
        ]
    )


def measured_offsets(enum: Enumeration, rows: dict, verified) -> dict[str, float]:
    """Mean verified-minus-predicted E_ads (eV) per adsorbate over the verified candidates given."""
    residuals: dict[str, list] = {}
    for i in verified:
        k = rows[i][1]
        if k.get("e_verified") is not None:
            residuals.setdefault(enum.candidates[i].adsorbate, []).append(k["e_verified"] - k["e_pred"])
    return {ads: float(np.mean(r)) for ads, r in residuals.items()}


def verify_candidates(
    out: Path,
    enum: Enumeration,
    rows: dict,
    selected,
    spec,
    settings,
    workers=None,
    scheduler=None,
    progress: bool = False,
) -> int:
    """Relax the selected candidates not yet verified (grouped by slab) and commit each slab's
    results in one transaction. Returns how many were verified now."""
    from ase.db import connect

    from phenograd.datasets.catalyst_generate import Placement, SlabTask, run_slab_task
    from phenograd.datasets.output_file import sqlite_writes
    from phenograd.simulators.adsorption import clean_slab_of, gas_references
    from phenograd.simulators.parallel import run_unordered

    todo = [i for i in selected if not rows[i][1].get("verified")]
    if not todo:
        return 0
    refs = gas_references(spec, settings)
    by_slab: dict[int, list] = {}
    for i in todo:
        by_slab.setdefault(enum.candidates[i].slab_index, []).append(i)
    tasks = []
    for n, (_slab_index, idx) in enumerate(sorted(by_slab.items())):
        placements = []
        for i in idx:
            c = enum.candidates[i]
            placements.append(Placement(rows[i][1]["uid"], c.adsorbate, c.site, enum.atoms(c)))
        slab = clean_slab_of(placements[0].atoms)
        tasks.append(SlabTask(n, rows[idx[0]][1]["slab_uid"], slab, {}, placements, spec, settings, refs))
    uid_to_idx = {rows[i][1]["uid"]: i for i in todo}
    db = connect(str(out), type="db", append=True, use_lock_file=False)
    done = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="verification", dynamic_ncols=True)
    try:
        for _, res in run_unordered(run_slab_task, tasks, workers=workers, scheduler=scheduler):
            with sqlite_writes(out), db:
                for placement, r in res.results:
                    i = uid_to_idx[placement.uid]
                    kvp = {"verified": True, "verify_status": r.status}
                    data = None
                    if r.ok:
                        kvp.update(
                            e_verified=float(r.e_ads),
                            anomalies=",".join(r.anomalies) or "none",
                            site_final=r.site_final or "",
                        )
                        # the geometries a DFT single point needs (verify_dft): (N, 3) and (M, 3) Å
                        data = {
                            "relaxed_positions": np.asarray(r.relaxed.positions, float),
                            "clean_positions": np.asarray(res.clean.positions, float),
                        }
                    db.update(rows[i][0], data=data, **kvp)
                    done += 1
            if bar is not None:
                bar.update(len(res.results))
    finally:
        if bar is not None:
            bar.close()
    return done
